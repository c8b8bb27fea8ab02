/**
 * email-to-case.json in a real n8n in queue mode: PostgreSQL as n8n's database, Redis (Debian's
 * redis-server on loopback) carrying the queue, one main (runs the IMAP trigger) and two
 * `n8n worker` processes (run the executions), each with this package in its own nodes folder.
 * The imported workflow (not the shipped file) has its Parent Linker and Case Router switched to
 * the PostgreSQL state store, with a credential imported through n8n's CLI. A burst of mails is
 * appended to Dovecot; the state store's tables and the SMTP sink are then checked.
 *
 *   CRM_EMAIL_QUEUE_MAILS=1000 node --import tsx --test test/n8n/queue.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';
import { Client } from 'pg';

import { appendMails, Dovecot, makeMail } from '../../harness/dovecot';
import { waitFor } from '../../harness/intake';
import { ensureN8n, importEmailToCase, N8n, packPackage } from '../../harness/n8n';
import { Postgres } from '../../harness/postgres';
import { ensureRedis, Redis } from '../../harness/redis';
import { SmtpSink } from '../../harness/smtp';

/** Mails per burst: 1,000 (the burst) takes well under a minute on two cores. */
const MAILS = Number(process.env.CRM_EMAIL_QUEUE_MAILS ?? 1000);
const WORKFLOW = 'crmEmailToCase01';

let dovecot: Dovecot;
let support: ImapFlow;
let sink: SmtpSink;
let pg: Postgres;
let redis: Redis;
let n8n: N8n;
let db: Client;

interface Burst {
	/** First mails: Message-ID → sender. */
	firsts: Map<string, string>;
	/** Replies: Message-ID → the Message-ID of the first mail of their thread. */
	replies: Map<string, string>;
}

/** Three mails in four open a thread, each from its own sender; the fourth answers an earlier one. */
function burst(total: number, tag: string): { raw: string[]; burst: Burst } {
	const raw: string[] = [];
	const b: Burst = { firsts: new Map(), replies: new Map() };
	for (let i = 0; raw.length < total; i++) {
		const id = `${tag}-${i}@customer.example`;
		const from = `${tag}${i}@customer.example`;
		raw.push(makeMail({ from, subject: `Question ${tag} ${i}`, messageId: id }));
		b.firsts.set(id, from);
		if (i % 3 === 2 && raw.length < total) {
			const parent = `${tag}-${i - 2}@customer.example`;
			const reply = `${tag}-${i - 2}-re@customer.example`;
			raw.push(
				makeMail({
					from: `${tag}${i - 2}@customer.example`,
					subject: `Re: Question ${tag} ${i - 2}`,
					messageId: reply,
					headers: { 'In-Reply-To': `<${parent}>`, References: `<${parent}>` },
				}),
			);
			b.replies.set(reply, parent);
		}
	}
	return { raw, burst: b };
}

/**
 * The Case Router's PostgreSQL store: the case of each Message-ID (its `threads` table holds
 * first mails and replies), and how many cases each member has.
 */
async function routed(): Promise<{
	byId: Map<string, { caseNumber: number }>;
	assignees: Map<string, number>;
}> {
	const r = await db.query<{ message_id: string; case_number: string }>(
		`SELECT message_id, case_number FROM crm_email.threads WHERE node LIKE $1`,
		[`${WORKFLOW}:%`],
	);
	const byId = new Map(
		r.rows.map((row) => [
			row.message_id.replace(/^<|>$/g, ''),
			{ caseNumber: Number(row.case_number) },
		]),
	);
	const a = await db.query<{ assignee: string; n: string }>(
		`SELECT assignee, count(*) AS n FROM crm_email.cases WHERE node LIKE $1 GROUP BY assignee`,
		[`${WORKFLOW}:%`],
	);
	return { byId, assignees: new Map(a.rows.map((row) => [row.assignee, Number(row.n)])) };
}

const autoRepliesTo = (address: string) => sink.messages.filter((m) => m.to.includes(address));

