import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * The PostgreSQL database where the Case Router, Parent Linker and Template Sender keep their
 * state when their State Store is PostgreSQL: shared by every n8n process (queue mode's workers).
 * n8n's own database will do, with a schema or table prefix of this package's own.
 */
export class CrmEmailPostgresApi implements ICredentialType {
	name = 'crmEmailPostgresApi';

	displayName = 'CRM Email PostgreSQL State API';

	icon = { light: 'file:../icons/mail.svg', dark: 'file:../icons/mail.dark.svg' } as const;

	documentationUrl = 'https://github.com/n8n-nodes-crm-email/n8n-nodes-crm-email#state-stores';

	properties: INodeProperties[] = [
		{
			displayName: 'Host',
			name: 'host',
			type: 'string',
			default: 'localhost',
			required: true,
		},
		{
			displayName: 'Port',
			name: 'port',
			type: 'number',
			default: 5432,
		},
		{
			displayName: 'Database',
			name: 'database',
			type: 'string',
			default: 'n8n',
			required: true,
		},
		{
			displayName: 'User',
			name: 'user',
			type: 'string',
			default: '',
			required: true,
		},
		{
			displayName: 'Password',
			name: 'password',
			type: 'string',
			typeOptions: { password: true },
			default: '',
		},
		{
			displayName: 'SSL',
			name: 'ssl',
			type: 'options',
			default: 'disable',
			options: [
				{ name: 'Disable', value: 'disable' },
				{ name: 'Require (Certificate Not Checked)', value: 'require' },
				{ name: 'Verify Certificate', value: 'verify' },
			],
		},
		{
			displayName: 'Schema',
			name: 'schema',
			type: 'string',
			default: 'crm_email',
			description:
				"Schema of the state tables, created on first use when missing (the user needs the right to create it, or create it beforehand). Keeps them apart from n8n's own tables in the same database.",
		},
		{
			displayName: 'Table Prefix',
			name: 'tablePrefix',
			type: 'string',
			default: '',
			placeholder: 'crm_email_',
			description:
				"Put before each state table's name, e.g. when the user may only create tables in the public schema",
		},
	];
}
