/**
 * Builds the outgoing message from an incoming item: recipients, subject with `Re:` once and the
 * case tag, threading headers, auto-reply headers, quoted original, signature. Plain data only.
 */
import { escapeHtml } from './template';
import { LOOP_HEADER } from './loopGuard';

export type SendMode = 'send' | 'reply' | 'autoReply';

export interface Address {
	address: string;
	name: string;
}

export interface IncomingMail {
	messageId: string | null;
	references: string[];
	subject: string;
	from: Address | null;
	replyTo: Address[];
	date: string | null;
	text: string | null;
}

export interface ComposeInput {
	mode: SendMode;
	mail: IncomingMail;
	subject: string;
	html: string;
	text: string;
	caseNumber: number | null;
	/** Format of the case tag, `{number}` replaced: `[#{number}]`. */
	caseTag: string;
	quoteOriginal: boolean;
	signature: { html: string; text: string; placement: 'below' | 'aboveQuote' } | null;
}

export interface Composed {
	subject: string;
	html: string;
	text: string;
	inReplyTo: string | null;
	references: string[];
	headers: Record<string, string>;
}

const REPLY_PREFIX = /^\s*(re|aw|sv|vs|odg|otv|réf|ref)\s*(\[\d+\])?\s*:\s*/i;
const MAX_REFERENCES = 30;

/** Whom a reply goes to: the first Reply-To, else From. */
export function replyRecipient(mail: IncomingMail): Address | null {
	return mail.replyTo[0] ?? mail.from;
}

export function caseTagFor(format: string, caseNumber: number): string {
	return format.split('{number}').join(String(caseNumber));
}

/**
 * The subject without tags of other cases in our format: a mail about case 4 that quotes a
 * stranger's `[#1]` must not carry it, or the next reply would name the wrong case.
 */
export function withoutOtherCaseTags(subject: string, format: string, tag: string): string {
	const parts = format.split('{number}');
	if (parts.length !== 2) return subject;
	const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
	const other = new RegExp(`${escape(parts[0])}\\d+${escape(parts[1])}`, 'g');
	return subject
		.replace(other, (m) => (m === tag ? m : ' '))
		.replace(/\s{2,}/g, ' ')
		.trim();
}

export function replySubject(original: string, caseTag: string | null): string {
	let subject = original.trim();
	let body = subject;
	while (REPLY_PREFIX.test(body)) body = body.replace(REPLY_PREFIX, '');
	subject = `Re: ${body}`.trim();
	if (caseTag && !subject.includes(caseTag)) subject = `${caseTag} ${subject}`;
	return subject;
}

function quoteText(mail: IncomingMail): string {
	const who = mail.from
		? mail.from.name
			? `${mail.from.name} <${mail.from.address}>`
			: mail.from.address
		: 'the sender';
	const when = mail.date ? new Date(mail.date).toUTCString() : null;
	const lines = (mail.text ?? '').replace(/\r\n/g, '\n').split('\n');
	return `${when ? `On ${when}, ` : ''}${who} wrote:\n${lines.map((l) => `> ${l}`).join('\n')}`;
}

function quoteHtml(mail: IncomingMail): string {
	const [intro, ...rest] = quoteText(mail).split('\n');
	const body = rest.map((l) => escapeHtml(l.replace(/^> ?/, ''))).join('<br>\n');
	return `<p>${escapeHtml(intro)}</p>\n<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">${body}</blockquote>`;
}

function join(parts: Array<string | null>, sep: string): string {
	return parts.filter((p): p is string => !!p && p.trim() !== '').join(sep);
}

export function compose(input: ComposeInput): Composed {
	const { mode, mail } = input;
	const replying = mode !== 'send';
	const tag =
		input.caseNumber !== null && input.caseTag ? caseTagFor(input.caseTag, input.caseNumber) : null;
	const own = (t: string) =>
		tag && input.caseTag ? withoutOtherCaseTags(t, input.caseTag, tag) : t;
	let subject = own(input.subject.trim());
	if (replying) subject = replySubject(subject || own(mail.subject), tag);
	else if (tag && !subject.includes(tag)) subject = `${tag} ${subject}`.trim();

	const quote = replying && input.quoteOriginal && mail.text !== null;
	const sig = input.signature;
	const above = sig?.placement === 'aboveQuote';
	const html = input.html
		? join(
				[
					input.html,
					above ? (sig?.html ?? null) : null,
					quote ? quoteHtml(mail) : null,
					!above ? (sig?.html ?? null) : null,
				],
				'\n',
			)
		: '';
	const text = input.text
		? join(
				[
					input.text,
					above && sig?.text ? `-- \n${sig.text}` : null,
					quote ? quoteText(mail) : null,
					!above && sig?.text ? `-- \n${sig.text}` : null,
				],
				'\n\n',
			)
		: '';

	const headers: Record<string, string> = {};
	let references: string[] = [];
	let inReplyTo: string | null = null;
	if (replying && mail.messageId) {
		inReplyTo = mail.messageId;
		references = [...mail.references.filter((r) => r !== mail.messageId), mail.messageId];
		// Keep the thread's root and the newest ones (RFC 5322 §3.6.4 allows trimming the middle).
		if (references.length > MAX_REFERENCES)
			references = [references[0], ...references.slice(-(MAX_REFERENCES - 1))];
	}
	if (mode === 'autoReply') {
		headers['Auto-Submitted'] = 'auto-replied';
		headers['X-Auto-Response-Suppress'] = 'All';
		headers['Precedence'] = 'auto_reply';
		headers[LOOP_HEADER] = 'auto-reply';
	}
	return { subject, html, text, inReplyTo, references, headers };
}
