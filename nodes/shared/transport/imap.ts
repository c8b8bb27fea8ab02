/**
 * IMAP clients from this package's IMAP credential. Imports nothing from n8n, so the trigger's
 * intake, the filter's IMAP actions and the tests share one way to connect and one way to explain
 * a failure.
 */
import { isIP } from 'node:net';

import { ImapFlow, type ImapFlowOptions } from 'imapflow';

import { CrmEmailError, redact } from '../errors';
import { classifyImapAuthError, type TokenSource } from '../oauth2Token';

export type MailSecurity = 'tls' | 'starttls' | 'none';

export interface ImapCredentials {
	host: string;
	port: number;
	security: MailSecurity;
	user: string;
	password: string;
	/** Accept a self-signed or otherwise unverifiable certificate. Off by default. */
	allowSelfSigned?: boolean;
	/** OAuth2 sign-in (XOAUTH2 / OAUTHBEARER) instead of the password. */
	oauth?: TokenSource;
}

export function imapOptions(
	creds: ImapCredentials,
	extra: Partial<ImapFlowOptions> = {},
	accessToken?: string,
): ImapFlowOptions {
	if (!creds.host) throw new CrmEmailError('CONFIG_INVALID', 'The IMAP credential has no host');
	return {
		host: creds.host,
		port: Number(creds.port) || (creds.security === 'tls' ? 993 : 143),
		secure: creds.security === 'tls',
		// STARTTLS is required when chosen and never attempted with "none" (plain loopback servers).
		doSTARTTLS:
			creds.security === 'starttls' ? true : creds.security === 'none' ? false : undefined,
		auth: accessToken
			? { user: creds.user, accessToken }
			: { user: creds.user, pass: creds.password },
		// SNI takes a host name only (RFC 6066), never an IP address.
		tls: {
			rejectUnauthorized: !creds.allowSelfSigned,
			servername: isIP(creds.host) ? undefined : creds.host,
		},
		logger: false,
		connectionTimeout: 20_000,
		greetingTimeout: 15_000,
		socketTimeout: 5 * 60_000,
		...extra,
	};
}

/** The account name the trigger puts on every item (`user@host`); other nodes match on it. */
export function imapAccount(creds: Pick<ImapCredentials, 'user' | 'host'>): string {
	return `${creds.user}@${creds.host}`;
}

/**
 * A connected client. imapflow also emits 'error' events besides rejecting the command: without a
 * listener they would end the process. A failed connect is closed and thrown described. With
 * OAuth2, the token is refreshed first when it is about to expire, and once more (then one more
 * sign-in) when the server refuses it; a temporary failure on the server's side never refreshes.
 */
export async function openImapSession(
	creds: ImapCredentials,
	extra: Partial<ImapFlowOptions> = {},
	onError: (error: Error) => void = () => undefined,
): Promise<ImapFlow> {
	const attempt = async (
		accessToken?: string,
	): Promise<{ client: ImapFlow } | { error: unknown }> => {
		const client = new ImapFlow(imapOptions(creds, extra, accessToken));
		client.on('error', onError);
		const error = await client.connect().then(
			() => null,
			(e: unknown) => e ?? new Error('connect failed'),
		);
		if (error === null) return { client };
		client.close();
		return { error };
	};
	const oauth = creds.oauth;
	const token = oauth ? await oauth.token().catch(fail(creds)) : undefined;
	let result = await attempt(token);
	if ('error' in result && oauth && token && classifyImapAuthError(result.error) === 'refused') {
		const fresh = await oauth.refresh(token).catch(fail(creds));
		// The same token again (a credential test cannot refresh): signing in again cannot help.
		if (fresh !== token) result = await attempt(fresh);
	}
	if ('error' in result) throw describeImapError(result.error, creds);
	return result.client;
}

/** For `.catch`: the error described, as a rejection. */
function fail(creds: ImapCredentials) {
	return (error: unknown): never => {
		throw describeImapError(error, creds);
	};
}

/** Logs out, or closes the socket when the server cannot be told. */
export async function closeImapSession(client: ImapFlow): Promise<void> {
	await client.logout().catch(() => client.close());
}

/** One session for one piece of work: connect, run, always log out. */
export async function withImapSession<T>(
	creds: ImapCredentials,
	work: (client: ImapFlow) => Promise<T>,
	extra: Partial<ImapFlowOptions> = {},
	onError?: (error: Error) => void,
): Promise<T> {
	const client = await openImapSession(creds, extra, onError);
	try {
		return await work(client);
	} finally {
		await closeImapSession(client);
	}
}

