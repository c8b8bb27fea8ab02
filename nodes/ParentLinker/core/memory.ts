/**
 * The linker's memory of mails it linked (Message-ID → parent), kept in a plain object (n8n's
 * workflow static data) and bounded: the oldest entries go first once `limit` is passed.
 */
import type { ThreadRef } from '../../shared/threadId';
import type { ThreadMemory } from './link';

type Linked = ThreadRef & { parentType: string; parentId: string };

export class ObjectThreadMemory implements ThreadMemory {
	constructor(
		/** Insertion-ordered: Message-IDs are never integer-like keys, so order is kept. */
		private readonly data: Record<string, string>,
		private readonly limit: number,
	) {}

	get(messageId: string): Linked | undefined {
		const v = this.data[messageId];
		if (typeof v !== 'string') return undefined;
		const [parentType, caseNumber, ...id] = v.split('|');
		return {
			parentType,
			parentId: id.join('|'),
			caseNumber: caseNumber ? Number(caseNumber) : null,
		};
	}

	set(messageId: string, ref: Linked): void {
		// Re-inserting moves the entry to the young end.
		delete this.data[messageId];
		this.data[messageId] = `${ref.parentType}|${ref.caseNumber ?? ''}|${ref.parentId}`;
	}

	/** Drops the oldest entries beyond the limit; once per execution, not per mail. */
	trim(): void {
		const keys = Object.keys(this.data);
		for (let i = 0; i < keys.length - this.limit; i++) delete this.data[keys[i]];
	}
}
