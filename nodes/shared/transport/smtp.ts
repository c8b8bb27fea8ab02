/**
 * SMTP transports from this package's SMTP credential (nodemailer), the allowed-From check, and
 * one way to explain a failure. Imports nothing from n8n.
 */
import { isIP } from 'node:net';

import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import type Mail from 'nodemailer/lib/mailer';

import { parseFrom, type Mailbox } from '../addresses';
import { CrmEmailError, redact } from '../errors';
import { globMatch } from '../glob';
import { classifySmtpAuthError, type TokenSource } from '../oauth2Token';
import type { MailSecurity } from './imap';

export interface SmtpCredentials {
	host: string;
	port: number;
	security: MailSecurity;
	user: string;
	password: string;
	allowSelfSigned: boolean;
	/** Lower-cased addresses or patterns (`*@example.com`) this account may send as. */
	allowedFrom: string[];
	defaultFrom: string;
	/** OAuth2 sign-in (XOAUTH2) instead of the password. */
	oauth?: TokenSource;
}

export function toSmtpCredentials(data: Record<string, unknown>): SmtpCredentials {
	const security = data.security === 'tls' || data.security === 'none' ? data.security : 'starttls';
	return {
		host: String(data.host ?? '').trim(),
		port: Number(data.port) || (security === 'tls' ? 465 : 587),
		security,
		user: String(data.user ?? ''),
		password: String(data.password ?? ''),
		allowSelfSigned: data.allowSelfSigned === true,
		allowedFrom: String(data.allowedFrom ?? '')
			.split(/[,;\s]+/)
			.map((s) => s.trim().toLowerCase())
			.filter(Boolean),
		defaultFrom: String(data.defaultFrom ?? '').trim(),
	};
}

export function smtpOptions(
	creds: SmtpCredentials,
	extra: Partial<SMTPTransport.Options> = {},
): SMTPTransport.Options {
	if (!creds.host) throw new CrmEmailError('CONFIG_INVALID', 'The SMTP credential has no host');
	return {
		host: creds.host,
		port: creds.port,
		secure: creds.security === 'tls',
		requireTLS: creds.security === 'starttls',
		ignoreTLS: creds.security === 'none',
		auth: creds.oauth
			? oauth2Auth(creds.user, creds.oauth)
			: creds.user
				? { user: creds.user, pass: creds.password }
				: undefined,
		tls: {
			rejectUnauthorized: !creds.allowSelfSigned,
			servername: isIP(creds.host) ? undefined : creds.host,
		},
		connectionTimeout: 20_000,
		greetingTimeout: 15_000,
		socketTimeout: 60_000,
		logger: false,
		debug: false,
		...extra,
	};
}

/**
 * nodemailer asks for a token on each new connection and for a renewed one after the server
 * refused it (then signs in once more); both come from the token source, so nodemailer never
 * refreshes by itself (n8n would not store the new token, and a rotated refresh token would be
 * lost).
 */
function oauth2Auth(user: string, oauth: TokenSource): SMTPTransport.Options['auth'] {
	let last = '';
	return {
		type: 'OAuth2',
		user,
		provisionCallback: (_user, renew, callback) => {
			(renew && last ? oauth.refresh(last) : oauth.token()).then(
				(token) => {
					last = token;
					// nodemailer reuses a token until this moment (0: until refused).
					callback(null, token, oauth.renewAt() ?? 0);
				},
				// nodemailer rewrites the code of the error it is given (to EAUTH): hand it a carrier.
				(error: Error) => callback(Object.assign(new Error(error.message), { tokenError: error })),
			);
		},
	};
}

export function createSmtpTransport(
	creds: SmtpCredentials,
	extra: Partial<SMTPTransport.Options> = {},
) {
	return nodemailer.createTransport(smtpOptions(creds, extra));
}

/**
 * One pooled connection (or `maxConnections`) shared by every mail of an execution. With OAuth2,
 * a send whose token was refused in one step (Microsoft 365 answers 535 at once, so nodemailer
 * does not ask for a renewed token itself) is tried once more with a refreshed token: a refused
 * login sent nothing.
 */
