/**
 * What the sender remembers across executions, in a plain object (the node's state): auto-replies
 * per recipient for the rate limit, recipients of one-off templates, and the mails handed to SMTP
 * by an execution that did not complete. Bounded: old entries are dropped as they age out or past
 * a count.
 */
import { createHash } from 'node:crypto';

export interface SenderState {
	/** Recipient → send times (ms) within the rate window. */
	replies: Record<string, number[]>;
	/** "template key|recipient" → time sent. */
	oneOff: Record<string, number>;
	/**
	 * Send key (see sendKey) → time handed to SMTP. Saved before sending and cleared only when the
	 * execution completes: what a failed execution leaves here, its retry must not send again.
	 */
	sending: Record<string, number>;
}

/** How long a failed execution's sent mails stay known to its retries. */
export const SENDING_KEPT_MS = 7 * 86_400_000;

export function senderState(data: Record<string, unknown>): SenderState {
	for (const key of ['replies', 'oneOff', 'sending'])
		if (!data[key] || typeof data[key] !== 'object') data[key] = {};
	return data as unknown as SenderState;
}

/**
 * Names one mail of one execution so that a retry of that execution (same input items, same
 * order) names it again: item position and data, template, sender and recipients.
 */
export function sendKey(mail: {
	index: number;
	item: unknown;
	templateId: string;
	from: string;
	recipients: string[];
}): string {
	return createHash('sha256')
		.update(
			JSON.stringify([mail.index, mail.templateId, mail.from, mail.recipients, mail.item]) ?? '',
		)
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
 * failed executions' sent mails after SENDING_KEPT_MS.
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
	for (const [key, at] of Object.entries(state.sending))
		if (now - at > SENDING_KEPT_MS) delete state.sending[key];
}
