/**
 * npm run bench:queue — what the PostgreSQL state store costs per mail, and what several
 * processes sharing it gain. The Case Router's core routes the same mails (first mails of new
 * threads and replies, round-robin) in executions of 50:
 *   file store (the baseline): this instance's store as production executions keep it — the state
 *     file read, 50 mails routed, written back durably (fsync, rename, fsync of the folder);
 *   PostgreSQL, one process: every operation a statement or a short transaction on a throwaway
 *     local cluster (harness/postgres.ts, fsync on);
 *   PostgreSQL, three processes at once (a main and two workers' share of the load), each its
 *     own pool: mails/s over the wall time of all three.
 * Then the whole shipped email-to-case workflow in a real n8n (the n8n test tier's install), a
 * burst of customer mails appended to Dovecot, timed from the first append until every new case
 * has its auto-reply (the burst ends with a first mail; one trigger hands over one batch at a
 * time, so every mail before it is routed by then):
 *   one process: regular mode, the shipped workflow unchanged (file store, SQLite) — the baseline
 *     of this part;
 *   main + two workers: queue mode (Redis, PostgreSQL as n8n's database), Linker and Router on
 *     the PostgreSQL store.
 * Prints mails/s and ms per mail side by side, with the ratio to each part's baseline.
 *
 *   npm run bench:queue [-- --mails 3000 --n8n-mails 500]   (--n8n-mails 0: the core part only)
 */
import { fork } from 'node:child_process';
import type { ImapFlow } from 'imapflow';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { routeMail, type RouterConfig } from '../nodes/CaseRouter/core/router';
import { ObjectCaseStore } from '../nodes/CaseRouter/core/store';
import {
	closePostgresPools,
	PostgresStateStore,
	type PostgresSettings,
} from '../nodes/shared/state/postgres';
import { floorFile, loadStateFile, writeStateFile } from '../nodes/shared/stateFile';
import type { CaseStore } from '../nodes/shared/state/types';
import { appendMails, Dovecot, makeMail } from '../harness/dovecot';
import { waitFor } from '../harness/intake';
import { ensureN8n, importEmailToCase, N8n, N8N_VERSION, packPackage } from '../harness/n8n';
import { Postgres } from '../harness/postgres';
import { Redis } from '../harness/redis';
import { SmtpSink } from '../harness/smtp';