export function createSmtpPool(creds: SmtpCredentials, maxConnections = 1) {
	const options: SMTPPool.Options = {
		...(smtpOptions(creds) as SMTPPool.Options),
		pool: true,
		maxConnections,
		maxMessages: Infinity,
	};
	const pool = nodemailer.createTransport(options);
	const oauth = creds.oauth;
	if (!oauth) return pool;
	const send = pool.sendMail.bind(pool) as (
		mail: Mail.Options,
	) => Promise<SMTPPool.SentMessageInfo>;
	pool.sendMail = (async (mail: Mail.Options) => {
		const before = oauth.secrets().length;
		const first = await send(mail).then(
			(info) => ({ info }),
			(error: unknown) => ({ error }),
		);
		if ('info' in first) return first.info;
		// A token handed out during the send means nodemailer already signed in again with it.
		if (classifySmtpAuthError(first.error) !== 'refused' || oauth.secrets().length > before)
			throw describeSmtpError(first.error, creds);
		const handed = oauth.secrets();
		await oauth.refresh(handed[handed.length - 1] ?? '');
		return await send(mail);
	}) as typeof pool.sendMail;
	return pool;
}

/** Whether the credential may send as this (parsed) address. An empty list allows only the default From. */
export function isFromAllowed(creds: SmtpCredentials, address: string): boolean {
	const lower = address.toLowerCase();
	const patterns = creds.allowedFrom.length
		? creds.allowedFrom
		: [
				creds.defaultFrom
					? parseFrom(
							creds.defaultFrom,
							'Default From of the SMTP credential',
						).address.toLowerCase()
					: creds.user.toLowerCase(),
			];
	return patterns.some((p) =>
		p.includes('*') || p.includes('?') ? globMatch(p, lower) : p === lower,
	);
}

export function fromNotAllowed(creds: SmtpCredentials, address: string): CrmEmailError {
	const allowed = creds.allowedFrom.length
		? creds.allowedFrom.join(', ')
		: `only ${creds.defaultFrom || creds.user} (the credential lists no other address)`;
	return new CrmEmailError(
		'FROM_NOT_ALLOWED',
		`The SMTP credential may not send as "${address}": allowed are ${allowed}. Change From, or add the address to "Allowed From Addresses" of the credential`,
		{ from: address },
	);
}

/**
 * The sender: the From parameter, else the credential's Default From, else its user; parsed once,
 * checked against the credential, and handed as is to the header and the envelope.
 */
export function senderOf(creds: SmtpCredentials, fromParameter: string): Mailbox {
	const given = fromParameter.trim();
	const [value, where] = given
		? [given, 'From']
		: creds.defaultFrom
			? [creds.defaultFrom, 'Default From of the SMTP credential']
			: [creds.user, 'User of the SMTP credential (no From, no Default From)'];
	const sender = parseFrom(value, where);
	if (!isFromAllowed(creds, sender.address)) throw fromNotAllowed(creds, sender.address);
	return sender;
}

interface SmtpErrorLike {
	code?: string;
	responseCode?: number;
	response?: string;
	command?: string;
	message?: string;
}

