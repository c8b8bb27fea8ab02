/**
 * The reply of a plain-text mail: the text without the quoted mail below it and without the
 * sender's signature. Lines are only dropped, never changed, so the result is a subset (nearly
 * always a prefix) of the input lines. When in doubt a line is kept; when nothing would remain,
 * the whole body is the reply.
 *
 *   top-posting:    the first reply header ("On … wrote:") or Outlook header block below some text
 *                   cuts everything after it — unless `>` quotes and answers alternate after it
 *                   (an inline reply, kept whole);
 *                   A forwarded mail below a marker is content, never cut;
 *   bottom-posting: a `>` block (with its header) at the top, followed only by new text, is cut;
 *   the end:        trailing `>` blocks, a trailing header and the signature ("-- ", "Sent from
 *                   my …", "-Ann") are cut from the bottom.
 */
import {
	headerBlockAt,
	isDashName,
	isForwardMarker,
	isOriginalMessage,
	isQuoted,
	isRule,
	isSentFrom,
	isSignatureSeparator,
	replyHeaderAt,
} from './patterns';

/** Which rule cut the mail (the first one that did), `none` when the body is the reply. */
export type ReplyMethod =
	| 'header-line'
	| 'header-block'
	| 'quote-block'
	| 'html-container'
	| 'signature'
	| 'none';

export interface Reply {
	/** The new text of the mail; never empty when the body is not. */
	text: string;
	/** The HTML up to the quote container, when the HTML body had one (not re-balanced). */
	html?: string;
	/** Whether a quoted mail was cut. */
	quoted: boolean;
	/** The signature that was cut, or null. */
	signature: string | null;
	method: ReplyMethod;
}

/**
 * Most characters scanned. The reply is at the top: past this a body is not looked at, so a 1 MB
 * body costs what 100 KB do. When no quote starts in the scanned part the whole body is the reply.
 */
export const MAX_SCAN_CHARS = 100_000;
/** A signature has at most this many lines after its separator. */
const MAX_SIGNATURE_LINES = 40;

const blank = (line: string) => line.trim() === '';

function nextNonBlank(lines: string[], from: number, end: number): number {
	for (let i = from; i < end; i++) if (!blank(lines[i])) return i;
	return -1;
}

/** A signature starts here: "-- ", "Sent from my …", "-Ann". */
function startsSignature(line: string): boolean {
	return isSignatureSeparator(line) || isSentFrom(line) || isDashName(line);
}

/**
 * After a header at `from`: whether `>` quotes follow and then new text (an inline or
 * interleaved reply, kept whole), rather than the quoted mail running to the end.
 */
function inlineReplyFollows(lines: string[], from: number): boolean {
	let i = nextNonBlank(lines, from, lines.length);
	if (i === -1 || !isQuoted(lines[i])) return false;
	while (i < lines.length && (isQuoted(lines[i]) || blank(lines[i]))) i++;
	if (i >= lines.length) return false;
	return !startsSignature(lines[i]) && !replyHeaderAt(lines, i) && !headerBlockAt(lines, i);
}

/** A quote header starting at `i`: its length in lines and kind, or null. */
function quoteHeaderAt(
	lines: string[],
	i: number,
): { lines: number; method: 'header-line' | 'header-block' } | null {
	const line = lines[i];
	if (isOriginalMessage(line)) return { lines: 1, method: 'header-block' };
	const block = headerBlockAt(lines, i);
	if (block) return { lines: block, method: 'header-block' };
	if (isRule(line)) {
		const k = nextNonBlank(lines, i + 1, Math.min(lines.length, i + 4));
		const after = k === -1 ? 0 : headerBlockAt(lines, k);
		if (after) return { lines: k - i + after, method: 'header-block' };
	}
	const header = replyHeaderAt(lines, i);
	return header ? { lines: header, method: 'header-line' } : null;
}

/** Top-posting: where the quoted mail starts below the new text, or null. */
function topCut(lines: string[]): { index: number; method: ReplyMethod } | null {
	let seenText = false;
	for (let i = 0; i < lines.length; i++) {
		const line = lines[i];
		if (isQuoted(line) || blank(line)) continue;
		if (isForwardMarker(line)) return null;
		const header = quoteHeaderAt(lines, i);
		if (!header) {
			seenText = true;
			continue;
		}
		if (seenText && !inlineReplyFollows(lines, i + header.lines))
			return { index: i, method: header.method };
		i += header.lines - 1;
	}
	return null;
}

