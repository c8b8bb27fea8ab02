/**
 * Delivery of composed mails: built once into raw MIME (so the copy in the Sent folder is the very
 * mail that was sent), sent over one pooled SMTP connection per execution, temporary failures
 * (4xx, dropped connection, timeout) retried with backoff, permanent ones (5xx) reported with the
 * server's answer. No n8n imports.
 */
import type { ImapFlow } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer';
import type Mail from 'nodemailer/lib/mailer';

import { CrmEmailError } from '../shared/errors';
import {
	closeImapSession,
	describeImapError,
	openImapSession,
	type ImapCredentials,
} from '../shared/transport/imap';
import {
	createSmtpPool,
	describeSmtpError,
	isTemporary,
	type SmtpCredentials,
} from '../shared/transport/smtp';
import type { MailToSend } from './core/plan';

export interface OutgoingMail extends MailToSend {
	attachments: Array<{ filename: string; contentType: string; content: Buffer }>;
}

export async function buildRaw(mail: OutgoingMail, date = new Date()): Promise<Buffer> {
	const options: Mail.Options = {
		from: mail.from,
		to: mail.to,
		cc: mail.cc.length ? mail.cc : undefined,
		subject: mail.subject,
		html: mail.html || undefined,
		text: mail.text || undefined,
		messageId: mail.messageId,
		inReplyTo: mail.inReplyTo ?? undefined,
		references: mail.references.length ? mail.references : undefined,
		date,
		headers: { ...mail.headers },
		attachments: mail.attachments.map((a) => ({
			filename: a.filename,
			contentType: a.contentType,
			content: a.content,
		})),
	};
	if (mail.listUnsubscribe) {
		// MailComposer has no `list` option (that is nodemailer's Mailer): set the headers directly.
		const headers = options.headers as Record<string, string>;
		headers['List-Unsubscribe'] = `<${mail.listUnsubscribe.url}>`;
		if (mail.listUnsubscribe.oneClick)
			headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
	}
	return await new Promise<Buffer>((resolve, reject) =>
		new MailComposer(options)
			.compile()
			.build((error, raw) => (error ? reject(error) : resolve(raw))),
	);
}

export interface DeliveryOptions {
	/** Attempts after the first, for temporary failures. */
	retries: number;
	retryDelayMs: number;
	sleep?: (ms: number) => Promise<void>;
}

export interface Delivered {
	response: string;
	accepted: string[];
	rejected: string[];
	attempts: number;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Delivery {
	private readonly pool;
	private imap: ImapFlow | null = null;

	constructor(
		private readonly creds: SmtpCredentials,
		private readonly o: DeliveryOptions,
	) {
		this.pool = createSmtpPool(creds);
	}

	async send(raw: Buffer, envelope: { from: string; to: string[] }): Promise<Delivered> {
		const sleep = this.o.sleep ?? wait;
		let last: CrmEmailError | null = null;
		for (let attempt = 0; attempt <= this.o.retries; attempt++) {
			if (attempt > 0) await sleep(this.o.retryDelayMs * 2 ** (attempt - 1));
			try {
				const info = await this.pool.sendMail({ envelope, raw });
				return {
					response: info.response,
					accepted: (info.accepted as Array<string | { address: string }>).map((a) =>
						typeof a === 'string' ? a : a.address,
					),
					rejected: (info.rejected as Array<string | { address: string }>).map((a) =>
						typeof a === 'string' ? a : a.address,
					),
					attempts: attempt + 1,
				};
			} catch (error) {
				last = describeSmtpError(error, this.creds);
				if (!isTemporary(last)) break;
			}
		}
		throw last as CrmEmailError;
	}

	private appends: Promise<unknown> = Promise.resolve();

	/**
	 * Appends a sent mail to the IMAP Sent folder: one connection, opened on first use; appends
	 * run one after another, in the order asked.
	 */
	async appendToSent(imapCreds: ImapCredentials, folder: string, raw: Buffer): Promise<void> {
		const next = this.appends.then(() => this.append(imapCreds, folder, raw));
		this.appends = next.catch(() => undefined);
		return await next;
	}

	private async append(imapCreds: ImapCredentials, folder: string, raw: Buffer): Promise<void> {
		try {
			this.imap ??= await openImapSession(imapCreds);
			await this.imap.append(folder, raw, ['\\Seen']);
		} catch (error) {
			const described = describeImapError(error, imapCreds, folder);
			await this.closeImap();
			throw described;
		}
	}

	private async closeImap(): Promise<void> {
		const imap = this.imap;
		this.imap = null;
		if (imap) await closeImapSession(imap);
	}

	async close(): Promise<void> {
		this.pool.close();
		await this.closeImap();
	}
}
