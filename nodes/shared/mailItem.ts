/**
 * One typed view of a trigger item, as the cores read it. Items pass through user workflows, so
 * every field may be missing or of another type: these helpers read them safely. Pure.
 */
import type { MailItem } from '../ImapTrigger/core/mail';
import { extractReply } from './reply';

/**
 * A trigger item as a node downstream gets it: the trigger's fields, each possibly missing or
 * changed by the workflow. Headers are keyed by lower-case name, as the trigger writes them.
 */
export type MailItemView = { [K in keyof MailItem]?: unknown };

export function str(v: unknown): string {
	return typeof v === 'string' ? v : '';
}

/** A header of the item, trimmed; null when absent or not text. */
export function headerOf(mail: MailItemView, name: string): string | null {
	const v =
		mail.headers && typeof mail.headers === 'object'
			? (mail.headers as Record<string, unknown>)[name]
			: undefined;
	return typeof v === 'string' ? v.trim() : null;
}

/** The lower-case address of an `{address}` entry or a bare string; '' when there is none. */
export function addressOf(v: unknown): string {
	if (typeof v === 'string') return v.trim().toLowerCase();
	if (v && typeof v === 'object')
		return str((v as { address?: unknown }).address)
			.trim()
			.toLowerCase();
	return '';
}

/**
 * Why a mail is machine-made by its headers (RFC 3834 auto-submitted, a delivery report, an empty
 * Return-Path), or null for mail a person may have written.
 */
export function automatedReason(mail: MailItemView): string | null {
	const auto = headerOf(mail, 'auto-submitted');
	if (auto && auto.toLowerCase().split(/[;\s]/)[0] !== 'no')
		return `auto-submitted (Auto-Submitted: ${auto})`;
	if (headerOf(mail, 'x-autoreply') !== null) return 'auto-submitted (X-Autoreply)';
	if (headerOf(mail, 'x-autorespond') !== null) return 'auto-submitted (X-Autorespond)';
	if ((headerOf(mail, 'content-type') ?? '').toLowerCase().startsWith('multipart/report'))
		return 'bounce (multipart/report)';
	if (headerOf(mail, 'return-path') === '<>') return 'bounce (empty Return-Path)';
	return null;
}

/**
 * What the sender wrote: the trigger's `reply.text`, or for an item from elsewhere (no `reply`),
 * the reply extracted from its text and HTML; the body itself when nothing was extracted.
 */
export function replyTextOf(mail: MailItemView): string {
	const reply =
		mail.reply && typeof mail.reply === 'object' ? (mail.reply as { text?: unknown }) : null;
	const given = reply ? str(reply.text) : '';
	if (given.trim()) return given;
	const text = str(mail.text);
	const html = str(mail.html);
	return text || html ? extractReply({ text, html }).text : '';
}
