import type { ICredentialType, INodeProperties } from 'n8n-workflow';

import { oauth2MailFields } from '../nodes/shared/oauth2Description';

/**
 * Any mail provider that signs in with OAuth2 (XOAUTH2 / OAUTHBEARER): n8n's OAuth2 fields
 * (authorization and token URL, scopes, ...) plus the IMAP and SMTP servers.
 */
export class CrmOAuth2Api implements ICredentialType {
	name = 'crmOAuth2Api';

	extends = ['oAuth2Api'];

	displayName = 'CRM Email OAuth2 API';

	icon = { light: 'file:../icons/inbox.svg', dark: 'file:../icons/inbox.dark.svg' } as const;

	documentationUrl = 'https://github.com/n8n-nodes-crm-email/n8n-nodes-crm-email#oauth2-sign-in';

	properties: INodeProperties[] = oauth2MailFields({
		imapHost: '',
		smtpHost: '',
		smtpPort: 587,
		smtpSecurity: 'starttls',
	});
}
