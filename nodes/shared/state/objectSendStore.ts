/**
 * The Template Sender's SendStore on this n8n instance: a plain object (the node's state file,
 * see nodeState.ts), whose executions are serialized per node, which makes each operation atomic.
 * Rate-limit times and one-off marks keep the Sender's layout (TemplateSender/core/state.ts);
 * per-mail send marks live under `sends`.
 */
import {
	forgetReply,
	pruneState,
	recentReplies,
	recordReply,
	senderState,
	type SenderState,
} from '../../TemplateSender/core/state';
import type { RateLimit, SendMark, SendStore } from './types';

export class ObjectSendStore implements SendStore {
	private readonly s: SenderState;
	/** Send key → "sending|time" or "sent|time". */
	private readonly sends: Record<string, string>;

	constructor(
		data: Record<string, unknown>,
		private readonly maxOneOff = 100_000,
	) {
		this.s = senderState(data);
		if (!data.sends || typeof data.sends !== 'object') data.sends = {};
		this.sends = data.sends as Record<string, string>;
	}

	async countReply(recipient: string, limit: RateLimit, now: number): Promise<boolean> {
		if (recentReplies(this.s, recipient, limit, now) >= limit.max) return false;
		recordReply(this.s, recipient, now);
		return true;
	}

	async forgetReply(recipient: string, at: number): Promise<void> {
		forgetReply(this.s, recipient, at);
	}

	async markOneOff(key: string, now: number): Promise<boolean> {
		if (key in this.s.oneOff) return false;
		this.s.oneOff[key] = now;
		return true;
	}

	async forgetOneOff(key: string): Promise<void> {
		delete this.s.oneOff[key];
	}

	async claimSend(key: string, now: number): Promise<SendMark> {
		const mark = this.sends[key];
		if (typeof mark === 'string') return mark.startsWith('sent|') ? 'sent' : 'sending';
		this.sends[key] = `sending|${now}`;
		return 'claimed';
	}

	async markSent(key: string, now: number): Promise<void> {
		this.sends[key] = `sent|${now}`;
	}

	async releaseSend(key: string): Promise<void> {
		if (this.sends[key]?.startsWith('sending|')) delete this.sends[key];
	}

	async pruneSends(limit: RateLimit, keepMs: number, now: number): Promise<void> {
		pruneState(this.s, limit, now, this.maxOneOff);
		for (const [key, mark] of Object.entries(this.sends))
			if (now - Number(mark.split('|')[1]) > keepMs) delete this.sends[key];
	}
}
