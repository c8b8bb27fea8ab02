import type { ICredentialType, INodeProperties } from 'n8n-workflow';

import { oauth2MailFields } from '../nodes/shared/oauth2Description';

/** Microsoft 365 / Exchange Online mailbox, signed in with OAuth2 (IMAP and SMTP XOAUTH2). */
export class CrmMicrosoftOAuth2Api implements ICredentialType {
	name = 'crmMicrosoftOAuth2Api';

	extends = ['oAuth2Api'];

	displayName = 'CRM Email Microsoft 365 OAuth2 API';

	icon = { light: 'file:../icons/inbox.svg', dark: 'file:../icons/inbox.dark.svg' } as const;

	documentationUrl = 'https://github.com/n8n-nodes-crm-email/n8n-nodes-crm-email#oauth2-sign-in';

	properties: INodeProperties[] = [
		{ displayName: 'Grant Type', name: 'grantType', type: 'hidden', default: 'authorizationCode' },
		{
			displayName: 'Tenant',
			name: 'tenant',
			type: 'string',
			default: 'organizations',
			required: true,
			description:
				'Directory (tenant) ID or domain of the organisation, e.g. contoso.onmicrosoft.com; "organizations" accepts any work account',
		},
		{
			displayName: 'Authorization URL',
			name: 'authUrl',
			type: 'hidden',
			default: '=https://login.microsoftonline.com/{{$self["tenant"]}}/oauth2/v2.0/authorize',
		},
		{
			displayName: 'Access Token URL',
			name: 'accessTokenUrl',
			type: 'hidden',
			default: '=https://login.microsoftonline.com/{{$self["tenant"]}}/oauth2/v2.0/token',
		},
		{
			displayName: 'Scope',
			name: 'scope',
			type: 'hidden',
			default:
				'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access',
		},
		{
			displayName: 'Auth URI Query Parameters',
			name: 'authQueryParameters',
			type: 'hidden',
			default: 'response_mode=query&prompt=select_account',
		},
		{ displayName: 'Authentication', name: 'authentication', type: 'hidden', default: 'body' },
		...oauth2MailFields({
			imapHost: 'outlook.office365.com',
			smtpHost: 'smtp.office365.com',
			smtpPort: 587,
			smtpSecurity: 'starttls',
		}),
	];
}
