/**
 * n8n glue of the mailbox sign-in: reads the credential the node's Authentication parameter
 * chooses, a password credential or an OAuth2 one, into the transports' IMAP and SMTP settings.
 * With OAuth2 the settings carry a token keeper that reads the stored token anew on every
 * sign-in and refreshes it through n8n (`helpers.refreshOAuth2Token`), which saves the new token
 * and serialises refreshes of one credential across executions and instances.
 */
import type {
	ICredentialDataDecryptedObject,
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	IExecuteFunctions,
	ILoadOptionsFunctions,
	INodeCredentialTestResult,
	ITriggerFunctions,
} from 'n8n-workflow';

import { CrmEmailError } from './errors';
import { toNodeError } from './itemErrors';
import type { MailAuthentication } from './oauth2Description';
import {
	accessTokenOf,
	tokenNeedsRefresh,
	TokenKeeper,
	type OAuth2TokenData,
	type TokenSource,
} from './oauth2Token';
import { testImapCredentials, toImapCredentials, type ImapCredentials } from './transport/imap';
import { testSmtpCredentials, toSmtpCredentials, type SmtpCredentials } from './transport/smtp';

type MailContext = IExecuteFunctions | ITriggerFunctions | ILoadOptionsFunctions;

/** n8n refreshes 60 s ahead; a trigger's IDLE session lives longer, so take 5 min. */
const MARGIN_MS = 5 * 60_000;

function authenticationOf(ctx: MailContext): MailAuthentication {
	// Execute contexts take an item index; trigger and load-options contexts do not.
	const read = ctx.getNodeParameter as ((...args: unknown[]) => unknown) | undefined;
	// A context without parameters (a credential's folder list) signs in as before: password.
	if (typeof read !== 'function') return 'password';
	const value =
		'getInputData' in ctx
			? read.call(ctx, 'authentication', 0, 'password')
			: read.call(ctx, 'authentication', 'password');
	return value === 'microsoftOAuth2' || value === 'googleOAuth2' || value === 'oAuth2'
		? value
		: 'password';
}

/** The credential type each OAuth2 choice reads. */
function oauth2CredentialType(authentication: Exclude<MailAuthentication, 'password'>): string {
	switch (authentication) {
		case 'microsoftOAuth2':
			return 'crmMicrosoftOAuth2Api';
		case 'googleOAuth2':
			return 'crmGoogleOAuth2Api';
		default:
			return 'crmOAuth2Api';
	}
}

function credentialName(ctx: MailContext, type: string): string {
	return ctx.getNode().credentials?.[type]?.name ?? type;
}

/**
 * n8n's refresh failures as errors an admin can act on. A revoked or expired grant (n8n marks it
 * `credential-invalid`), a missing refresh token or a credential never connected: reconnect it.
 * Anything else (the token endpoint down, a 5xx): may pass, and is retried at the next sign-in.
 */
export function refreshFailure(error: unknown, name: string): CrmEmailError {
	const e = (error ?? {}) as { message?: string; failure?: { cause?: string } };
	const message = String(e.message ?? error);
	if (
		e.failure?.cause === 'credential-invalid' ||
		/reconnect|not connected|invalid_grant/i.test(message)
	) {
		return new CrmEmailError(
			'OAUTH_RECONNECT',
			`The OAuth2 credential "${name}" needs to be reconnected: its access could not be refreshed (${message}). The account may have revoked access, the refresh token expired, or the password or permissions changed. Open the credential and sign in again.`,
			{ credential: name },
		);
	}
	return new CrmEmailError(
		'OAUTH_REFRESH_FAILED',
		`Refreshing the access token of the OAuth2 credential "${name}" failed: ${message}`,
		{ credential: name },
	);
}

function tokenSource(ctx: MailContext, type: string): TokenSource {
	const name = credentialName(ctx, type);
	return new TokenKeeper({
		read: async () => (await ctx.getCredentials(type)).oauthTokenData as OAuth2TokenData,
		refresh: async () => {
			try {
				return (await ctx.helpers.refreshOAuth2Token.call(ctx, type)) as OAuth2TokenData;
			} catch (error) {
				throw refreshFailure(error, name);
			}
		},
		marginMs: MARGIN_MS,
	});
}

