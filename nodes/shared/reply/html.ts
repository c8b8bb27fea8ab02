/**
 * The reply of an HTML mail: the HTML before the container in which the client put the quoted
 * mail (Gmail `gmail_quote`, Outlook `divRplyFwdMsg` and its header border, Apple Mail and
 * Thunderbird `blockquote type=cite`, Yahoo `yahoo_quoted`), and that HTML as text lines.
 * indexOf scans only, over at most MAX_HTML_SCAN characters: linear on any input.
 */
import { decodeEntities } from '../html';

/** Most HTML characters searched for a quote container; the reply is near the top. */
export const MAX_HTML_SCAN = 200_000;

/** Attribute text that marks a quote container, lower-case, as clients write it. */
const QUOTE_MARKERS = [
	'gmail_quote',
	'type="cite"',
	"type='cite'",
	'type=cite',
	'moz-cite-prefix',
	'divrplyfwdmsg',
	'id="stopspelling"',
	'appendonsend',
	'mail-editor-reference-message-container',
	'yahoo_quoted',
	// Outlook desktop: the header block of the quoted mail sits in a div with a top border only.
	'border:none;border-top:solid',
];
const SIGNATURE_MARKERS = ['gmail_signature', 'moz-signature', 'id="signature"'];

/** Where the tag carrying `token` starts, for its first occurrence inside a tag; -1 if none. */
function tagWith(lower: string, token: string): number {
	for (let at = lower.indexOf(token); at !== -1; at = lower.indexOf(token, at + 1)) {
		// A tag is short: look back a bounded way, so many stray tokens cost linear time.
		const from = Math.max(0, at - 2000);
		const back = lower.slice(from, at).lastIndexOf('<');
		if (back === -1) continue;
		const open = from + back;
		const close = lower.indexOf('>', open);
		if (close === -1 || close > at) return open;
	}
	return -1;
}

function firstOf(lower: string, tokens: string[]): number {
	let best = -1;
	for (const t of tokens) {
		const at = tagWith(lower, t);
		if (at !== -1 && (best === -1 || at < best)) best = at;
	}
	return best;
}

export interface HtmlCut {
	/** The HTML before the quote (and before a marked signature). */
	html: string;
	/** The signature container's text, when one was marked before the quote. */
	signatureHtml: string | null;
}

/** The HTML before its quote container, or null when it has none. */
export function cutHtmlQuote(html: string): HtmlCut | null {
	const lower = html.slice(0, MAX_HTML_SCAN).toLowerCase();
	const quote = firstOf(lower, QUOTE_MARKERS);
	if (quote === -1) return null;
	const sig = firstOf(lower.slice(0, quote), SIGNATURE_MARKERS);
	return sig === -1
		? { html: html.slice(0, quote), signatureHtml: null }
		: { html: html.slice(0, sig), signatureHtml: html.slice(sig, quote) };
}

/** Tags that break a line. */
const BLOCK = new Set([
	'address',
	'article',
	'blockquote',
	'dd',
	'div',
	'dl',
	'dt',
	'footer',
	'h1',
	'h2',
	'h3',
	'h4',
	'h5',
	'h6',
	'header',
	'hr',
	'li',
	'ol',
	'p',
	'pre',
	'section',
	'table',
	'td',
	'tr',
	'ul',
]);
/** Deeper quotes get no more `>`: nested hostile blockquotes must not grow each line. */
const MAX_QUOTE_DEPTH = 10;
/** Elements whose content is no text. */
const SKIP = ['script', 'style', 'head', 'title'];

/**
 * HTML as text lines: block elements and `<br>` break lines, a paragraph ends with a blank line,
 * `<blockquote>` content is prefixed with "> " per level (so the plain-text rules see quotes),
 * runs of blank lines become one. A single left-to-right scan.
 */
export function htmlToLines(html: string): string {
	const lower = html.toLowerCase();
	let out = '';
	let depth = 0;
	let lineStart = true;
	const breakLine = () => {
		if (!lineStart) out += '\n';
		lineStart = true;
	};
	let i = 0;
	while (i < html.length) {
		const open = html.indexOf('<', i);
		const chunk = html.slice(i, open === -1 ? html.length : open);
		if (chunk) {
			let text = decodeEntities(chunk.replace(/\s+/g, ' '));
			if (lineStart) text = text.replace(/^ +/, '');
			if (text) {
				out += (lineStart ? '> '.repeat(Math.min(depth, MAX_QUOTE_DEPTH)) : '') + text;
				lineStart = false;
			}
		}
		if (open === -1) break;
		let end: number;
		const name = /^<\/?([a-z][a-z0-9]{0,9})/.exec(lower.slice(open, open + 12))?.[1] ?? '';
		const closing = lower[open + 1] === '/';
		if (lower.startsWith('<!--', open)) {
			end = lower.indexOf('-->', open + 4);
			end = end === -1 ? html.length : end + 3;
		} else if (!closing && SKIP.includes(name)) {
			end = lower.indexOf(`</${name}`, open);
			end = end === -1 ? html.length : lower.indexOf('>', end);
			end = end === -1 ? html.length : end + 1;
		} else {
			end = html.indexOf('>', open);
			end = end === -1 ? html.length : end + 1;
			if (name === 'br') {
				out += '\n';
				lineStart = true;
			} else if (BLOCK.has(name)) {
				breakLine();
				if (name === 'p' && closing) out += '\n';
				if (name === 'blockquote') depth = Math.max(0, depth + (closing ? -1 : 1));
			}
		}
		i = end;
	}
	return out
		.split('\n')
		.map((l) => l.trimEnd())
		.join('\n')
		.replace(/\n{3,}/g, '\n\n')
		.trim();
}
