/**
 * RFC 3834 loop guard for auto-replies: which incoming mails must never get one. Stricter than
 * EspoCRM (which only looks at Auto-Submitted and an exact X-Auto-Response-Suppress), after the
 * loops seen in the field: lists, bulk mail, Exchange's "DR, OOF, AutoReply", bounces, no-reply
 * senders, our own addresses (as sender or as Reply-To, where the reply would go) and our own
 * marker.
 */
import { automatedReason, headerOf } from '../../shared/mailItem';

export const LOOP_HEADER = 'x-crm-email-loop';

export interface GuardInput {
	from: string | null;
	/** Reply-To addresses of the mail. */
	replyTo: string[];
	headers: unknown;
	/** Our own addresses, lower-case. */
	own: Set<string>;
}

export interface GuardVerdict {
	reply: boolean;
	reason: string | null;
}

const NO_REPLY =
	/^(no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|noreply|mailer-daemon|postmaster|bounces?|notifications?)([-+._].*)?@/i;

export function loopGuard({ from, replyTo, headers, own }: GuardInput): GuardVerdict {
	const no = (reason: string): GuardVerdict => ({ reply: false, reason });
	const address = from?.trim().toLowerCase() ?? '';
	if (!address) return no('the mail has no sender address');
	const mail = { headers };
	const header = (name: string) => headerOf(mail, name);
	const automated = automatedReason(mail);
	if (automated) return no(automated);
	const precedence = header('precedence')?.toLowerCase();
	if (precedence && /^(bulk|list|junk|auto_reply)$/.test(precedence))
		return no(`Precedence: ${precedence}`);
	if (header('list-id') !== null) return no('mailing list (List-Id)');
	if (header('list-unsubscribe') !== null) return no('bulk mail (List-Unsubscribe)');
	const suppress = header('x-auto-response-suppress');
	if (suppress && /(^|[\s,])(all|autoreply|oof)([\s,]|$)/i.test(suppress))
		return no(`X-Auto-Response-Suppress: ${suppress}`);
	if (NO_REPLY.test(address)) return no(`no-reply or system sender ${address}`);
	if (own.has(address)) return no(`our own address ${address}`);
	const ownReplyTo = replyTo.map((a) => a.trim().toLowerCase()).find((a) => own.has(a));
	if (ownReplyTo) return no(`Reply-To is our own address ${ownReplyTo}`);
	if (header(LOOP_HEADER) !== null) return no('our own auto-reply (loop marker)');
	return { reply: true, reason: null };
}
