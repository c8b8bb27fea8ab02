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
 * Prints mails/s and ms per mail side by side, with the ratio to the file store.
 *
 *   npm run bench:queue [-- --mails 3000]
 */
import { fork } from 'node:child_process';
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

async function main() {
	const total = arg('mails', 3000);
	const { Postgres } = await import('../harness/postgres');
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
	} finally {
		await closePostgresPools();
		await server.destroy();
	}
}
