/**
 * OAuth2 sign-in in node descriptions and credentials: the Authentication parameter every node
 * that opens a mailbox offers (as n8n's own nodes do: it chooses the credential; each node lists
 * the credentials literally, for n8n's lint), and the mailbox fields of this package's OAuth2
 * credentials.
 */
import type { INodeProperties } from 'n8n-workflow';

import { allowSelfSignedProperty, securityProperty } from './credentialFields';

export type MailAuthentication = 'password' | 'microsoftOAuth2' | 'googleOAuth2' | 'oAuth2';

/** Default `password`: workflows saved before OAuth2 existed keep their password credentials. */
export const authenticationProperty: INodeProperties = {
	displayName: 'Authentication',
	name: 'authentication',
	type: 'options',
	noDataExpression: true,
	default: 'password',
	options: [
		{ name: 'Google (OAuth2)', value: 'googleOAuth2' },
		{ name: 'Microsoft 365 (OAuth2)', value: 'microsoftOAuth2' },
		{ name: 'OAuth2 (Any Provider)', value: 'oAuth2' },
		{ name: 'Password', value: 'password' },
	],
	description:
		'How the node signs in to the mailbox: a user and password, or an OAuth2 account (its credential holds both the IMAP and the SMTP server)',
};

export interface MailServerDefaults {
	imapHost: string;
	smtpHost: string;
	smtpPort: number;
	smtpSecurity: 'tls' | 'starttls';
}

/** The mailbox part of an OAuth2 credential: one account, its IMAP and SMTP servers. */
export function oauth2MailFields(d: MailServerDefaults): INodeProperties[] {
	const imapSecurity = securityProperty('tls');
	const smtpSecurity = securityProperty('starttls');
	const defaults: Record<string, string | number> = { ...d };
	const fields: INodeProperties[] = [
		{
			displayName: 'Email Address',
			name: 'user',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'support@example.com',
			description:
				'The mailbox the nodes sign in to (IMAP and SMTP): the account you sign in with when connecting',
		},
		{
			displayName: 'IMAP Host',
			name: 'imapHost',
			type: 'string',
			default: '',
			placeholder: 'imap.example.com',
		},
		{ ...imapSecurity, displayName: 'IMAP Security', name: 'imapSecurity', default: 'tls' },
		{ displayName: 'IMAP Port', name: 'imapPort', type: 'number', default: 993 },
		{
			displayName: 'SMTP Host',
			name: 'smtpHost',
			type: 'string',
			default: '',
			placeholder: 'smtp.example.com',
		},
		{
			...smtpSecurity,
			displayName: 'SMTP Security',
			name: 'smtpSecurity',
			default: 'starttls',
		},
		{ displayName: 'SMTP Port', name: 'smtpPort', type: 'number', default: 587 },
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
			description: 'Used when a node does not set From. Empty: the email address above.',
		},
		allowSelfSignedProperty,
	];
	// The provider's servers as defaults (literal defaults above: n8n's lint reads them).
	return fields.map((f) => (f.name in defaults ? { ...f, default: defaults[f.name] } : f));
}

/**
 * The OAuth2 credentials of a node that signs in only through its Authentication choice, one
 * entry each: n8n's lint reads `credentials` literally and accepts an object spread, not an array.
 */
const oauth2Credential = (name: string, authentication: MailAuthentication) => ({
	name,
	required: true,
	testedBy: 'crmOAuth2ConnectionTest',
	displayOptions: { show: { authentication: [authentication] } },
});
export const microsoftOAuth2Credential = oauth2Credential(
	'crmMicrosoftOAuth2Api',
	'microsoftOAuth2',
);
export const googleOAuth2Credential = oauth2Credential('crmGoogleOAuth2Api', 'googleOAuth2');
export const genericOAuth2Credential = oauth2Credential('crmOAuth2Api', 'oAuth2');
