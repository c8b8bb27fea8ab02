/**
 * Typed errors of this package. Cores throw these (plain data, a stable `code`); the n8n glue
 * turns them into NodeOperationError. Messages name what an admin can change and never carry a
 * secret.
 */
export type CrmEmailErrorCode =
	| 'IMAP_CONNECTION_REFUSED'
	| 'IMAP_HOST_NOT_FOUND'
	| 'IMAP_TIMEOUT'
	| 'IMAP_TLS'
	| 'IMAP_AUTH'
	| 'IMAP_UNAVAILABLE'
	| 'IMAP_FOLDER_MISSING'
	| 'IMAP_CONNECTION_LOST'
	| 'IMAP_COMMAND_FAILED'
	| 'SMTP_CONNECTION_REFUSED'
	| 'SMTP_HOST_NOT_FOUND'
	| 'SMTP_TIMEOUT'
	| 'SMTP_TLS'
	| 'SMTP_AUTH'
	| 'SMTP_CONNECTION_LOST'
	| 'SMTP_TEMPORARY'
	| 'SMTP_REJECTED'
	| 'FROM_NOT_ALLOWED'
	| 'OAUTH_RECONNECT'
	| 'OAUTH_REFRESH_FAILED'
	| 'CONFIG_INVALID'
	| 'DELIVERY_FAILED'
	| 'MAIL_PARSE_FAILED'
	| 'STATE_READ_FAILED'
	| 'STATE_WRITE_FAILED';

export class CrmEmailError extends Error {
	constructor(
		readonly code: CrmEmailErrorCode,
		message: string,
		readonly details: Record<string, string | number | boolean | undefined> = {},
	) {
		super(message);
		this.name = 'CrmEmailError';
	}
}

export function isCrmEmailError(error: unknown): error is CrmEmailError {
	return error instanceof CrmEmailError;
}

/**
 * Removes every occurrence of the given secrets from a text (server answers may echo input),
 * in clear and base64-encoded: servers echo `AUTH PLAIN` (`\0user\0password`) and `AUTH LOGIN`
 * payloads. A base64 run that decodes to bytes containing a secret is replaced whole.
 */
export function redact(text: string, secrets: Array<string | undefined>): string {
	const live = secrets.filter((s): s is string => !!s && s.length >= 3);
	if (live.length === 0) return text;
	const needles = live.map((s) => Buffer.from(s));
	// A marker can itself spell a secret with its neighbours (a password of stars and spaces):
	// then another marker, and as a last resort nothing of the text.
	for (const marker of ['***', '[hidden]', '#']) {
		let out = text;
		for (const secret of live) out = out.split(secret).join(marker);
		out = out.replace(BASE64_RUN, (run) => (hidesSecret(run, needles) ? marker : run));
		if (!live.some((s) => out.includes(s))) return out;
	}
	return '[a server answer that contained a secret]';
}

const BASE64_RUN = /[A-Za-z0-9+/_-]{4,}={0,2}/g;

function hidesSecret(run: string, needles: Buffer[]): boolean {
	// A run glued to other text may start mid-quantum: try each of the four alignments.
	for (let skip = 0; skip < 4 && run.length - skip >= 4; skip++) {
		const bytes = Buffer.from(run.slice(skip), 'base64');
		if (needles.some((n) => bytes.includes(n))) return true;
	}
	return false;
}
