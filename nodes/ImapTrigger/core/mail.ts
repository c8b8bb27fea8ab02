/**
 * Turns a fetched mail (raw source, or headers only) into the trigger's output item. Mail is
 * untrusted: parsing failures become an item with an `error` field and the raw source kept,
 * never an exception that would block the mails behind it.
 */
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';

import { extractReply, type Reply } from '../../shared/reply';
import { messageIdsIn, normalizeMessageId } from '../../shared/threadId';
import { parseMailDate } from './mailDate';

export { normalizeMessageId };

export interface MailAddress {
	address: string;
	name: string;
}

export interface AttachmentInfo {
	filename: string;
	contentType: string;
	size: number;
	contentId: string | null;
	/** Shown in the body rather than attached: a Content-ID part not marked as an attachment. */
	inline: boolean;
	/** Name of the n8n binary property holding it, or null when not attached as binary. */
	binaryProperty: string | null;
	/** Why the content is not attached, when it is not. */
	skipped: 'disabled' | 'too-large' | 'mail-too-large' | null;
}

/** Something about the mail the workflow may want to know; the mail itself was handled. */
export interface MailWarning {
	code: 'DATE_UNPARSABLE' | 'MESSAGE_ID_REUSED';
	message: string;
}

export interface MailItem {
	account: string;
	folder: string;
	uid: number;
	uidValidity: string;
	messageId: string | null;
	inReplyTo: string | null;
	references: string[];
	subject: string;
	from: MailAddress | null;
	to: MailAddress[];
	cc: MailAddress[];
	replyTo: MailAddress[];
	date: string | null;
	internalDate: string;
	size: number;
	flags: string[];
	text: string | null;
	html: string | null;
	/** What the sender wrote: the body without the quoted mail and the signature. */
	reply: Reply;
	headers: Record<string, string>;
	attachments: AttachmentInfo[];
	/** The mail was larger than the size limit: headers only, no body. */
	truncated: boolean;
	warnings: MailWarning[];
	error: { code: 'MAIL_PARSE_FAILED'; message: string } | null;
}

export interface FetchedMail {
	account: string;
	folder: string;
	uid: number;
	uidValidity: string;
	internalDate: Date;
	size: number;
	flags: string[];
	/** Full source, or the header block when the mail is over the size limit. */
	source: Buffer;
	headersOnly: boolean;
	/** The server's BODYSTRUCTURE, fetched for a mail over the size limit to list its attachments. */
	structure?: StructurePart;
}

/** A node of an IMAP BODYSTRUCTURE, as imapflow returns it. */
export interface StructurePart {
	type: string;
	parameters?: Record<string, string>;
	id?: string;
	encoding?: string;
	size?: number;
	disposition?: string;
	dispositionParameters?: Record<string, string>;
	childNodes?: StructurePart[];
}

export interface AttachmentPolicy {
	/** Attach attachment contents as binary data. */
	include: boolean;
	/** Largest attachment attached, in bytes. */
	maxBytes: number;
}

export interface MailRecord {
	json: MailItem;
	/** Attachment contents to attach as binary, keyed by the property named in json.attachments. */
	binaries: Array<{ property: string; filename: string; contentType: string; content: Buffer }>;
}

function addresses(field: AddressObject | AddressObject[] | undefined): MailAddress[] {
	if (!field) return [];
	const list = Array.isArray(field) ? field : [field];
	const out: MailAddress[] = [];
	const walk = (entries: AddressObject['value']) => {
		for (const e of entries) {
			if (e.group) walk(e.group);
			else if (e.address) out.push({ address: e.address.trim(), name: (e.name ?? '').trim() });
		}
	};
	for (const obj of list) walk(obj.value);
	return out;
}

