/**
 * Node state in PostgreSQL, shared by every n8n process that runs the workflow (queue mode's
 * workers, several mains): each StateStore operation is one statement or one short transaction —
 * an upsert `… RETURNING` for case numbers, `INSERT … ON CONFLICT` for links and marks, a row lock
 * (`ON CONFLICT DO UPDATE`) for round-robin, a transaction-scoped advisory lock for least-busy and
 * rate limits. Tables are created and migrated on first use (versioned, under an advisory lock),
 * in a schema of their own or with a table prefix, so the database n8n itself uses will do.
 * One `pg` Pool per connection setting per process; idle connections close after a while, an
 * unused pool is ended, and none keeps the process alive (n8n's shutdown is not held up).
 */
import { createHash } from 'node:crypto';
import { Pool, type PoolClient, type PoolConfig } from 'pg';

import { CrmEmailError } from '../errors';
import type {
	Assignment,
	CaseRecord,
	CaseRetention,
	LinkedParent,
	OptOutStore,
	RateLimit,
	RoutedMail,
	SendMark,
	StateStore,
} from './types';

export interface PostgresSettings {
	host: string;
	port: number;
	database: string;
	user: string;
	password: string;
	/** disable: plain TCP; require: TLS without checking the certificate; verify: TLS, checked. */
	ssl: 'disable' | 'require' | 'verify';
	/** Schema of the tables (created when missing). */
	schema: string;
	/** Put before each table's name, e.g. `crm_email_`. */
	tablePrefix: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;

/** An ended pool after this long without use; its idle connections close sooner. */
const POOL_IDLE_MS = 5 * 60_000;
/** Retention runs at most this often per node and process: it scans, the rest are point queries. */
const PRUNE_EVERY_MS = 10 * 60_000;

interface Shared {
	pool: Pool;
	/** Schema + prefix → migrated. */
	migrated: Map<string, Promise<void>>;
	timer: NodeJS.Timeout | null;
	where: string;
}

const pools = new Map<string, Shared>();
const lastPrune = new Map<string, number>();

function settingsKey(s: PostgresSettings): string {
	return createHash('sha256')
		.update(JSON.stringify([s.host, s.port, s.database, s.user, s.password, s.ssl]))
		.digest('hex');
}

function shared(s: PostgresSettings): Shared {
	const key = settingsKey(s);
	let entry = pools.get(key);
	if (!entry) {
		const config: PoolConfig = {
			host: s.host,
			port: s.port,
			database: s.database,
			user: s.user,
			password: s.password,
			ssl: s.ssl === 'disable' ? false : { rejectUnauthorized: s.ssl === 'verify' },
			max: 10,
			idleTimeoutMillis: 10_000,
			connectionTimeoutMillis: 10_000,
			allowExitOnIdle: true,
		};
		const pool = new Pool(config);
		// An idle connection the server dropped must not crash n8n: the next query reconnects.
		pool.on('error', () => undefined);
		entry = {
			pool,
			migrated: new Map(),
			timer: null,
			where: `${s.host}:${s.port}/${s.database}`,
		};
		pools.set(key, entry);
	}
	const e = entry;
	if (e.timer) clearTimeout(e.timer);
	e.timer = setTimeout(() => {
		pools.delete(key);
		void e.pool.end().catch(() => undefined);
	}, POOL_IDLE_MS);
	e.timer.unref();
	return e;
}

/** Ends every pool of this process (tests, benchmarks; n8n exits without it). */
export async function closePostgresPools(): Promise<void> {
	const all = [...pools.values()];
	pools.clear();
	for (const e of all) if (e.timer) clearTimeout(e.timer);
	await Promise.all(all.map((e) => e.pool.end().catch(() => undefined)));
}

/** The versioned schema: each entry runs once, in order, recorded in `<prefix>migrations`. */
function migrations(t: (name: string) => string): string[] {
	return [
		`CREATE TABLE ${t('counters')} (node text PRIMARY KEY, value bigint NOT NULL);
		CREATE TABLE ${t('cases')} (node text NOT NULL, number bigint NOT NULL, record jsonb NOT NULL,
			status text NOT NULL, assignee text, updated_at bigint NOT NULL, PRIMARY KEY (node, number));
		CREATE INDEX ON ${t('cases')} (node, assignee);
		CREATE TABLE ${t('threads')} (node text NOT NULL, message_id text NOT NULL,
			case_number bigint NOT NULL, seq bigserial, PRIMARY KEY (node, message_id));
		CREATE INDEX ON ${t('threads')} (node, seq);
		CREATE TABLE ${t('routed')} (node text NOT NULL, message_id text NOT NULL,
			case_number bigint NOT NULL, route text NOT NULL, fingerprint text NOT NULL, seq bigserial,
			PRIMARY KEY (node, message_id));
		CREATE INDEX ON ${t('routed')} (node, seq);
		CREATE TABLE ${t('round_robin')} (node text NOT NULL, pool text NOT NULL, last text NOT NULL,
			PRIMARY KEY (node, pool));
		CREATE TABLE ${t('links')} (node text NOT NULL, message_id text NOT NULL, value text NOT NULL,
			seq bigserial, PRIMARY KEY (node, message_id));
		CREATE INDEX ON ${t('links')} (node, seq);
		CREATE TABLE ${t('replies')} (id bigserial PRIMARY KEY, node text NOT NULL,
			recipient text NOT NULL, at bigint NOT NULL);
		CREATE INDEX ON ${t('replies')} (node, recipient, at);
		CREATE TABLE ${t('marks')} (node text NOT NULL, key text NOT NULL, state text NOT NULL,
			at bigint NOT NULL, PRIMARY KEY (node, key));`,
		// Named opt-out lists belong to no node: one workflow fills them, others read them.
		`CREATE TABLE ${t('opt_out')} (list text NOT NULL, address text NOT NULL,
			added_at bigint NOT NULL, PRIMARY KEY (list, address));`,
	];
}

function storeError(where: string, reading: boolean, error: unknown): CrmEmailError {
	if (error instanceof CrmEmailError) return error;
	const e = error as { message?: string; code?: string };
	return new CrmEmailError(
		reading ? 'STATE_READ_FAILED' : 'STATE_WRITE_FAILED',
		`PostgreSQL state store ${where}: ${e.code ? `${e.code} ` : ''}${e.message ?? String(error)}`,
		{ store: 'postgres' },
	);
}

function lowerCased(addresses: string[]): string[] {
	return [...new Set(addresses.map((a) => a.trim().toLowerCase()))];
}

/** Validates the schema and prefix: they become SQL identifiers. */
export function checkNames(s: Pick<PostgresSettings, 'schema' | 'tablePrefix'>): void {
	if (!IDENTIFIER.test(s.schema))
		throw new CrmEmailError(
			'CONFIG_INVALID',
			`Schema "${s.schema}" is not a plain SQL name (letters, digits, _; not starting with a digit)`,
		);
	if (s.tablePrefix !== '' && !/^[A-Za-z0-9_]{1,20}$/.test(s.tablePrefix))
		throw new CrmEmailError(
			'CONFIG_INVALID',
			`Table Prefix "${s.tablePrefix}" may hold only letters, digits and _ (at most 20)`,
		);
}

/**
 * The state of one node (`node`: workflow id and node id) in PostgreSQL. Cheap to make: the pool
 * and the migrations are shared per process.
 */
export class PostgresStateStore implements StateStore, OptOutStore {
	private readonly shared: Shared;
	private readonly where: string;