/** Mails of the burst without a case. */
async function unrouted(b: Burst): Promise<string[]> {
	const { byId } = await routed();
	return [...b.firsts.keys(), ...b.replies.keys()].filter((id) => !byId.has(id));
}

/**
 * No case duplicated: each routed first mail its own case number (none of `taken`), each routed
 * reply whose first mail was routed in its thread's case. Returns the case numbers of the routed first mails.
 */
async function assertNoDuplicate(b: Burst, taken: number[] = []): Promise<number[]> {
	const { byId } = await routed();
	const numbers = [...b.firsts.keys()].flatMap((id) => byId.get(id)?.caseNumber ?? []);
	assert.equal(new Set(numbers).size, numbers.length, 'every first mail its own case number');
	assert.deepEqual(
		numbers.filter((n) => taken.includes(n)),
		[],
		'no case number given out twice',
	);
	// A reply whose first mail got no case (lost with a killed execution) opens a case of its own.
	for (const [reply, parent] of b.replies)
		if (byId.has(reply) && byId.has(parent))
			assert.equal(
				byId.get(reply)!.caseNumber,
				byId.get(parent)?.caseNumber,
				`${reply} joins its thread's case`,
			);
	return numbers;
}

async function waitForN8n(cond: () => Promise<boolean>, timeoutMs: number, what: string) {
	const started = Date.now();
	while (!(await cond())) {
		if (Date.now() - started > timeoutMs)
			throw new Error(`timed out waiting for ${what}; n8n said:\n${n8n.log.slice(-60).join('\n')}`);
		await new Promise((r) => setTimeout(r, 1_000));
	}
}

before(async () => {
	ensureRedis();
	const bins = ensureN8n();
	dovecot = new Dovecot([{ user: 'support', password: 'secret' }]);
	await dovecot.start();
	support = await dovecot.client();
	sink = await new SmtpSink().start();
	pg = new Postgres();
	await pg.start();
	db = new Client(pg.connection());
	await db.connect();
	redis = new Redis();
	await redis.start();
	n8n = new N8n(bins, undefined, {
		database: pg.connection(),
		redis: { host: redis.host, port: redis.port },
		encryptionKey: 'queue-mode-test-encryption-key',
	});
	const packDir = mkdtempSync(join(tmpdir(), 'crm-email-pack-'));
	try {
		n8n.installPackage(packPackage(packDir));
	} finally {
		rmSync(packDir, { recursive: true, force: true });
	}
	importEmailToCase(n8n, {
		imap: dovecot.credentials(),
		smtp: sink.credentials(),
		postgres: pg.connection(),
	});
	await n8n.start(1);
	await n8n.startWorkers(2);
});

after(async () => {
	await n8n?.destroy();
	await db?.end().catch(() => undefined);
	await redis?.destroy();
	await pg?.destroy();
	await sink?.stop();
	await support?.logout().catch(() => undefined);
	await dovecot?.destroy();
});

/** The id of n8n's execution that a log line names (`Worker started execution 12 (job 3)`). */
const executionOf = (line: string) => /execution (\d+)/.exec(line)?.[1];

