/**
 * The Case Router's state behind the async CaseStore interface (nodes/shared/state/types.ts): the
 * case counter, the ledger of cases, the thread (Message-ID) → case map, the round-robin positions
 * and how each mail was routed. This file holds the store of this n8n instance, a plain object:
 * the node's state file (see nodes/shared/nodeState.ts), static data in manual executions, or a
 * fresh {} in tests. Executions of one node are serialized around it, which makes each operation
 * atomic; the PostgreSQL store (nodes/shared/state/postgres.ts) does the same in SQL.
 */
import type {
	Assignment,
	CaseRecord,
	CaseRetention,
	CaseStore,
	RoutedMail,
} from '../../shared/state/types';
import { leastBusy, roundRobin } from './assign';

export type { CaseRecord, CaseStore } from '../../shared/state/types';

interface StoredState {
	counter: number;
	/** How far the counter floor has been raised (see CounterFloor). */
	reserved?: number;
	cases: Record<string, CaseRecord>;
	threads: Record<string, number>;
	roundRobin: Record<string, string>;
	/** Message-ID → "number|route|fingerprint" (see RoutedMail). */
	routed: Record<string, string>;
}

export type Retention = CaseRetention;

/**
 * The highest case number that may have been handed out, kept apart from the state so that it
 * survives the state's loss or damage. Raised durably before a number above it is handed out.
 */
export interface CounterFloor {
	read(): number;
	raise(upTo: number): void;
}

/** Numbers reserved in the floor at a time: one durable write per this many new cases. */
export const FLOOR_BLOCK = 100;

/**
 * The highest case number named in a (damaged, maybe truncated) stored state's text: the counter,
 * the floor reservation, case records' numbers and thread entries (`"<message-id>":N`). Only
 * object keys match: a quote inside a JSON string is always escaped.
 */
