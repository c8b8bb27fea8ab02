import type { ICredentialType, INodeProperties } from 'n8n-workflow';

import { allowSelfSignedProperty, securityProperty } from '../nodes/shared/credentialFields';

export class CrmImapApi implements ICredentialType {
	name = 'crmImapApi';

	displayName = 'CRM Email IMAP API';

	icon = { light: 'file:../icons/inbox.svg', dark: 'file:../icons/inbox.dark.svg' } as const;

	documentationUrl = 'https://github.com/n8n-nodes-crm-email/n8n-nodes-crm-email#credentials';

	properties: INodeProperties[] = [
		{
			displayName: 'Host',
			name: 'host',
			type: 'string',
			default: '',
			placeholder: 'imap.example.com',
			required: true,
		},
		securityProperty('tls'),
		{
			displayName: 'Port',
			name: 'port',
			type: 'number',
			default: 993,
			description: 'Usually 993 for TLS and 143 for STARTTLS or none',
		},
		{ displayName: 'User', name: 'user', type: 'string', default: '', required: true },
		{
			displayName: 'Password',
			name: 'password',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
		},
		allowSelfSignedProperty,
	];
}