describe('email-to-case.json in n8n queue mode (main + two workers, PostgreSQL store)', () => {
	let firstNumbers: number[] = [];

	it(`a burst of ${MAILS} mails: every case number unique, every reply in its thread's case, round-robin spread at most 1, one auto-reply per new case, executions on both workers`, async () => {
		const { raw, burst: b } = burst(MAILS, 'a');
		const started = Date.now();
		await appendMails(support, 'INBOX', raw);
		await waitForN8n(
			async () => (await unrouted(b)).length === 0,
			8 * 60_000,
			`${raw.length} mails routed`,
		);
		await waitFor(() => sink.messages.length >= b.firsts.size, 120_000, 'the auto-replies');
		const seconds = (Date.now() - started) / 1000;
		console.log(
			`# ${raw.length} mails through main + 2 workers in ${seconds.toFixed(0)} s (${(raw.length / seconds).toFixed(1)} mails/s)`,
		);
		firstNumbers = await assertNoDuplicate(b);

		const counts = [...(await routed()).assignees.values()];
		assert.equal(counts.length, 3, 'every member got cases');
		assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `round-robin spread: ${counts}`);

		await new Promise((r) => setTimeout(r, 3_000));
		const { byId } = await routed();
		for (const [id, from] of b.firsts) {
			const replies = autoRepliesTo(from);
			assert.equal(replies.length, 1, `one auto-reply to ${from}`);
			const number = byId.get(id)!.caseNumber;
			assert.match(replies[0].parsed.subject ?? '', new RegExp(`^\\[#${number}\\] Re: `));
		}
		assert.equal(sink.messages.length, b.firsts.size, 'no auto-reply to a reply');

		// Both workers ran executions.
		for (const w of n8n.workers)
			assert.ok(
				n8n.log.some((l) => l.startsWith(`[${w.name}] `) && /Worker finished execution/.test(l)),
				`${w.name} ran executions`,
			);
	});

	describe('a worker killed (SIGKILL) while it runs an execution of a burst', () => {
		const { raw, burst: b } = burst(MAILS, 'k');
		let killedExecution: string | undefined;

		before(async () => {
			const from = n8n.log.length;
			// Watched while the mails are still being appended: the trigger starts on the first ones.
			const appending = appendMails(support, 'INBOX', raw);
			appending.catch(() => undefined);
			// The second execution of the burst, killed as soon as its worker has it (an execution
			// of 50 mails takes about a second: the log is watched closely).
			const started = Date.now();
			let line: string | undefined;
			while (!line) {
				line = n8n.log.slice(from).filter((l) => /Worker started execution/.test(l))[1];
				if (Date.now() - started > 10 * 60_000) throw new Error('no second execution');
				await new Promise((r) => setTimeout(r, 20));
			}
			const victim = n8n.workers.find((w) => line.startsWith(`[${w.name}] `));
			assert.ok(victim, `the execution ran on a worker: ${line}`);
			killedExecution = executionOf(line);
			await n8n.killWorker(victim);
			await appending;
			// n8n notices the dead worker's job once its lock expires (60 s by default), then the
			// trigger carries on with the burst; the last mail of the burst then has a case.
			const last = [...b.firsts.keys()].at(-1)!;
			await waitForN8n(
				async () => {
					const { rows } = await db.query<{ status: string }>(
						`SELECT status FROM execution_entity WHERE id = $1`,
						[killedExecution],
					);
					return rows[0]?.status === 'error' && (await routed()).byId.has(last);
				},
				10 * 60_000,
				'the killed execution marked failed and the burst routed',
			);
			await new Promise((r) => setTimeout(r, 5_000));
		});

		it('n8n marks the killed execution failed (Bull stalled job, not re-run on the other worker)', async () => {
			const { rows } = await db.query<{ data: string }>(
				`SELECT data FROM execution_data WHERE "executionId" = $1`,
				[killedExecution],
			);
			assert.match(rows[0].data, /failed to be processed too many times/);
			assert.equal(
				n8n.log.filter((l) => new RegExp(`finished execution ${killedExecution} `).test(l)).length,
				0,
				'no worker finished it',
			);
		});

		it('no mail lost, no case duplicated: the trigger fetches the lost batch again, and it is routed once', async () => {
			// n8n marked the killed execution failed; the trigger fetches its batch again (5 s later).
			await waitForN8n(
				async () => (await unrouted(b)).length === 0,
				2 * 60_000,
				'every mail of the burst routed',
			);
			await assertNoDuplicate(b, firstNumbers);
			// The Sender is on PostgreSQL too: a mail answered before the kill is not answered again
			// (at most one auto-reply each; one the killed run may have sent is SENT_BY_FAILED_EXECUTION).
			await new Promise((r) => setTimeout(r, 3_000));
			for (const from of b.firsts.values())
				assert.ok(autoRepliesTo(from).length <= 1, `at most one auto-reply to ${from}`);
		});
	});
});
