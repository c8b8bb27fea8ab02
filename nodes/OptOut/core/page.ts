/**
 * The short pages the unsubscribe workflow answers with: plain HTML, no script, no outside
 * resource; every value escaped.
 */
import { escapeHtml } from '../../TemplateSender/core/template';

function page(title: string, body: string): string {
	return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em"><h1>${escapeHtml(title)}</h1><p>${body}</p></body></html>
`;
}

export function unsubscribedPage(email: string): string {
	return page(
		'You are unsubscribed',
		`${escapeHtml(email)} will get no more of these mails. Nothing else is needed.`,
	);
}

export function refusedPage(reason: string): string {
	return page(
		'This unsubscribe link does not work',
		`Nothing was changed: ${escapeHtml(reason)}. Use the link of a more recent mail, or reply to the mail and ask to be removed.`,
	);
}