interface ErrorLike {
	code?: string;
	message?: string;
	authenticationFailed?: boolean;
	tlsFailed?: boolean;
	responseText?: string;
	serverResponseCode?: string;
	mailboxMissing?: boolean;
	path?: string;
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|EPROTO/i;

/** Turns any connect/login/command failure into a typed error an admin can act on. */
export function describeImapError(
	error: unknown,
	creds: ImapCredentials,
	folder?: string,
): CrmEmailError {
	if (error instanceof CrmEmailError) return error;
	const e = (error ?? {}) as ErrorLike;
	const where = `${creds.host}:${creds.port}`;
	const secrets = [creds.password, ...(creds.oauth?.secrets() ?? [])];
	const server = e.responseText ? redact(e.responseText, secrets) : undefined;
	const plain = redact(String(e.message ?? error), secrets);
	const code = e.code ?? '';
	// RFC 5530: UNAVAILABLE is the server failing to check a login (its password or token store is
	// down); imapflow flags it as authenticationFailed too, but the credential is not at fault.
	if (e.serverResponseCode === 'UNAVAILABLE') {
		return new CrmEmailError(
			'IMAP_UNAVAILABLE',
			`The IMAP server ${where} could not check the login for user "${creds.user}" just now: a temporary failure on the server's side, not a wrong password${server ? ` (server said: ${server})` : ''}`,
			{ host: creds.host, port: creds.port, user: creds.user, serverResponse: server },
		);
	}
	if ((e.authenticationFailed || e.serverResponseCode === 'AUTHENTICATIONFAILED') && creds.oauth) {
		return new CrmEmailError(
			'IMAP_AUTH',
			`The IMAP server ${where} refused the OAuth2 access token for user "${creds.user}" (a refreshed one is tried once before this error): check that Email Address in the credential is the mailbox the account signed in for, that IMAP is enabled for it, and that the app has the IMAP scope${server ? ` (server said: ${server})` : ''}`,
			{ host: creds.host, port: creds.port, user: creds.user, serverResponse: server },
		);
	}
	if (e.authenticationFailed || e.serverResponseCode === 'AUTHENTICATIONFAILED') {
		return new CrmEmailError(
			'IMAP_AUTH',
			`The IMAP server ${where} refused the login for user "${creds.user}": check the user and password of the IMAP credential${server ? ` (server said: ${server})` : ''}`,
			{ host: creds.host, port: creds.port, user: creds.user, serverResponse: server },
		);
	}
	if (e.tlsFailed || TLS_CODES.test(code) || /certificate|wrong version number|ssl/i.test(plain)) {
		return new CrmEmailError(
			'IMAP_TLS',
			`TLS with the IMAP server ${where} failed (${code || plain}): check the security setting (TLS on 993, STARTTLS on 143) or, for a self-signed certificate, switch on "Allow Self-Signed Certificate"`,
			{ host: creds.host, port: creds.port, tlsCode: code || undefined },
		);
	}
	if (code === 'ECONNREFUSED') {
		return new CrmEmailError(
			'IMAP_CONNECTION_REFUSED',
			`The IMAP server ${where} refused the connection: check the host and port of the IMAP credential, and that the server is running`,
			{ host: creds.host, port: creds.port },
		);
	}
	if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
		return new CrmEmailError(
			'IMAP_HOST_NOT_FOUND',
			`The IMAP host "${creds.host}" could not be resolved`,
			{
				host: creds.host,
			},
		);
	}
	if (/TIMEOUT|ETIMEDOUT/i.test(code)) {
		return new CrmEmailError(
			'IMAP_TIMEOUT',
			`The IMAP server ${where} did not answer in time (${code})`,
			{
				host: creds.host,
				port: creds.port,
			},
		);
	}
	if (e.mailboxMissing || e.serverResponseCode === 'NONEXISTENT') {
		const name = folder ?? e.path ?? '?';
		return new CrmEmailError(
			'IMAP_FOLDER_MISSING',
			`The folder "${name}" does not exist in the mailbox of "${creds.user}" on ${creds.host}${server ? ` (server said: ${server})` : ''}`,
			{ folder: name, host: creds.host, serverResponse: server },
		);
	}
	if (
		code === 'NoConnection' ||
		code === 'EConnectionClosed' ||
		code === 'ECONNRESET' ||
		code === 'EPIPE'
	) {
		return new CrmEmailError(
			'IMAP_CONNECTION_LOST',
			`The connection to the IMAP server ${where} was lost (${code})`,
			{
				host: creds.host,
				port: creds.port,
			},
		);
	}
	return new CrmEmailError(
		'IMAP_COMMAND_FAILED',
		`The IMAP server ${where}${folder ? ` (folder "${folder}")` : ''} answered with an error: ${server ?? plain}`,
		{ host: creds.host, port: creds.port, folder, serverResponse: server },
	);
}

export interface ImapTestResult {
	ok: boolean;
	message: string;
	code?: string;
	folders?: string[];
}

/** The credential test: connect, log in, list folders. */
export async function testImapCredentials(creds: ImapCredentials): Promise<ImapTestResult> {
	try {
		const folders = await withImapSession(
			creds,
			async (client) => (await client.list()).map((f) => f.path),
			{ connectionTimeout: 10_000, greetingTimeout: 10_000 },
		);
		return { ok: true, message: `Connected; ${folders.length} folders`, folders };
	} catch (error) {
		const described = describeImapError(error, creds);
		return { ok: false, message: described.message, code: described.code };
	}
}

/** Reads the stored credential (plain object, as n8n decrypts it) into typed settings. */
export function toImapCredentials(data: Record<string, unknown>): ImapCredentials {
	const security = data.security === 'starttls' || data.security === 'none' ? data.security : 'tls';
	return {
		host: String(data.host ?? '').trim(),
		port: Number(data.port) || (security === 'tls' ? 993 : 143),
		security,
		user: String(data.user ?? ''),
		password: String(data.password ?? ''),
		allowSelfSigned: data.allowSelfSigned === true,
	};
}
