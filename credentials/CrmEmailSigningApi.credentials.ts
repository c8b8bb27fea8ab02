import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * The key that signs thread Message-IDs and unsubscribe links (Template Sender) and verifies them
 * (Parent Linker, Case Router). Optional: without it n8n's own encryption key signs.
 */
export class CrmEmailSigningApi implements ICredentialType {
	name = 'crmEmailSigningApi';

	displayName = 'CRM Email Signing API';

	icon = { light: 'file:../icons/mail.svg', dark: 'file:../icons/mail.dark.svg' } as const;

	documentationUrl = 'https://github.com/n8n-nodes-crm-email/n8n-nodes-crm-email#credentials';

	properties: INodeProperties[] = [
		{
			displayName:
				"Only needed when several n8n installations handle the same mailbox: give each the same secret. Without this credential, n8n's own encryption key signs, which every process of one installation shares.",
			name: 'notice',
			type: 'notice',
			default: '',
		},
		{
			displayName: 'Secret',
			name: 'secret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			placeholder: 'at least 16 random characters',
			description:
				'Key of the signature on the thread Message-IDs and unsubscribe links this package generates. Changing it makes replies to earlier mails unrecognised.',
		},
	];
}