/** Temporary (worth retrying) or permanent, with what the server said. */
export function describeSmtpError(error: unknown, creds: SmtpCredentials): CrmEmailError {
	if (error instanceof CrmEmailError) return error;
	const carried = (error as { tokenError?: unknown } | null)?.tokenError;
	if (carried instanceof CrmEmailError) return carried;
	const e = (error ?? {}) as SmtpErrorLike;
	const where = `${creds.host}:${creds.port}`;
	const secrets = [creds.password, ...(creds.oauth?.secrets() ?? [])];
	const server = e.response ? redact(e.response, secrets) : undefined;
	const plain = redact(String(e.message ?? error), secrets);
	const code = e.code ?? '';
	const details = {
		host: creds.host,
		port: creds.port,
		responseCode: e.responseCode,
		serverResponse: server,
	};
	if (creds.oauth && classifySmtpAuthError(error) === 'refused') {
		return new CrmEmailError(
			'SMTP_AUTH',
			`The SMTP server ${where} refused the OAuth2 access token for user "${creds.user}" (a refreshed one is tried once before this error): check that Email Address in the credential is the mailbox the account signed in for, that SMTP sign-in (SMTP AUTH) is enabled for it, and that the app has the SMTP scope${server ? ` (server said: ${server})` : ''}`,
			details,
		);
	}
	if (code === 'EAUTH' && classifySmtpAuthError(error) === 'temporary') {
		return new CrmEmailError(
			'SMTP_TEMPORARY',
			`The SMTP server ${where} could not check the login for user "${creds.user}" just now: a temporary failure on the server's side${server ? ` (server said: ${server})` : ''}`,
			details,
		);
	}
	if (code === 'EAUTH' || e.responseCode === 535 || e.responseCode === 534) {
		return new CrmEmailError(
			'SMTP_AUTH',
			`The SMTP server ${where} refused the login for user "${creds.user}": check the user and password of the SMTP credential${server ? ` (server said: ${server})` : ''}`,
			details,
		);
	}
	if (code === 'ETLS' || /certificate|wrong version number|ssl/i.test(plain)) {
		return new CrmEmailError(
			'SMTP_TLS',
			`TLS with the SMTP server ${where} failed (${plain}): check the security setting (TLS on 465, STARTTLS on 587) or, for a self-signed certificate, switch on "Allow Self-Signed Certificate"`,
			details,
		);
	}
	if (/ECONNREFUSED/.test(plain) || (code === 'ESOCKET' && /refused/i.test(plain))) {
		return new CrmEmailError(
			'SMTP_CONNECTION_REFUSED',
			`The SMTP server ${where} refused the connection: check the host and port of the SMTP credential, and that the server is running`,
			details,
		);
	}
	if (code === 'EDNS' || /ENOTFOUND|EAI_AGAIN/.test(plain)) {
		return new CrmEmailError(
			'SMTP_HOST_NOT_FOUND',
			`The SMTP host "${creds.host}" could not be resolved`,
			details,
		);
	}
	if (typeof e.responseCode === 'number' && e.responseCode >= 500) {
		return new CrmEmailError(
			'SMTP_REJECTED',
			`The SMTP server ${where} rejected the mail${e.command ? ` at ${e.command.split(' ')[0]}` : ''}: ${server ?? plain}`,
			details,
		);
	}
	if (typeof e.responseCode === 'number' && e.responseCode >= 400) {
		return new CrmEmailError(
			'SMTP_TEMPORARY',
			`The SMTP server ${where} asked to try again later: ${server ?? plain}`,
			details,
		);
	}
	if (code === 'ETIMEDOUT' || /timeout/i.test(plain)) {
		return new CrmEmailError(
			'SMTP_TIMEOUT',
			`The SMTP server ${where} did not answer in time`,
			details,
		);
	}
	if (code === 'ECONNECTION' || code === 'ESOCKET' || /ECONNRESET|EPIPE|closed/i.test(plain)) {
		return new CrmEmailError(
			'SMTP_CONNECTION_LOST',
			`The connection to the SMTP server ${where} was lost (${plain})`,
			details,
		);
	}
	return new CrmEmailError(
		'SMTP_REJECTED',
		`The SMTP server ${where} failed: ${server ?? plain}`,
		details,
	);
}

/** Whether sending again later may succeed (4xx, dropped connection, timeout). */
export function isTemporary(error: CrmEmailError): boolean {
	return (
		error.code === 'SMTP_TEMPORARY' ||
		error.code === 'SMTP_CONNECTION_LOST' ||
		error.code === 'SMTP_TIMEOUT' ||
		error.code === 'SMTP_CONNECTION_REFUSED' ||
		// The token endpoint was down or answered 5xx; a grant that needs a person is not temporary.
		error.code === 'OAUTH_REFRESH_FAILED'
	);
}

export async function testSmtpCredentials(
	creds: SmtpCredentials,
): Promise<{ ok: boolean; message: string; code?: string }> {
	let transport;
	try {
		transport = createSmtpTransport(creds, { connectionTimeout: 10_000, greetingTimeout: 10_000 });
		await transport.verify();
		return {
			ok: true,
			message: `Connected to ${creds.host}:${creds.port}${creds.user ? ' and logged in' : ''}`,
		};
	} catch (error) {
		const described = describeSmtpError(error, creds);
		return { ok: false, message: described.message, code: described.code };
	} finally {
		transport?.close();
	}
}