/** The first line of the signature ending at `end` (the earliest of the rules), or -1. */
function signatureStart(lines: string[], end: number, textFrom: number): number {
	let first = isSentFrom(lines[end - 1]) && textFrom < end - 1 ? end - 1 : -1;
	for (let k = Math.max(textFrom + 1, end - MAX_SIGNATURE_LINES); k < end; k++)
		if (isSignatureSeparator(lines[k])) {
			if (first === -1 || k < first) first = k;
			break;
		}
	let seen = 0;
	for (let k = end - 1; k > textFrom && seen < 8; k--) {
		if (blank(lines[k])) continue;
		seen++;
		if (isDashName(lines[k]) && blank(lines[k - 1]) && (first === -1 || k < first)) first = k;
	}
	return first;
}

/** A reply header (1 to 3 lines) that ends right at `end`: its first line, or -1. */
function headerEndingAt(lines: string[], start: number, end: number): number {
	for (let k = end - 1; k >= start && k >= end - 3; k--)
		if (replyHeaderAt(lines, k) === end - k) return k;
	return -1;
}

function joined(lines: string[], start: number, end = lines.length): string {
	const first = nextNonBlank(lines, start, end);
	if (first === -1) return '';
	let last = end - 1;
	while (last > first && blank(lines[last])) last--;
	return lines.slice(first, last + 1).join('\n');
}

export function extractFromText(body: string): Reply {
	const whole = (): Reply => ({
		text: joined(body.split(/\r?\n/), 0),
		quoted: false,
		signature: null,
		method: 'none',
	});
	let scanned = body;
	if (body.length > MAX_SCAN_CHARS) {
		const cut = body.lastIndexOf('\n', MAX_SCAN_CHARS);
		scanned = body.slice(0, cut > 0 ? cut : MAX_SCAN_CHARS);
	}
	const lines = scanned.split(/\r?\n/);
	let start = 0;
	let end = lines.length;
	let method: ReplyMethod = 'none';
	let quoted = false;
	let signature: string | null = null;

	const top = topCut(lines);
	if (top) {
		end = top.index;
		method = top.method;
		quoted = true;
	} else if (scanned.length < body.length) {
		// No quote in the part scanned: the unscanned rest is new text too.
		return whole();
	}

	// From the bottom: trailing quotes, a trailing header, the signature. Only `end` moves, so the
	// first line of text is found once.
	const textFrom = nextNonBlank(lines, start, end);
	while (textFrom !== -1 && textFrom < end) {
		while (blank(lines[end - 1])) end--;
		const last = lines[end - 1];
		if (isQuoted(last)) {
			let q = end - 1;
			while (q > start && (isQuoted(lines[q - 1]) || blank(lines[q - 1]))) q--;
			let above = q;
			while (above > start && blank(lines[above - 1])) above--;
			const header = headerEndingAt(lines, start, above);
			if (header !== -1) q = header;
			if (textFrom >= q) break;
			end = q;
			quoted = true;
			if (method === 'none') method = 'quote-block';
			continue;
		}
		const header = headerEndingAt(lines, start, end);
		if (header !== -1 ? header > textFrom : isOriginalMessage(last) && textFrom < end - 1) {
			end = header !== -1 ? header : end - 1;
			quoted = true;
			if (method === 'none') method = 'header-line';
			continue;
		}
		if (signature === null) {
			const s = signatureStart(lines, end, textFrom);
			if (s !== -1 && textFrom < s) {
				signature = joined(lines, s, end);
				end = s;
				if (method === 'none') method = 'signature';
				continue;
			}
		}
		break;
	}

	// Bottom-posting: one `>` block (with its header) at the top, then only new text.
	const first = nextNonBlank(lines, start, end);
	if (first !== -1) {
		const header = isQuoted(lines[first]) ? 0 : replyHeaderAt(lines, first);
		const b = nextNonBlank(lines, first + header, end);
		if (b !== -1 && isQuoted(lines[b])) {
			let c = b;
			while (c < end && (isQuoted(lines[c]) || blank(lines[c]))) c++;
			let more = false;
			for (let k = c; k < end && !more; k++) more = isQuoted(lines[k]);
			if (c < end && !more) {
				start = c;
				quoted = true;
				if (method === 'none' || method === 'signature') method = 'quote-block';
			}
		}
	}

	const text = joined(lines, start, end);
	if (!text.trim()) return whole();
	return { text, quoted, signature, method };
}