/**
 * In an execution, the token is made fresh before the first item: a grant that must be
 * reconnected fails the execution (naming the credential, for the error workflow) instead of
 * every item. A trigger finds out at its sign-in and keeps retrying.
 */
async function primed(ctx: MailContext, oauth: TokenSource): Promise<TokenSource> {
	if (!('getInputData' in ctx)) return oauth;
	try {
		await oauth.token();
	} catch (error) {
		throw toNodeError(ctx, error);
	}
	return oauth;
}

/** The IMAP settings of an OAuth2 credential (its `imap*` fields). */
export function oauth2ImapCredentials(
	data: ICredentialDataDecryptedObject,
	oauth?: TokenSource,
): ImapCredentials {
	return {
		...toImapCredentials({
			host: data.imapHost,
			port: data.imapPort,
			security: data.imapSecurity,
			user: data.user,
			allowSelfSigned: data.allowSelfSigned,
		}),
		oauth,
	};
}

/** The SMTP settings of an OAuth2 credential (its `smtp*` fields). */
export function oauth2SmtpCredentials(
	data: ICredentialDataDecryptedObject,
	oauth?: TokenSource,
): SmtpCredentials {
	return {
		...toSmtpCredentials({
			host: data.smtpHost,
			port: data.smtpPort,
			security: data.smtpSecurity,
			user: data.user,
			allowSelfSigned: data.allowSelfSigned,
			allowedFrom: data.allowedFrom,
			defaultFrom: data.defaultFrom,
		}),
		oauth,
	};
}

/** The mailbox (IMAP) the node signs in to: `crmImapApi`, or the chosen OAuth2 credential. */
export async function readImapCredentials(ctx: MailContext): Promise<ImapCredentials> {
	const authentication = authenticationOf(ctx);
	if (authentication === 'password')
		return toImapCredentials(await ctx.getCredentials('crmImapApi'));
	const type = oauth2CredentialType(authentication);
	const oauth = await primed(ctx, tokenSource(ctx, type));
	return oauth2ImapCredentials(await ctx.getCredentials(type), oauth);
}

/** The SMTP account the node sends with: `crmSmtpApi`, or the chosen OAuth2 credential. */
export async function readSmtpCredentials(ctx: MailContext): Promise<SmtpCredentials> {
	const authentication = authenticationOf(ctx);
	if (authentication === 'password')
		return toSmtpCredentials(await ctx.getCredentials('crmSmtpApi'));
	const type = oauth2CredentialType(authentication);
	const oauth = await primed(ctx, tokenSource(ctx, type));
	return oauth2SmtpCredentials(await ctx.getCredentials(type), oauth);
}

/**
 * The OAuth2 credentials' test: signs in to IMAP and SMTP with the stored access token. It cannot
 * refresh (n8n gives a credential test no way to save a new token, and a provider that rotates
 * refresh tokens would invalidate the stored one), so an expired token is reported as such.
 */
export async function crmOAuth2ConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const data = credential.data ?? {};
	const tokenData = data.oauthTokenData as OAuth2TokenData | undefined;
	const token = accessTokenOf(tokenData);
	if (!token)
		return {
			status: 'Error',
			message: 'Not connected yet: sign in with the button in the credential first',
		};
	if (tokenNeedsRefresh(tokenData, Date.now(), 0) === 'refresh') {
		return {
			status: 'OK',
			message:
				'Connected; the stored access token has expired and is refreshed when a node signs in (a credential test cannot save a new one)',
		};
	}
	const oauth: TokenSource = {
		token: async () => token,
		refresh: async () => token,
		renewAt: () => null,
		secrets: () => [token],
	};
	const imap = data.imapHost
		? await testImapCredentials(oauth2ImapCredentials(data, oauth))
		: { ok: true, message: 'no IMAP host' };
	if (!imap.ok) return { status: 'Error', message: imap.message };
	const smtp = data.smtpHost
		? await testSmtpCredentials(oauth2SmtpCredentials(data, oauth))
		: { ok: true, message: 'no SMTP host' };
	if (!smtp.ok) return { status: 'Error', message: smtp.message };
	return { status: 'OK', message: `IMAP: ${imap.message}. SMTP: ${smtp.message}` };
}
