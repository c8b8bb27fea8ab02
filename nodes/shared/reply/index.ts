/**
 * Reply extraction: the text a customer wrote, without the mail they quoted and without their
 * signature. Pure (no n8n import): used by the IMAP Trigger for every mail, by the Case Router
 * for a case's description and a follow-up's text, by the Template Sender to quote the original.
 *
 * Why our own rules and not a library: of the npm candidates (measured side by side by
 * `npm run bench:reply`), `planer` (a port of mailgun's talon) needs a DOM for HTML mail and
 * does not cut signatures, and `email-reply-parser` (Crisp) requires Node 22 and also cuts
 * sign-offs ("Thanks, Ann") from the text; neither knows Slovenian or Russian headers.
 */
import { cutHtmlQuote, htmlToLines } from './html';
import { extractFromText, type Reply } from './text';

export type { Reply, ReplyMethod } from './text';
export { extractFromText } from './text';
export { htmlToLines } from './html';

/**
 * The reply of a mail from its text and HTML bodies. The HTML decides when it has a quote
 * container (its structure is surer than text patterns); otherwise the text body (or, without
 * one, the HTML as text) goes through the plain-text rules. Never throws.
 */
export function extractReply(body: { text?: string | null; html?: string | null }): Reply {
	const html = typeof body.html === 'string' ? body.html : '';
	const text = typeof body.text === 'string' ? body.text : '';
	if (html) {
		const cut = cutHtmlQuote(html);
		if (cut) {
			const reply = extractFromText(htmlToLines(cut.html));
			if (reply.text.trim())
				return {
					...reply,
					html: cut.html,
					quoted: true,
					signature: cut.signatureHtml ? htmlToLines(cut.signatureHtml) : reply.signature,
					method: 'html-container',
				};
		}
	}
	return extractFromText(text || (html ? htmlToLines(html) : ''));
}