	constructor(
		private readonly settings: PostgresSettings,
		private readonly node: string,
	) {
		checkNames(settings);
		this.shared = shared(settings);
		this.where = `${this.shared.where} (schema ${settings.schema}, prefix "${settings.tablePrefix}")`;
	}

	private t(name: string): string {
		return `"${this.settings.schema}"."${this.settings.tablePrefix}${name}"`;
	}

	private migrate(): Promise<void> {
		const key = `${this.settings.schema}.${this.settings.tablePrefix}`;
		let done = this.shared.migrated.get(key);
		if (!done) {
			done = this.transaction(async (c) => {
				// One process migrates at a time; the others wait and find it done.
				await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
					`crm-email-migrate:${key}`,
				]);
				const exists = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
					this.settings.schema,
				]);
				if (!exists.rowCount) await c.query(`CREATE SCHEMA "${this.settings.schema}"`);
				await c.query(
					`CREATE TABLE IF NOT EXISTS ${this.t('migrations')} (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
				);
				const r = await c.query(
					`SELECT coalesce(max(version), 0) AS v FROM ${this.t('migrations')}`,
				);
				const current = Number(r.rows[0].v);
				const all = migrations((n) => this.t(n));
				if (current > all.length)
					throw new CrmEmailError(
						'STATE_READ_FAILED',
						`PostgreSQL state store ${this.where}: its tables are of version ${current}, newer than this package knows (${all.length}); update the package`,
					);
				for (let v = current + 1; v <= all.length; v++) {
					await c.query(all[v - 1]);
					await c.query(`INSERT INTO ${this.t('migrations')} (version) VALUES ($1)`, [v]);
				}
			}, false).catch((error) => {
				// Not cached: the next execution tries again (the server may be back).
				this.shared.migrated.delete(key);
				throw error;
			});
			this.shared.migrated.set(key, done);
		}
		return done;
	}

	private async query<R extends Record<string, unknown>>(
		sql: string,
		params: unknown[],
		reading = false,
	): Promise<R[]> {
		await this.migrate();
		try {
			return (await this.shared.pool.query(sql, params)).rows as R[];
		} catch (error) {
			throw storeError(this.where, reading, error);
		}
	}

	private async transaction<T>(fn: (c: PoolClient) => Promise<T>, migrate = true): Promise<T> {
		if (migrate) await this.migrate();
		let client: PoolClient;
		try {
			client = await this.shared.pool.connect();
		} catch (error) {
			throw storeError(this.where, true, error);
		}
		try {
			await client.query('BEGIN');
			const result = await fn(client);
			await client.query('COMMIT');
			return result;
		} catch (error) {
			await client.query('ROLLBACK').catch(() => undefined);
			throw storeError(this.where, false, error);
		} finally {
			client.release();
		}
	}

	// Case Router

	async nextNumber(): Promise<number> {
		// First use: above any case already written (e.g. found through a signed Message-ID).
		const rows = await this.query<{ value: string }>(
			`INSERT INTO ${this.t('counters')} AS c (node, value)
			VALUES ($1, 1 + coalesce((SELECT max(number) FROM ${this.t('cases')} WHERE node = $1), 0))
			ON CONFLICT (node) DO UPDATE SET value = c.value + 1 RETURNING value`,
			[this.node],
		);
		return Number(rows[0].value);
	}

	async getCase(number: number): Promise<CaseRecord | undefined> {
		const rows = await this.query<{ record: CaseRecord }>(
			`SELECT record FROM ${this.t('cases')} WHERE node = $1 AND number = $2`,
			[this.node, number],
			true,
		);
		return rows[0]?.record;
	}

	private putCaseSql(): string {
		// A case numbered above the counter (made elsewhere) raises it: that number is never handed out.
		return `WITH raise AS (UPDATE ${this.t('counters')} SET value = $2 WHERE node = $1 AND value < $2)
			INSERT INTO ${this.t('cases')} (node, number, record, status, assignee, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (node, number) DO UPDATE SET record = excluded.record, status = excluded.status,
				assignee = excluded.assignee, updated_at = excluded.updated_at`;
	}

	private putCaseParams(r: CaseRecord): unknown[] {
		return [
			this.node,
			r.number,
			JSON.stringify(r),
			r.status.toLowerCase(),
			r.assignee,
			r.updatedAt,
		];
	}

	async putCase(record: CaseRecord): Promise<void> {
		await this.query(this.putCaseSql(), this.putCaseParams(record));
	}

	async openCase(
		number: number,
		build: (assignee: string | null) => CaseRecord,
		assignment: Assignment,
	): Promise<CaseRecord> {
		return await this.transaction(async (c) => {
			// Least-busy counts the ledger: one pick at a time per node, so that two workers never
			// both see the same member as the least busy. Otherwise one case number at a time: two
			// workers opening the same case (one mail routed twice at once) take one turn, not two.
			const lock = assignment.kind === 'leastBusy' ? 'least-busy' : `case ${number}`;
			await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
				`crm-email:${this.node}|${lock}`,
			]);
			const existing = await c.query<{ record: CaseRecord }>(
				`SELECT record FROM ${this.t('cases')} WHERE node = $1 AND number = $2`,
				[this.node, number],
			);
			if (existing.rows.length) return existing.rows[0].record;
			let assignee: string | null = null;
			if (assignment.kind === 'fixed') assignee = assignment.userId;
			else if (assignment.kind === 'roundRobin' && assignment.members.length) {
				// The pool's row locked: the member after the last one, wrapping; the first when the
				// last one is unknown or gone.
				const r = await c.query<{ last: string }>(
					`INSERT INTO ${this.t('round_robin')} AS r (node, pool, last) VALUES ($1, $2, ($3::text[])[1])
					ON CONFLICT (node, pool) DO UPDATE
					SET last = coalesce(($3::text[])[array_position($3::text[], r.last) + 1], ($3::text[])[1])
					RETURNING last`,
					[this.node, assignment.pool, assignment.members],
				);
				assignee = r.rows[0].last;
			} else if (assignment.kind === 'leastBusy') {
				const r = await c.query<{ assignee: string; n: string }>(
					`SELECT assignee, count(*) AS n FROM ${this.t('cases')}
					WHERE node = $1 AND assignee = ANY($2) AND NOT (status = ANY($3)) GROUP BY assignee`,
					[this.node, assignment.members, assignment.closed],
				);
				const counts = new Map(r.rows.map((row) => [row.assignee, Number(row.n)]));
				let fewest = Infinity;
				for (const id of assignment.members) {
					const n = counts.get(id) ?? 0;
					if (n < fewest) [assignee, fewest] = [id, n];
				}
			}
			const record = build(assignee);
			await c.query(this.putCaseSql(), this.putCaseParams(record));
			return record;
		});
	}

	async caseForMessage(messageId: string): Promise<number | undefined> {
		const rows = await this.query<{ case_number: string }>(
			`SELECT case_number FROM ${this.t('threads')} WHERE node = $1 AND message_id = $2`,
			[this.node, messageId],
			true,
		);
		return rows.length ? Number(rows[0].case_number) : undefined;
	}

	async linkMessage(messageId: string, number: number): Promise<void> {
		await this.query(
			`INSERT INTO ${this.t('threads')} (node, message_id, case_number) VALUES ($1, $2, $3)
			ON CONFLICT (node, message_id) DO NOTHING`,
			[this.node, messageId, number],
		);
	}

	async routedMail(messageId: string): Promise<RoutedMail | undefined> {
		const rows = await this.query<{ case_number: string; route: string; fingerprint: string }>(
			`SELECT case_number, route, fingerprint FROM ${this.t('routed')} WHERE node = $1 AND message_id = $2`,
			[this.node, messageId],
			true,
		);
		const r = rows[0];
		return r
			? {
					number: Number(r.case_number),
					route: r.route === 'followUp' ? 'followUp' : 'newCase',
					fingerprint: r.fingerprint,
				}
			: undefined;
	}

	async recordRoute(messageId: string, routed: RoutedMail): Promise<RoutedMail> {
		const rows = await this.query(
			`INSERT INTO ${this.t('routed')} (node, message_id, case_number, route, fingerprint)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node, message_id) DO NOTHING RETURNING 1`,
			[this.node, messageId, routed.number, routed.route, routed.fingerprint],
		);
		if (rows.length) return routed;
		// Recorded by an earlier or a concurrent attempt (committed: ON CONFLICT waited for it).
		return (await this.routedMail(messageId)) ?? routed;
	}

	private due(kind: string, now: number): boolean {
		const key = `${this.where}|${this.node}|${kind}`;
		if (now - (lastPrune.get(key) ?? -Infinity) < PRUNE_EVERY_MS) return false;
		lastPrune.set(key, now);
		return true;
	}

	async prune(now: number, retention: CaseRetention, closed: Set<string>): Promise<void> {
		if (!this.due('cases', now)) return;
		await this.transaction(async (c) => {
			const gone = await c.query<{ number: string }>(
				`DELETE FROM ${this.t('cases')} WHERE node = $1 AND status = ANY($2) AND updated_at < $3
				RETURNING number`,
				[this.node, [...closed], now - retention.closedMs],
			);
			const numbers = gone.rows.map((r) => r.number);
			for (const table of ['threads', 'routed']) {
				if (numbers.length)
					await c.query(
						`DELETE FROM ${this.t(table)} WHERE node = $1 AND case_number = ANY($2::bigint[])`,
						[this.node, numbers],
					);
				await this.cap(c, table, retention.maxThreads);
			}
		});
	}

	/** Keeps the newest `limit` rows of a node in a table with a `seq`. */
	private async cap(c: PoolClient, table: string, limit: number): Promise<void> {
		await c.query(
			`DELETE FROM ${this.t(table)} WHERE node = $1 AND seq <= (
				SELECT seq FROM ${this.t(table)} WHERE node = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`,
			[this.node, limit],
		);
	}

	// Parent Linker

	async getLinks(messageIds: string[]): Promise<Map<string, LinkedParent>> {
		const out = new Map<string, LinkedParent>();
		if (!messageIds.length) return out;
		const rows = await this.query<{ message_id: string; value: string }>(
			`SELECT message_id, value FROM ${this.t('links')} WHERE node = $1 AND message_id = ANY($2)`,
			[this.node, [...new Set(messageIds)]],
			true,
		);
		for (const r of rows) out.set(r.message_id, JSON.parse(r.value) as LinkedParent);
		return out;
	}

	async putLinks(links: Array<[string, LinkedParent]>): Promise<void> {
		if (!links.length) return;
		// The last link per Message-ID wins, as in the file store; a refreshed link becomes the newest.
		const latest = new Map(links);
		await this.query(
			`INSERT INTO ${this.t('links')} (node, message_id, value)
			SELECT $1, * FROM unnest($2::text[], $3::text[])
			ON CONFLICT (node, message_id) DO UPDATE SET value = excluded.value,
				seq = nextval(pg_get_serial_sequence('${this.t('links').replace(/'/g, "''")}', 'seq'))`,
			[this.node, [...latest.keys()], [...latest.values()].map((v) => JSON.stringify(v))],
		);
	}

