/**
 * Queue mode's contention on the PostgreSQL store, with real processes: 8 OS processes (each its
 * own pg pool, as n8n workers) route at the same time 1,000 first mails of new threads — a
 * quarter of them twice, by two processes at once, as a retried or rerun execution would — then
 * 500 replies; and hammer the Sender's rate limit and one-off marks; and run the Template Sender
 * node in each on the same 200 incoming mails at once, against a real SMTP server. Everything
 * asserted exactly.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';

import type { PostgresSettings } from '../../../nodes/shared/state/postgres';
import { Postgres } from '../../../harness/postgres';
import { SmtpSink } from '../../../harness/smtp';
import type { Answered, Job, Routed } from './contentionWorker';

const PROCESSES = 8;
const FIRST = 1000;
const REPLIES = 500;
const MEMBERS = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'];

const server = new Postgres();
const sink = new SmtpSink();
let settings: PostgresSettings;
const workers: ChildProcess[] = [];

function ask(w: ChildProcess, job: Job): Promise<unknown> {
	return new Promise((resolve, reject) => {
		const onMessage = (m: { result?: unknown; error?: string; progress?: number }) => {
			if (m.progress !== undefined) return;
			w.off('message', onMessage);
			if (m.error) reject(new Error(m.error));
			else resolve(m.result);
		};
		w.on('message', onMessage);
		w.send(job);
	});
}

async function startWorker(): Promise<ChildProcess> {
	const w = fork(join(__dirname, 'contentionWorker.ts'), [], {
		execArgv: ['--import', 'tsx'],
		stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
	});
	await new Promise((resolve) => w.once('message', resolve));
	return w;
}

/** Each process's share of `jobs`, all started at once. */
async function all<T>(jobs: Job[]): Promise<T[]> {
	return (await Promise.all(jobs.map((job, k) => ask(workers[k], job)))) as T[];
}

before(async () => {
	await server.start();
	await sink.start();
	settings = { ...server.connection(), ssl: 'disable', schema: 'crm_email', tablePrefix: '' };
	for (let k = 0; k < PROCESSES; k++) workers.push(await startWorker());
});

after(async () => {
	await Promise.all(
		workers.map(
			(w) =>
				new Promise((resolve) => {
					w.once('exit', resolve);
					w.send({ kind: 'exit' });
				}),
		),
	);
	await server.destroy();
	await sink.stop();
});

async function sql<R>(text: string, params: unknown[] = []): Promise<R[]> {
	const c = new Client(server.connection());
	await c.connect();
	try {
		return (await c.query(text, params)).rows as R[];
	} finally {
		await c.end();
	}
}

const firstMail = (i: number) => ({
	messageId: `<first-${i}@customer.example>`,
	subject: `Problem ${i}`,
	date: '2026-01-02T03:04:05.000Z',
	from: { address: `customer${i}@customer.example` },
	headers: {},
});

const replyMail = (j: number) => ({
	messageId: `<reply-${j}@customer.example>`,
	inReplyTo: `<first-${j * 2}@customer.example>`,
	subject: `Re: Problem ${j * 2}`,
	date: '2026-01-02T05:00:00.000Z',
	from: { address: `customer${j * 2}@customer.example` },
	headers: {},
});

/** Mails spread over the processes in turn; `twice` also go to the next process, side by side. */
function spread<M>(mails: M[], twice: (i: number) => boolean): M[][] {
	const lists: M[][] = Array.from({ length: PROCESSES }, () => []);
	mails.forEach((m, i) => {
		lists[i % PROCESSES].push(m);
		if (twice(i)) lists[(i + 1) % PROCESSES].push(m);
	});
	return lists;
}