function headerText(value: unknown): string {
	if (value === undefined || value === null) return '';
	if (typeof value === 'string') return value;
	if (Array.isArray(value)) return value.map(headerText).join(', ');
	if (value instanceof Date) return Number.isNaN(value.getTime()) ? '' : value.toISOString();
	if (typeof value === 'object') {
		const v = value as { text?: string; value?: unknown; params?: Record<string, string> };
		if (typeof v.text === 'string') return v.text;
		if (typeof v.value === 'string') {
			const params = Object.entries(v.params ?? {}).map(([k, p]) => `; ${k}=${p}`);
			return v.value + params.join('');
		}
		return JSON.stringify(value);
	}
	return String(value);
}

/** Longest header value kept, and most header names kept: mail is untrusted input. */
const MAX_HEADER_CHARS = 8_192;
const MAX_HEADERS = 100;
/** Most Message-IDs kept from References: the root and the newest ones. */
const MAX_REFERENCES = 100;
/** Headers kept as written: mailparser's reading of them is lossy (a bad Date becomes "now"). */
const RAW_HEADERS = new Set(['date', 'message-id', 'in-reply-to', 'references']);

/** The unfolded values of a header, in order, as written in the mail. */
function rawHeader(parsed: ParsedMail, name: string): string[] {
	return parsed.headerLines
		.filter((h) => h.key === name)
		.map((h) =>
			h.line
				.slice(h.line.indexOf(':') + 1)
				.replace(/\r?\n[ \t]*/g, ' ')
				.trim(),
		);
}

/**
 * Every header by lower-case name (repeated ones joined), so filters can test any header. Decoded
 * where mailparser decodes (encoded words, address lists), else the raw line without its name.
 */
function allHeaders(parsed: ParsedMail): Record<string, string> {
	const raw = new Map<string, string[]>();
	for (const h of parsed.headerLines) {
		if (!raw.has(h.key) && raw.size >= MAX_HEADERS) continue;
		const list = raw.get(h.key) ?? [];
		list.push(
			h.line
				.slice(h.line.indexOf(':') + 1)
				.replace(/\r?\n[ \t]*/g, ' ')
				.trim(),
		);
		raw.set(h.key, list);
	}
	const out: Record<string, string> = {};
	for (const [name, lines] of raw) {
		const decoded = parsed.headers.get(name);
		const value =
			decoded !== undefined &&
			name !== 'list-unsubscribe' &&
			!RAW_HEADERS.has(name) &&
			lines.length === 1
				? headerText(decoded)
				: lines.join(', ');
		out[name] = value.length > MAX_HEADER_CHARS ? value.slice(0, MAX_HEADER_CHARS) : value;
	}
	return out;
}

/** An internal date as ISO text; an invalid one (a server's unreadable INTERNALDATE) as the epoch. */
function isoDate(date: Date): string {
	return Number.isNaN(date.getTime()) ? new Date(0).toISOString() : date.toISOString();
}

/** Thread ids from the raw headers: only `<…>` tokens count (see messageIdsIn). */
function threadIds(parsed: ParsedMail): { inReplyTo: string | null; references: string[] } {
	const replyTo = rawHeader(parsed, 'in-reply-to').flatMap(messageIdsIn);
	// RFC 5322 allows several parents in In-Reply-To; the first is the field, the others still
	// belong to the thread. A Set: a hostile mail may carry tens of thousands of ids.
	const all = new Set(rawHeader(parsed, 'references').flatMap(messageIdsIn));
	for (const id of replyTo.slice(1)) all.add(id);
	let refs = [...all];
	if (refs.length > MAX_REFERENCES) refs = [refs[0], ...refs.slice(-(MAX_REFERENCES - 1))];
	return { inReplyTo: replyTo[0] ?? null, references: refs };
}

function mailDate(parsed: ParsedMail): { date: string | null; warnings: MailWarning[] } {
	const raw = rawHeader(parsed, 'date')[0];
	const date = parseMailDate(raw);
	if (date) return { date: date.toISOString(), warnings: [] };
	if (raw === undefined) return { date: null, warnings: [] };
	return {
		date: null,
		warnings: [
			{
				code: 'DATE_UNPARSABLE',
				message: `The Date header "${raw.slice(0, 200)}" names no valid date; it is kept in headers.date`,
			},
		],
	};
}

