/**
 * The linker's memory of mails it linked (Message-ID → parent), kept in a plain object (the
 * node's state on this n8n instance) and bounded: the oldest entries go first once `limit` is
 * passed. Also the file store's LinkStore (see nodes/shared/state/types.ts).
 */
import type { LinkedParent, LinkStore } from '../../shared/state/types';
import type { ThreadRef } from '../../shared/threadId';
import type { ThreadMemory } from './link';

type Linked = ThreadRef & { parentType: string; parentId: string };

export class ObjectThreadMemory implements ThreadMemory, LinkStore {
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
		this.drop(this.limit);
	}

	private drop(limit: number): void {
		const keys = Object.keys(this.data);
		for (let i = 0; i < keys.length - limit; i++) delete this.data[keys[i]];
	}

	async getLinks(messageIds: string[]): Promise<Map<string, LinkedParent>> {
		const out = new Map<string, LinkedParent>();
		for (const id of messageIds) {
			const linked = this.get(id);
			if (linked) out.set(id, { ...linked, caseNumber: linked.caseNumber ?? null });
		}
		return out;
	}

	async putLinks(links: Array<[string, LinkedParent]>): Promise<void> {
		for (const [id, ref] of links) this.set(id, ref);
	}

	async trimLinks(limit: number): Promise<void> {
		this.drop(limit);
	}
}

/**
 * The linker's ThreadMemory for one execution over any LinkStore: the links its mails can use are
 * read in one go before linking, the new ones written in one go after.
 */
export async function prefetchedMemory(
	store: LinkStore,
	threadIds: string[],
): Promise<ThreadMemory & { added: Array<[string, LinkedParent]> }> {
	const known = await store.getLinks(threadIds);
	const added: Array<[string, LinkedParent]> = [];
	return {
		added,
		get: (id) => known.get(id),
		set: (id, ref) => {
			const linked = {
				parentType: ref.parentType,
				parentId: ref.parentId,
				caseNumber: ref.caseNumber,
			};
			known.set(id, linked);
			added.push([id, linked]);
		},
	};
}