const arg = (name: string, fallback: number) => {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

const BATCH = 50;

type Mail = Record<string, unknown>;

/** Three mails in four open a thread; the fourth replies to a thread opened a while before. */
function mails(total: number, tag: string): Mail[] {
	const out: Mail[] = [];
	for (let i = 0; out.length < total; i++) {
		out.push({
			messageId: `<${tag}-${i}@customer.example>`,
			subject: `Question ${i}`,
			from: { address: `customer${i}@customer.example` },
			text: 'Hello, I have a question about my order.',
			headers: {},
		});
		if (i % 3 === 2 && i > 60 && out.length < total)
			out.push({
				messageId: `<${tag}-${i}-re@customer.example>`,
				inReplyTo: `<${tag}-${i - 60}@customer.example>`,
				subject: `Re: Question ${i - 60}`,
				from: { address: `customer${i - 60}@customer.example` },
				text: 'Any news?',
				headers: {},
			});
	}
	return out;
}

function config(): RouterConfig {
	return {
		tagPattern: /\[#(\d+)\]/,
		unknownTag: 'newCase',
		joinPolicy: 'participants',
		reopenOnReply: true,
		closed: new Set(['closed']),
		own: new Set(['support@example.com']),
		team: 'Support',
		strategy: { kind: 'roundRobin', members: ['u1', 'u2', 'u3'].map((id) => ({ id })) },
		openCounts: null,
		parseOwnId: null,
		now: Date.now(),
	};
}

async function routeAll(all: Mail[], storeFor: () => CaseStore, save: () => void = () => {}) {
	let followUps = 0;
	for (let i = 0; i < all.length; i += BATCH) {
		const store = storeFor();
		for (const m of all.slice(i, i + BATCH))
			if ((await routeMail(m, store, config())).route === 'followUp') followUps++;
		await store.prune(
			Date.now(),
			{ closedMs: 90 * 86_400_000, maxThreads: 200_000 },
			new Set(['closed']),
		);
		save();
	}
	return followUps;
}

async function fileStore(all: Mail[]): Promise<number> {
	const dir = mkdtempSync(join(tmpdir(), 'crm-email-bench-queue-'));
	const file = join(dir, 'state.json');
	const fail = (m: string) => {
		throw new Error(m);
	};
	let data: Record<string, unknown> = {};
	const started = process.hrtime.bigint();
	await routeAll(
		all,
		() => {
			data = loadStateFile(file, fail).data;
			return new ObjectCaseStore(data, floorFile(file, fail));
		},
		() => writeStateFile(file, JSON.stringify(data)),
	);
	const s = Number(process.hrtime.bigint() - started) / 1e9;
	rmSync(dir, { recursive: true, force: true });
	return s;
}

async function postgres(all: Mail[], settings: PostgresSettings, node: string): Promise<number> {
	const started = process.hrtime.bigint();
	const followUps = await routeAll(all, () => new PostgresStateStore(settings, node));
	if (followUps === 0) throw new Error('no reply joined its case');
	return Number(process.hrtime.bigint() - started) / 1e9;
}

if (process.argv.includes('--worker')) {
	// One of the "three processes": routes its share when told, reports its time.
	process.on('message', (m: { settings: PostgresSettings; mails: Mail[]; node: string }) => {
		void postgres(m.mails, m.settings, m.node).then(async (s) => {
			await closePostgresPools();
			process.send!({ s });
		});
	});
	process.send!({ ready: true });
} else {
	void main();
}

/** The same mails as raw messages for Dovecot, ending with a first mail (see above). */
function rawMails(total: number, tag: string): { raw: string[]; firsts: string[] } {
	const all = mails(total, tag);
	while (all.at(-1)?.inReplyTo) all.pop();
	const bare = (id: unknown) => String(id).replace(/^<|>$/g, '');
	return {
		raw: all.map((m) =>
			makeMail({
				from: (m.from as { address: string }).address,
				subject: String(m.subject),
				messageId: bare(m.messageId),
				headers: m.inReplyTo
					? { 'In-Reply-To': String(m.inReplyTo), References: String(m.inReplyTo) }
					: {},
			}),
		),
		firsts: all.filter((m) => !m.inReplyTo).map((m) => (m.from as { address: string }).address),
	};
}

/** Seconds from the first append until every first mail has its auto-reply. */
async function burst(client: ImapFlow, sink: SmtpSink, total: number, tag: string) {
	const { raw, firsts } = rawMails(total, tag);
	const started = process.hrtime.bigint();
	await appendMails(client, 'INBOX', raw);
	await waitFor(() => sink.messages.length >= firsts.length, 15 * 60_000, 'the auto-replies');
	const s = Number(process.hrtime.bigint() - started) / 1e9;
	const replied = new Set(sink.messages.flatMap((m) => m.to));
	const missing = firsts.filter((f) => !replied.has(f));
	if (missing.length || sink.messages.length !== firsts.length)
		throw new Error(`${tag}: auto-replies ${sink.messages.length}, missing ${missing.length}`);
	return { s, mails: raw.length };
}

/** email-to-case in one n8n process and in main + two workers (see the header). */
async function n8nRuns(total: number, pg: InstanceType<typeof Postgres>) {
	const bins = ensureN8n();
	const dovecot = new Dovecot([
		{ user: 'single', password: 'secret' },
		{ user: 'queue', password: 'secret' },
	]);
	await dovecot.start();
	const redis = new Redis();
	await redis.start();
	const sinks = [await new SmtpSink().start(), await new SmtpSink().start()];
	const single = new N8n(bins);
	const queue = new N8n(bins, undefined, {
		database: pg.connection(),
		redis: { host: redis.host, port: redis.port },
		encryptionKey: 'bench-queue-encryption-key',
	});
	const clients: ImapFlow[] = [];
	try {
		const tarball = packPackage(join(single.userFolder, 'pack'));
		const runs: Array<{ s: number; mails: number }> = [];
		for (const [k, n8n] of [single, queue].entries()) {
			const user = dovecot.users[k];
			n8n.installPackage(tarball);
			importEmailToCase(n8n, {
				imap: dovecot.credentials(user),
				smtp: sinks[k].credentials(),
				postgres: k === 1 ? pg.connection() : undefined,
			});
			await n8n.start(1);
			if (k === 1) await n8n.startWorkers(2);
			clients.push(await dovecot.client(user));
			runs.push(await burst(clients[k], sinks[k], total, k === 0 ? 'single' : 'queue'));
			await n8n.stop();
		}
		return runs;
	} finally {
		for (const c of clients) await c.logout().catch(() => undefined);
		await single.destroy();
		await queue.destroy();
		for (const s of sinks) await s.stop();
		await redis.destroy();
		await dovecot.destroy();
	}
}

async function main() {
	const total = arg('mails', 3000);
	const n8nMails = arg('n8n-mails', 500);
	const server = new Postgres();
	await server.start();
	try {
		const settings: PostgresSettings = {
			...server.connection(),
			ssl: 'disable',
			schema: 'crm_email',
			tablePrefix: '',
		};
		// Tables made before the clock starts, as in a running installation.
		await new PostgresStateStore(settings, 'warm-up').nextNumber();

		const file = await fileStore(mails(total, 'f'));
		const one = await postgres(mails(total, 'p'), settings, 'wf:one');

		const share = mails(total, 'q');
		const children = [0, 1, 2].map(() =>
			fork(__filename, ['--worker'], { execArgv: ['--import', 'tsx'] }),
		);
		await Promise.all(children.map((c) => new Promise((r) => c.once('message', r))));
		const started = process.hrtime.bigint();
		await Promise.all(
			children.map(
				(c, k) =>
					new Promise((resolve) => {
						c.once('message', resolve);
						c.send({ settings, node: 'wf:three', mails: share.filter((_, i) => i % 3 === k) });
					}),
			),
		);
		const three = Number(process.hrtime.bigint() - started) / 1e9;
		for (const c of children) c.kill();

		const row = (name: string, s: number) =>
			`${name.padEnd(34)} ${(total / s).toFixed(0).padStart(8)} mails/s ${((s / total) * 1000).toFixed(3).padStart(8)} ms/mail   x${(file / s).toFixed(2)}`;
		console.log(`${total} mails (first mails and replies), executions of ${BATCH}, round-robin`);
		console.log(row('file store (baseline)', file));
		console.log(row('PostgreSQL, one process', one));
		console.log(row('PostgreSQL, three processes', three));

		if (n8nMails > 0) {
			const [one, queued] = await n8nRuns(n8nMails, server);
			const n8nRow = (name: string, r: { s: number; mails: number }) =>
				`${name.padEnd(34)} ${(r.mails / r.s).toFixed(1).padStart(8)} mails/s ${((r.s / r.mails) * 1000).toFixed(1).padStart(8)} ms/mail   x${(r.mails / r.s / (one.mails / one.s)).toFixed(2)}`;
			console.log(
				`email-to-case in a real n8n ${N8N_VERSION}: ${one.mails} mails appended in a burst, until the last auto-reply`,
			);
			console.log(n8nRow('one process, file store (baseline)', one));
			console.log(n8nRow('main + 2 workers, PostgreSQL store', queued));
		}
	} finally {
		await closePostgresPools();
		await server.destroy();
	}
}