/**
 * The attachments of a mail that was not downloaded, from its BODYSTRUCTURE: every leaf part
 * except the text bodies, an attached mail as one part. Sizes are the decoded size estimated
 * from the transfer size (base64 carries 3 bytes in 4).
 */
export function structureAttachments(root: StructurePart): AttachmentInfo[] {
	const out: AttachmentInfo[] = [];
	const walk = (part: StructurePart, depth: number) => {
		const type = (part.type ?? '').toLowerCase();
		if (type.startsWith('multipart/') && depth < 50) {
			for (const child of part.childNodes ?? []) walk(child, depth + 1);
			return;
		}
		const name = part.dispositionParameters?.filename ?? part.parameters?.name;
		const disposition = (part.disposition ?? '').toLowerCase();
		const body = (type === 'text/plain' || type === 'text/html') && !name;
		if (body && disposition !== 'attachment') return;
		const size = part.size ?? 0;
		out.push({
			filename: safeFilename(name, out.length),
			contentType: type || 'application/octet-stream',
			size: (part.encoding ?? '').toLowerCase() === 'base64' ? Math.floor((size * 3) / 4) : size,
			contentId: part.id ?? null,
			inline: isInline(disposition, part.id),
			binaryProperty: null,
			skipped: 'mail-too-large',
		});
	};
	walk(root, 0);
	return out;
}

/**
 * An image the HTML shows by its Content-ID (multipart/related parts usually have no
 * Content-Disposition), or a part marked inline. A part marked as an attachment is one, even with
 * a Content-ID (Outlook gives every part one).
 */
function isInline(disposition: string | undefined, contentId: string | null | undefined): boolean {
	const d = (disposition ?? '').toLowerCase();
	return d === 'inline' || (Boolean(contentId) && d !== 'attachment');
}

/** The reply of a mail with no body (over the size limit, or unreadable). */
const noReply = (): Reply => ({ text: '', quoted: false, signature: null, method: 'none' });

function safeFilename(name: string | undefined, index: number): string {
	const cleaned = (name ?? '').replace(/[\\/\0\r\n]/g, '_').trim();
	return cleaned || `attachment-${index + 1}`;
}

export function toRecord(
	mail: FetchedMail,
	parsed: ParsedMail,
	policy: AttachmentPolicy,
): MailRecord {
	const binaries: MailRecord['binaries'] = [];
	const parsedAttachments = mail.structure ? [] : (parsed.attachments ?? []);
	const attachments: AttachmentInfo[] = parsedAttachments.map((a, i) => {
		const filename = safeFilename(a.filename, i);
		const size = a.size ?? a.content?.length ?? 0;
		let skipped: AttachmentInfo['skipped'] = null;
		let binaryProperty: string | null = null;
		if (mail.headersOnly) skipped = 'mail-too-large';
		else if (!policy.include) skipped = 'disabled';
		else if (size > policy.maxBytes) skipped = 'too-large';
		else {
			binaryProperty = `attachment_${binaries.length}`;
			binaries.push({
				property: binaryProperty,
				filename,
				contentType: a.contentType,
				content: a.content,
			});
		}
		return {
			filename,
			contentType: a.contentType,
			size,
			contentId: a.cid ?? null,
			inline: isInline(a.contentDisposition, a.cid),
			binaryProperty,
			skipped,
		};
	});
	if (mail.structure) attachments.push(...structureAttachments(mail.structure));
	const from = addresses(parsed.from)[0] ?? null;
	const { date, warnings } = mailDate(parsed);
	const thread = threadIds(parsed);
	const text = mail.headersOnly ? null : (parsed.text ?? null);
	const html = mail.headersOnly ? null : typeof parsed.html === 'string' ? parsed.html : null;
	return {
		json: {
			account: mail.account,
			folder: mail.folder,
			uid: mail.uid,
			uidValidity: mail.uidValidity,
			messageId: normalizeMessageId(rawHeader(parsed, 'message-id')[0]),
			inReplyTo: thread.inReplyTo,
			references: thread.references,
			subject: parsed.subject ?? '',
			from,
			to: addresses(parsed.to),
			cc: addresses(parsed.cc),
			replyTo: addresses(parsed.replyTo),
			date,
			internalDate: isoDate(mail.internalDate),
			size: mail.size,
			flags: mail.flags,
			text,
			html,
			reply: text || html ? extractReply({ text, html }) : noReply(),
			headers: allHeaders(parsed),
			attachments,
			truncated: mail.headersOnly,
			warnings,
			error: null,
		},
		binaries,
	};
}