describe('8 processes on one PostgreSQL store', { timeout: 600_000 }, () => {
	it('1,000 first mails (250 routed twice at once) and 500 replies: exact numbers', async () => {
		const node = 'wf:contention-rr';
		const strategy = { kind: 'roundRobin' as const, members: MEMBERS.map((id) => ({ id })) };
		const firsts = Array.from({ length: FIRST }, (_, i) => firstMail(i));
		const routed = (
			await all<Routed[]>(
				spread(firsts, (i) => i % 4 === 0).map((mails) => ({
					kind: 'route',
					settings,
					node,
					strategy,
					mails,
				})),
			)
		).flat();
		assert.equal(routed.length, FIRST + FIRST / 4);
		assert.ok(routed.every((r) => r.route === 'newCase'));
		// One case per mail: a mail routed twice got the same case (and assignee) both times.
		const caseOf = new Map<string, Routed>();
		for (const r of routed) {
			const before = caseOf.get(r.messageId);
			if (before) assert.deepEqual([r.number, r.assignee], [before.number, before.assignee]);
			else caseOf.set(r.messageId, r);
		}
		assert.equal(caseOf.size, FIRST);
		const numbers = [...caseOf.values()].map((r) => r.number);
		assert.equal(new Set(numbers).size, FIRST, 'every case number unique');
		const cases = await sql<{ n: string }>(
			'SELECT count(*) AS n FROM crm_email.cases WHERE node = $1',
			[node],
		);
		assert.equal(Number(cases[0].n), FIRST, 'no case without its mail');
		// Round-robin: the turns went round evenly.
		const perMember = await sql<{ assignee: string; n: string }>(
			'SELECT assignee, count(*) AS n FROM crm_email.cases WHERE node = $1 GROUP BY assignee',
			[node],
		);
		const counts = perMember.map((r) => Number(r.n));
		assert.equal(perMember.length, MEMBERS.length);
		assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `spread ${counts.join(',')}`);
		// At most one acknowledgement per mail, and one for each.
		assert.equal(routed.filter((r) => r.acked).length, FIRST);
		assert.equal(new Set(routed.filter((r) => r.acked).map((r) => r.messageId)).size, FIRST);

		const replies = Array.from({ length: REPLIES }, (_, j) => replyMail(j));
		const followUps = (
			await all<Routed[]>(
				spread(replies, () => false).map((mails) => ({
					kind: 'route',
					settings,
					node,
					strategy,
					mails,
				})),
			)
		).flat();
		assert.equal(followUps.length, REPLIES);
		for (const r of followUps) {
			const j = Number(/reply-(\d+)@/.exec(r.messageId)![1]);
			assert.equal(r.route, 'followUp', r.messageId);
			assert.equal(r.number, caseOf.get(`<first-${j * 2}@customer.example>`)!.number, r.messageId);
			assert.equal(r.acked, false);
		}
		const after = await sql<{ n: string }>(
			'SELECT count(*) AS n FROM crm_email.cases WHERE node = $1',
			[node],
		);
		assert.equal(Number(after[0].n), FIRST, 'replies open no case');
	});

	it('least-busy: 8 processes opening a case at the same instant, 20 times: counts stay exact', async () => {
		const node = 'wf:contention-lb';
		const members = MEMBERS.slice(0, 5);
		const strategy = { kind: 'leastBusy' as const, members: members.map((id) => ({ id })) };
		for (let burst = 0; burst < 20; burst++) {
			// Each process one new mail, all sent at once: without the lock they would all count the
			// same ledger and pick the same member.
			await all<Routed[]>(
				workers.map((_, k) => ({
					kind: 'route',
					settings,
					node,
					strategy,
					mails: [{ ...firstMail(burst * PROCESSES + k), messageId: `<lb-${burst}-${k}@c>` }],
				})),
			);
			const rows = await sql<{ assignee: string; n: string }>(
				'SELECT assignee, count(*) AS n FROM crm_email.cases WHERE node = $1 GROUP BY assignee',
				[node],
			);
			const counts = members.map((m) => Number(rows.find((r) => r.assignee === m)?.n ?? 0));
			assert.equal(
				counts.reduce((a, b) => a + b, 0),
				(burst + 1) * PROCESSES,
			);
			assert.ok(
				Math.max(...counts) - Math.min(...counts) <= 1,
				`burst ${burst}: ${counts.join(',')}`,
			);
		}
	});

	it('rate limit and one-off marks: exactly as many as allowed', async () => {
		const node = 'wf:contention-sender';
		const recipients = Array.from({ length: 20 }, (_, i) => `r${i}@customer.example`);
		const allowed = await all<Record<string, number>>(
			workers.map(() => ({ kind: 'rate', settings, node, recipients, attempts: 6, max: 5 })),
		);
		for (const r of recipients)
			assert.equal(
				allowed.reduce((sum, a) => sum + (a[r] ?? 0), 0),
				5,
				`replies to ${r}`,
			);
		const keys = Array.from({ length: 200 }, (_, i) => `welcome|k${i}@customer.example`);
		const marked = await all<number>(workers.map(() => ({ kind: 'oneOff', settings, node, keys })));
		assert.equal(
			marked.reduce((a, b) => a + b, 0),
			keys.length,
		);
	});

	it('a worker killed midway: its rerun loses no mail and duplicates no case', async () => {
		const node = 'wf:contention-kill';
		const strategy = { kind: 'roundRobin' as const, members: MEMBERS.map((id) => ({ id })) };
		const mails = Array.from({ length: 300 }, (_, i) => ({
			...firstMail(i),
			messageId: `<kill-${i}@c>`,
		}));
		const doomed = await startWorker();
		const killed = new Promise<void>((resolve) => {
			doomed.on('message', (m: { progress?: number }) => {
				if ((m.progress ?? 0) >= 100) doomed.kill('SIGKILL');
			});
			doomed.once('exit', () => resolve());
		});
		doomed.send({ kind: 'route', settings, node, strategy, mails, progressEvery: 10 });
		await killed;
		const done = await sql<{ n: string }>(
			'SELECT count(*) AS n FROM crm_email.routed WHERE node = $1',
			[node],
		);
		assert.ok(Number(done[0].n) >= 100 && Number(done[0].n) < 300, `killed after ${done[0].n}`);
		// The rerun (n8n retries the execution on another worker) routes all 300 again.
		const rerun = (await ask(workers[0], {
			kind: 'route',
			settings,
			node,
			strategy,
			mails,
		})) as Routed[];
		assert.equal(new Set(rerun.map((r) => r.number)).size, 300, 'one case per mail');
		const rows = await sql<{ n: string; numbers: string }>(
			'SELECT count(*) AS n, count(DISTINCT number) AS numbers FROM crm_email.cases WHERE node = $1',
			[node],
		);
		assert.deepEqual([Number(rows[0].n), Number(rows[0].numbers)], [300, 300]);
		const perMember = await sql<{ n: string }>(
			'SELECT count(*) AS n FROM crm_email.cases WHERE node = $1 GROUP BY assignee',
			[node],
		);
		const counts = perMember.map((r) => Number(r.n));
		assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `spread ${counts.join(',')}`);
	});

	it('the Template Sender in 8 processes on the same 200 mails: each answered once, rate limit exact', async () => {
		// 40 senders with 5 mails each; each process gets all 200, in its own order, all at once.
		const incoming = Array.from({ length: 200 }, (_, i) => ({
			messageId: `<in-${i}@customer.example>`,
			references: [],
			subject: `Question ${i}`,
			from: { address: `s${i % 40}@customer.example`, name: 'Ann' },
			replyTo: [],
			text: 'Hello',
			headers: {},
		}));
		const shuffled = (k: number) =>
			[...incoming].sort(
				(a, b) =>
					((Number(/\d+/.exec(a.messageId)![0]) * (k + 3)) % 199) -
					((Number(/\d+/.exec(b.messageId)![0]) * (k + 3)) % 199),
			);
		const round = async (workflowId: string, rateLimit: number) => {
			sink.messages.length = 0;
			const answers = await all<Answered>(
				workers.map((_, k) => ({
					kind: 'autoReply',
					settings,
					workflowId,
					smtp: sink.credentials(),
					rateLimit,
					mails: shuffled(k),
				})),
			);
			for (const a of answers) assert.equal(a.length, 200, 'every item on an output');
			const flat = answers.flat();
			const sentBy = new Map<string, number>();
			for (const a of flat)
				if (a.outcome === 'sent') sentBy.set(a.messageId, (sentBy.get(a.messageId) ?? 0) + 1);
			assert.ok(
				[...sentBy.values()].every((n) => n === 1),
				'an incoming mail answered by two processes',
			);
			const others = new Set(flat.filter((a) => a.outcome !== 'sent').map((a) => a.outcome));
			for (const code of others)
				assert.ok(['ALREADY_SENT', 'SENT_BY_FAILED_EXECUTION', 'RATE_LIMIT'].includes(code), code);
			// As the SMTP server received them: each incoming mail answered at most once.
			const answered = sink.messages.map((m) => String(m.parsed.inReplyTo));
			assert.equal(new Set(answered).size, answered.length, 'a mail auto-replied twice');
			assert.deepEqual([...answered].sort(), [...sentBy.keys()].sort());
			return sink.messages;
		};

		const unlimited = await round('wf:sender-all', 0);
		assert.equal(unlimited.length, 200, 'each mail auto-replied exactly once');

		const limited = await round('wf:sender-rate', 3);
		assert.equal(limited.length, 40 * 3);
		const perSender = new Map<string, number>();
		for (const m of limited) perSender.set(m.to[0], (perSender.get(m.to[0]) ?? 0) + 1);
		assert.equal(perSender.size, 40);
		assert.ok(
			[...perSender.values()].every((n) => n === 3),
			'rate limit not exact',
		);
	});
});