export function highestCaseNumber(text: string): number {
	let max = 0;
	for (const m of text.matchAll(/(?:"(?:counter|reserved|number)|>)":(\d{1,16})/g)) {
		const n = Number(m[1]);
		if (Number.isSafeInteger(n) && n > max) max = n;
	}
	return max;
}

export class ObjectCaseStore implements CaseStore {
	private readonly s: StoredState;
	/** Set when the state was behind: numbering resumed above the floor or the recovered number. */
	readonly resumedAbove: number | null = null;

	/**
	 * @param floor kept apart from `data` (production executions); without it numbers are only as
	 *   safe as `data`.
	 * @param recovered the highest number found in a damaged state's text (highestCaseNumber).
	 */
	constructor(
		data: Record<string, unknown>,
		private readonly floor: CounterFloor | null = null,
		recovered = 0,
	) {
		const reserved = floor?.read() ?? 0;
		const counter = typeof data.counter === 'number' ? data.counter : null;
		// Behind the floor: no counter (first run, state lost or damaged), or less reserved than the
		// floor holds (an older copy put back). Never a number handed out before: resume above.
		if (counter === null || (Number(data.reserved) || 0) < reserved) {
			const start = Math.max(counter ?? 0, reserved, recovered);
			data.counter = start;
			if (floor) data.reserved = reserved;
			if (start > (counter ?? 0)) this.resumedAbove = start;
		}
		for (const key of ['cases', 'threads', 'roundRobin', 'routed'])
			if (!data[key] || typeof data[key] !== 'object') data[key] = {};
		this.s = data as unknown as StoredState;
	}

	/** Raises the floor before `n` can leave this store. */
	private reserve(n: number): void {
		if (!this.floor || n <= (this.s.reserved ?? 0)) return;
		const upTo = n + FLOOR_BLOCK - 1;
		this.floor.raise(upTo);
		this.s.reserved = upTo;
	}

	async nextNumber(): Promise<number> {
		this.reserve(this.s.counter + 1);
		this.s.counter += 1;
		return this.s.counter;
	}

	async getCase(number: number): Promise<CaseRecord | undefined> {
		return this.s.cases[String(number)];
	}

	async putCase(record: CaseRecord): Promise<void> {
		if (record.number > this.s.counter) {
			this.reserve(record.number);
			this.s.counter = record.number;
		}
		const key = String(record.number);
		this.count(this.s.cases[key], -1);
		this.s.cases[key] = record;
		this.count(record, 1);
	}

	async caseForMessage(messageId: string): Promise<number | undefined> {
		return this.s.threads[messageId];
	}

	async linkMessage(messageId: string, number: number): Promise<void> {
		this.s.threads[messageId] ??= number;
	}

	async routedMail(messageId: string): Promise<RoutedMail | undefined> {
		const v = this.s.routed[messageId];
		if (typeof v !== 'string') return undefined;
		const [number, route, ...fingerprint] = v.split('|');
		return {
			number: Number(number),
			route: route === 'followUp' ? 'followUp' : 'newCase',
			fingerprint: fingerprint.join('|'),
		};
	}

	async recordRoute(messageId: string, routed: RoutedMail): Promise<RoutedMail> {
		const known = await this.routedMail(messageId);
		if (known) return known;
		this.s.routed[messageId] = `${routed.number}|${routed.route}|${routed.fingerprint}`;
		return routed;
	}

	async openCase(
		number: number,
		build: (assignee: string | null) => CaseRecord,
		assignment: Assignment,
	): Promise<CaseRecord> {
		// Opened already (the same mail routed again): no second turn, the case as it is.
		const existing = this.s.cases[String(number)];
		if (existing) return existing;
		let assignee: string | null = null;
		if (assignment.kind === 'fixed') assignee = assignment.userId;
		else if (assignment.kind === 'roundRobin') {
			const members = assignment.members.map((id) => ({ id }));
			assignee = roundRobin(members, this.s.roundRobin[assignment.pool] ?? null)?.id ?? null;
			if (assignee !== null) this.s.roundRobin[assignment.pool] = assignee;
		} else {
			const counts = this.openCounts(new Set(assignment.closed));
			assignee =
				leastBusy(
					assignment.members.map((id) => ({ id })),
					counts,
				)?.id ?? null;
		}
		const record = build(assignee);
		await this.putCase(record);
		return record;
	}

	/** Open cases per assignee, counted once per store (execution) and kept true by putCase. */
	private counts: { closed: Set<string>; byAssignee: Map<string, number> } | null = null;

	private openCounts(closed: Set<string>): Map<string, number> {
		const key = [...closed].sort().join('|');
		if (this.counts && [...this.counts.closed].sort().join('|') === key)
			return this.counts.byAssignee;
		const byAssignee = new Map<string, number>();
		this.counts = { closed, byAssignee };
		for (const c of Object.values(this.s.cases)) this.count(c, 1);
		return byAssignee;
	}

	private count(c: CaseRecord | undefined, by: 1 | -1): void {
		if (!this.counts || !c?.assignee || this.counts.closed.has(c.status.toLowerCase())) return;
		const m = this.counts.byAssignee;
		m.set(c.assignee, (m.get(c.assignee) ?? 0) + by);
	}

	/**
	 * Keeps the state bounded: closed cases older than the retention go, with their threads; the
	 * thread map and the routed-mail map are capped. Run once per execution. A reply to a
	 * forgotten case still finds it by its signed Message-ID or `[#N]` tag (as an unknown number:
	 * configurable).
	 */
	async prune(now: number, retention: Retention, closed: Set<string>): Promise<void> {
		const gone = new Set<number>();
		for (const [key, c] of Object.entries(this.s.cases)) {
			if (closed.has(c.status.toLowerCase()) && now - c.updatedAt > retention.closedMs) {
				this.count(c, -1);
				delete this.s.cases[key];
				gone.add(c.number);
			}
		}
		const dropped = gone.size > 0;
		capOldest(this.s.threads, retention.maxThreads, dropped ? (n) => gone.has(n) : null);
		capOldest(
			this.s.routed,
			retention.maxThreads,
			dropped ? (v) => gone.has(Number(v.slice(0, v.indexOf('|')))) : null,
		);
	}
}

/** Drops the oldest entries beyond `max` (insertion order) and those `drop` names. */
function capOldest<V>(map: Record<string, V>, max: number, drop: ((v: V) => boolean) | null): void {
	const keys = Object.keys(map);
	const excess = keys.length - max;
	// Most executions drop nothing: no pass over the map then.
	if (excess <= 0 && !drop) return;
	for (let i = 0; i < keys.length; i++) if (i < excess || drop?.(map[keys[i]])) delete map[keys[i]];
}