/** The item for a mail that could not be parsed: what the IMAP server told us, plus the raw source. */
export function failedRecord(mail: FetchedMail, error: unknown): MailRecord {
	const message = error instanceof Error ? error.message : String(error);
	return {
		json: {
			account: mail.account,
			folder: mail.folder,
			uid: mail.uid,
			uidValidity: mail.uidValidity,
			messageId: null,
			inReplyTo: null,
			references: [],
			subject: '',
			from: null,
			to: [],
			cc: [],
			replyTo: [],
			date: null,
			internalDate: isoDate(mail.internalDate),
			size: mail.size,
			flags: mail.flags,
			text: null,
			html: null,
			reply: noReply(),
			headers: {},
			attachments: [],
			truncated: mail.headersOnly,
			warnings: [],
			error: { code: 'MAIL_PARSE_FAILED', message: `The mail could not be parsed: ${message}` },
		},
		binaries: [
			{
				property: 'raw',
				filename: `${mail.folder}-${mail.uid}.eml`,
				contentType: 'message/rfc822',
				content: mail.source,
			},
		],
	};
}

/** Limits handed to mailparser: a hostile mail must not make parsing unbounded. */
const PARSER_OPTIONS = {
	skipImageLinks: true,
	skipTextToHtml: true,
	skipTextLinks: true,
	maxHtmlLengthToParse: 10 * 1024 * 1024,
};

export async function parseMail(mail: FetchedMail, policy: AttachmentPolicy): Promise<MailRecord> {
	try {
		const raw = withoutLeadingJunk(mail.source);
		const source = mail.headersOnly ? Buffer.concat([raw, Buffer.from('\r\n')]) : raw;
		if (!looksLikeMail(source)) throw new Error('no RFC 5322 header section was found');
		const parsed = await simpleParser(source, PARSER_OPTIONS);
		return toRecord(mail, parsed, policy);
	} catch (error) {
		return failedRecord(mail, error);
	}
}

/**
 * A mail must start with a header field ("Name: value"). mailparser accepts anything, so garbage
 * would otherwise become an empty mail with its bytes as the body, which no rule could route.
 */
export function looksLikeMail(source: Buffer): boolean {
	// Obsolete white space before the colon (`Received : from …`, RFC 5322 obs-optional) is mail.
	const firstLine = source.subarray(0, 2048).toString('latin1').split(/\r?\n/, 1)[0];
	return /^[!-9;-~]+[ \t]*:/.test(firstLine) || /^From /.test(firstLine);
}

/**
 * The source without what some stores put before the headers — a UTF-8 byte-order mark, blank
 * lines — which would make the whole mail read as a body with no headers.
 */
function withoutLeadingJunk(source: Buffer): Buffer {
	let start = 0;
	if (source[0] === 0xef && source[1] === 0xbb && source[2] === 0xbf) start = 3;
	for (;;) {
		let i = start;
		while (source[i] === 0x20 || source[i] === 0x09) i++;
		if (source[i] === 0x0d && source[i + 1] === 0x0a) start = i + 2;
		else if (source[i] === 0x0a) start = i + 1;
		else break;
	}
	return start ? source.subarray(start) : source;
}