	async trimLinks(limit: number): Promise<void> {
		if (!this.due('links', Date.now())) return;
		await this.transaction(async (c) => await this.cap(c, 'links', limit));
	}

	// Template Sender

	async countReply(recipient: string, limit: RateLimit, now: number): Promise<boolean> {
		return await this.transaction(async (c) => {
			await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
				`crm-email-rate:${this.node}|${recipient}`,
			]);
			const r = await c.query<{ n: string }>(
				`SELECT count(*) AS n FROM ${this.t('replies')} WHERE node = $1 AND recipient = $2 AND at > $3`,
				[this.node, recipient, now - limit.windowMs],
			);
			if (Number(r.rows[0].n) >= limit.max) return false;
			await c.query(`INSERT INTO ${this.t('replies')} (node, recipient, at) VALUES ($1, $2, $3)`, [
				this.node,
				recipient,
				now,
			]);
			return true;
		});
	}

	async forgetReply(recipient: string, at: number): Promise<void> {
		await this.query(
			`DELETE FROM ${this.t('replies')} WHERE id = (SELECT id FROM ${this.t('replies')}
			WHERE node = $1 AND recipient = $2 AND at = $3 LIMIT 1)`,
			[this.node, recipient, at],
		);
	}

	async markOneOff(key: string, now: number): Promise<boolean> {
		const rows = await this.query(
			`INSERT INTO ${this.t('marks')} (node, key, state, at) VALUES ($1, $2, 'oneOff', $3)
			ON CONFLICT (node, key) DO NOTHING RETURNING 1`,
			[this.node, `oneOff:${key}`, now],
		);
		return rows.length > 0;
	}

	async forgetOneOff(key: string): Promise<void> {
		await this.query(`DELETE FROM ${this.t('marks')} WHERE node = $1 AND key = $2`, [
			this.node,
			`oneOff:${key}`,
		]);
	}

	async claimSend(key: string, now: number): Promise<SendMark> {
		const rows = await this.query<{ state: string; mine: boolean }>(
			`WITH ins AS (INSERT INTO ${this.t('marks')} (node, key, state, at) VALUES ($1, $2, 'sending', $3)
				ON CONFLICT (node, key) DO NOTHING RETURNING state)
			SELECT state, true AS mine FROM ins
			UNION ALL SELECT state, false FROM ${this.t('marks')} WHERE node = $1 AND key = $2`,
			[this.node, `send:${key}`, now],
		);
		const mine = rows.find((r) => r.mine);
		if (mine) return 'claimed';
		// Claimed by a concurrent attempt not yet visible to this statement: it is being sent.
		return rows[0]?.state === 'sent' ? 'sent' : 'sending';
	}

	async markSent(key: string, now: number): Promise<void> {
		await this.query(
			`UPDATE ${this.t('marks')} SET state = 'sent', at = $3 WHERE node = $1 AND key = $2`,
			[this.node, `send:${key}`, now],
		);
	}

	async releaseSend(key: string): Promise<void> {
		await this.query(
			`DELETE FROM ${this.t('marks')} WHERE node = $1 AND key = $2 AND state = 'sending'`,
			[this.node, `send:${key}`],
		);
	}

	async pruneSends(limit: RateLimit, keepMs: number, now: number): Promise<void> {
		if (!this.due('sends', now)) return;
		await this.query(`DELETE FROM ${this.t('replies')} WHERE node = $1 AND at <= $2`, [
			this.node,
			now - limit.windowMs,
		]);
		// One-off marks stay: a one-off template is never sent twice to a recipient.
		await this.query(
			`DELETE FROM ${this.t('marks')} WHERE node = $1 AND key LIKE 'send:%' AND at < $2`,
			[this.node, now - keepMs],
		);
	}

	// Opt-out lists (no node column: shared across workflows)

	async addOptOuts(list: string, addresses: string[], now: number): Promise<string[]> {
		if (!addresses.length) return [];
		const rows = await this.query<{ address: string }>(
			`INSERT INTO ${this.t('opt_out')} (list, address, added_at)
			SELECT $1, a, $3 FROM unnest($2::text[]) AS a
			ON CONFLICT (list, address) DO NOTHING RETURNING address`,
			[list, lowerCased(addresses), now],
		);
		return rows.map((r) => r.address);
	}

	async optedOut(list: string, addresses: string[]): Promise<Set<string>> {
		if (!addresses.length) return new Set();
		const rows = await this.query<{ address: string }>(
			`SELECT address FROM ${this.t('opt_out')} WHERE list = $1 AND address = ANY($2::text[])`,
			[list, lowerCased(addresses)],
			true,
		);
		return new Set(rows.map((r) => r.address));
	}
}
