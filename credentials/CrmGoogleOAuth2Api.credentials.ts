import type { ICredentialType, INodeProperties } from 'n8n-workflow';

import { oauth2MailFields } from '../nodes/shared/oauth2Description';

/** Gmail / Google Workspace mailbox, signed in with OAuth2 (IMAP and SMTP XOAUTH2). */
export class CrmGoogleOAuth2Api implements ICredentialType {
	name = 'crmGoogleOAuth2Api';

	extends = ['oAuth2Api'];

	displayName = 'CRM Email Google OAuth2 API';

	icon = { light: 'file:../icons/inbox.svg', dark: 'file:../icons/inbox.dark.svg' } as const;

	documentationUrl = 'https://github.com/n8n-nodes-crm-email/n8n-nodes-crm-email#oauth2-sign-in';

	properties: INodeProperties[] = [
		{ displayName: 'Grant Type', name: 'grantType', type: 'hidden', default: 'authorizationCode' },
		{
			displayName: 'Authorization URL',
			name: 'authUrl',
			type: 'hidden',
			default: 'https://accounts.google.com/o/oauth2/v2/auth',
		},
		{
			displayName: 'Access Token URL',
			name: 'accessTokenUrl',
			type: 'hidden',
			default: 'https://oauth2.googleapis.com/token',
		},
		{ displayName: 'Scope', name: 'scope', type: 'hidden', default: 'https://mail.google.com/' },
		{
			// offline + consent: Google gives a refresh token only then.
			displayName: 'Auth URI Query Parameters',
			name: 'authQueryParameters',
			type: 'hidden',
			default: 'access_type=offline&prompt=consent',
		},
		{ displayName: 'Authentication', name: 'authentication', type: 'hidden', default: 'body' },
		...oauth2MailFields({
			imapHost: 'imap.gmail.com',
			smtpHost: 'smtp.gmail.com',
			smtpPort: 465,
			smtpSecurity: 'tls',
		}),
	];
}
