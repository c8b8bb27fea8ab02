/**
 * The Case Router's state behind one small, async interface: the case counter, the ledger of
 * cases, the thread (Message-ID) → case map and the round-robin positions. Async so that a
 * database-backed store (for n8n's queue mode, several workers) can implement it without touching
 * the router. The default store keeps everything in a plain object: the node's state (see
 * nodes/shared/nodeState.ts), static data in manual executions, or a fresh {} in tests.
 */
export interface CaseRecord {
	number: number;
	id: string;
	name: string;
	status: string;
	assignee: string | null;
	team: string | null;
	contactId: string | null;
	accountId: string | null;
	leadId: string | null;
	createdAt: number;
	updatedAt: number;
	/** Addresses that wrote to or were copied on the case's mails (not ours); absent on old records. */
	participants?: string[];
}

export interface CaseStore {
	/** A new case number: increasing, never reused (also after retention drops old cases). */
	nextNumber(): Promise<number>;
	getCase(number: number): Promise<CaseRecord | undefined>;
	putCase(record: CaseRecord): Promise<void>;
	caseForMessage(messageId: string): Promise<number | undefined>;
	linkMessage(messageId: string, number: number): Promise<void>;
	lastAssignee(pool: string): Promise<string | null>;
	setLastAssignee(pool: string, userId: string): Promise<void>;
	/** Open cases per assignee (statuses not in `closed`). */
	openCounts(closed: Set<string>): Promise<Map<string, number>>;
}

interface StoredState {
	counter: number;
	/** How far the counter floor has been raised (see CounterFloor). */
	reserved?: number;
	cases: Record<string, CaseRecord>;
	threads: Record<string, number>;
	roundRobin: Record<string, string>;
}

export interface Retention {
	/** Closed cases untouched for this long are forgotten, with their thread entries. */
	closedMs: number;
	/** Most thread entries kept (oldest dropped first). */
	maxThreads: number;
}

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
		for (const key of ['cases', 'threads', 'roundRobin'])
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
		this.s.cases[String(record.number)] = record;
	}

	async caseForMessage(messageId: string): Promise<number | undefined> {
		return this.s.threads[messageId];
	}

	async linkMessage(messageId: string, number: number): Promise<void> {
		this.s.threads[messageId] = number;
	}

	async lastAssignee(pool: string): Promise<string | null> {
		return this.s.roundRobin[pool] ?? null;
	}

	async setLastAssignee(pool: string, userId: string): Promise<void> {
		this.s.roundRobin[pool] = userId;
	}

	async openCounts(closed: Set<string>): Promise<Map<string, number>> {
		const counts = new Map<string, number>();
		for (const c of Object.values(this.s.cases)) {
			if (!c.assignee || closed.has(c.status.toLowerCase())) continue;
			counts.set(c.assignee, (counts.get(c.assignee) ?? 0) + 1);
		}
		return counts;
	}

	/**
	 * Keeps the state bounded: closed cases older than the retention go, with their threads; the
	 * thread map is capped. Run once per execution. A reply to a forgotten case still finds it by
	 * its signed Message-ID or `[#N]` tag (as an unknown number: configurable).
	 */
	prune(now: number, retention: Retention, closed: Set<string>): void {
		const gone = new Set<number>();
		for (const [key, c] of Object.entries(this.s.cases)) {
			if (closed.has(c.status.toLowerCase()) && now - c.updatedAt > retention.closedMs) {
				delete this.s.cases[key];
				gone.add(c.number);
			}
		}
		const keys = Object.keys(this.s.threads);
		const excess = keys.length - retention.maxThreads;
		for (let i = 0; i < keys.length; i++) {
			if (i < excess || gone.has(this.s.threads[keys[i]])) delete this.s.threads[keys[i]];
		}
	}
}
