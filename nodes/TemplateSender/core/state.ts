/**
 * What the sender remembers across executions on the file store, in a plain object (the node's
 * state): auto-replies per recipient for the rate limit and recipients of one-off templates (see
 * state/objectSendStore.ts, which also keeps the per-mail send marks). Bounded: old entries are
 * dropped as they age out or past a count. And the key of those per-mail marks.
 */
import { createHash } from 'node:crypto';

export interface SenderState {
	/** Recipient → send times (ms) within the rate window. */
	replies: Record<string, number[]>;
	/** "template key|recipient" → time sent. */
	oneOff: Record<string, number>;
	/**
	 * Only in files of older versions: send key → time, marks of executions that failed. Not read
	 * (the per-mail marks replaced them); aged out like those.
	 */
	sending?: Record<string, number>;
}

/** How long a mail stays known as sent (or being sent): reruns within it never send it again. */
export const SENDING_KEPT_MS = 7 * 86_400_000;

export function senderState(data: Record<string, unknown>): SenderState {
	for (const key of ['replies', 'oneOff'])
		if (!data[key] || typeof data[key] !== 'object') data[key] = {};
	return data as unknown as SenderState;
}

/**
 * Names one outgoing mail so that a Retry, or a rerun of the same incoming mail by another
 * execution or worker, names it again: the incoming mail (its Message-ID), the template and the
 * operation. Send also counts its recipients: one incoming mail may be sent on to several people
 * with one template. An item without a Message-ID is named by its position and data instead, so
 * only a retry of the same execution (same items, same order) recognises it.
 */
export function sendKey(mail: {
	operation: string;
	messageId: string | null;
	index: number;
	item: unknown;
	templateId: string;
	from: string;
	recipients: string[];
}): string {
	const parts = mail.messageId
		? [
				mail.operation,
				mail.templateId,
				mail.messageId,
				...(mail.operation === 'send' ? [mail.recipients] : []),
			]
		: [mail.operation, mail.index, mail.templateId, mail.from, mail.recipients, mail.item];
	return createHash('sha256')
		.update(JSON.stringify(parts) ?? '')
		.digest('base64url')
		.slice(0, 22);
}

export interface RateLimit {
	max: number;
	windowMs: number;
}

export function recentReplies(
	state: SenderState,
	recipient: string,
	limit: RateLimit,
	now: number,
): number {
	const times = (state.replies[recipient] ?? []).filter((t) => now - t < limit.windowMs);
	if (times.length) state.replies[recipient] = times;
	else delete state.replies[recipient];
	return times.length;
}

export function recordReply(state: SenderState, recipient: string, now: number): void {
	(state.replies[recipient] ??= []).push(now);
}

/** Takes back a reply counted before sending, when the send failed. */
export function forgetReply(state: SenderState, recipient: string, at: number): void {
	const times = state.replies[recipient];
	const i = times ? times.lastIndexOf(at) : -1;
	if (i >= 0) times.splice(i, 1);
	if (times && times.length === 0) delete state.replies[recipient];
}

/**
 * Forgets what no longer matters: reply times outside the window, one-offs beyond `maxOneOff`,
 * an older version's marks after SENDING_KEPT_MS.
 */
export function pruneState(
	state: SenderState,
	limit: RateLimit,
	now: number,
	maxOneOff = 100_000,
): void {
	for (const r of Object.keys(state.replies)) recentReplies(state, r, limit, now);
	const keys = Object.keys(state.oneOff);
	for (let i = 0; i < keys.length - maxOneOff; i++) delete state.oneOff[keys[i]];
	const legacy = state.sending;
	if (legacy) {
		for (const [key, at] of Object.entries(legacy))
			if (now - at > SENDING_KEPT_MS) delete legacy[key];
		if (Object.keys(legacy).length === 0) delete state.sending;
	}
}
