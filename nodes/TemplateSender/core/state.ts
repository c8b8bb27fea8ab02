/**
 * What the sender remembers across executions, in a plain object (n8n static data): auto-replies
 * per recipient for the rate limit, and recipients of one-off templates. Bounded: old entries are
 * dropped as they age out or past a count.
 */
export interface SenderState {
	/** Recipient → send times (ms) within the rate window. */
	replies: Record<string, number[]>;
	/** "template key|recipient" → time sent. */
	oneOff: Record<string, number>;
}

export function senderState(data: Record<string, unknown>): SenderState {
	if (!data.replies || typeof data.replies !== 'object') data.replies = {};
	if (!data.oneOff || typeof data.oneOff !== 'object') data.oneOff = {};
	return data as unknown as SenderState;
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

/** Forgets what no longer matters: reply times outside the window, one-offs beyond `maxOneOff`. */
export function pruneState(
	state: SenderState,
	limit: RateLimit,
	now: number,
	maxOneOff = 100_000,
): void {
	for (const r of Object.keys(state.replies)) recentReplies(state, r, limit, now);
	const keys = Object.keys(state.oneOff);
	for (let i = 0; i < keys.length - maxOneOff; i++) delete state.oneOff[keys[i]];
}
