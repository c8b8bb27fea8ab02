import type { ICredentialType, INodeProperties } from 'n8n-workflow';

import { allowSelfSignedProperty, securityProperty } from '../nodes/shared/credentialFields';

export class CrmSmtpApi implements ICredentialType {
	name = 'crmSmtpApi';

	displayName = 'CRM Email SMTP API';

	icon = { light: 'file:../icons/mail.svg', dark: 'file:../icons/mail.dark.svg' } as const;

	documentationUrl = 'https://github.com/n8n-nodes-crm-email/n8n-nodes-crm-email#credentials';

	properties: INodeProperties[] = [
		{
			displayName: 'Host',
			name: 'host',
			type: 'string',
			default: '',
			placeholder: 'smtp.example.com',
			required: true,
		},
		securityProperty('starttls'),
		{
			displayName: 'Port',
			name: 'port',
			type: 'number',
			default: 587,
			description: 'Usually 587 for STARTTLS, 465 for TLS, 25 for none',
		},
		{
			displayName: 'User',
			name: 'user',
			type: 'string',
			default: '',
			description: 'Empty: send without logging in (a relay that trusts this machine)',
		},
		{
			displayName: 'Password',
			name: 'password',
			type: 'string',
			typeOptions: { password: true },
			default: '',
		},
		{
			displayName: 'Allowed From Addresses',
			name: 'allowedFrom',
			type: 'string',
			default: '',
			placeholder: 'support@example.com, *@help.example.com',
			description:
				'Addresses this account may send as, separated by commas; * matches anything (e.g. *@example.com). Empty: only the default From.',
		},
		{
			displayName: 'Default From',
			name: 'defaultFrom',
			type: 'string',
			default: '',
			placeholder: 'Example Support <support@example.com>',
			description: 'Used when a node does not set From',
		},
		allowSelfSignedProperty,
	];
}
