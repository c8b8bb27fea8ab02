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

/** Removes every occurrence of the given secrets from a text (server answers may echo input). */
export function redact(text: string, secrets: Array<string | undefined>): string {
	let out = text;
	for (const secret of secrets) {
		if (secret && secret.length >= 3) out = out.split(secret).join('***');
	}
	return out;
}
