/**
 * npm run bench:router — 100,000 mails in 20,000 threads routed through the Case Router's core and
 * its static-data store, in executions of 50 mails, the store serialized after each execution as
 * n8n saves static data. A simulated clock moves 10 minutes per execution; each case is closed
 * after its thread's last mail, and closed cases are forgotten after the retention (1 day here).
 * Prints mails/s and the stored state size, which must stay bounded. The baseline is the same run
 * with retention off (state grows with every case ever opened). A third run keeps the state as
 * production executions do: read from its file, written back durably (temp file, fsync, rename,
 * fsync of the folder) after each execution, case numbers reserved in the floor file.
 *
 *   npm run bench:router [-- --mails 100000 --threads 20000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { routeMail, updateCase, type RouterConfig } from '../nodes/CaseRouter/core/router';
import { ObjectCaseStore } from '../nodes/CaseRouter/core/store';
import { floorFile, loadStateFile, writeStateFile } from '../nodes/shared/stateFile';

const arg = (name: string, fallback: number) => {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

interface BenchMail {
	messageId: string;
	inReplyTo?: string;
	subject: string;
	from: { address: string; name: string };
	text: string;
	headers: Record<string, string>;
	last: boolean;
	thread: number;
}

/** Threads of mails/threads mails each; a thread's mails arrive a few hundred mails apart. */
function mails(total: number, threads: number): BenchMail[] {
	const per = Math.ceil(total / threads);
	const out: BenchMail[] = [];
	const window = 200;
	for (let base = 0; base < threads; base += window) {
		for (let k = 0; k < per; k++) {
			for (let t = base; t < Math.min(threads, base + window); t++) {
				if (out.length >= total) return out;
				out.push({
					messageId: `<t${t}.m${k}@customer.example>`,
					inReplyTo: k > 0 ? `<t${t}.m${k - 1}@customer.example>` : undefined,
					subject: k > 0 ? `Re: Question ${t}` : `Question ${t}`,
					from: { address: `customer${t}@customer.example`, name: `Customer ${t}` },
					text: 'Hello, I have a question about my order.',
					headers: {},
					last: k === per - 1,
					thread: t,
				});
			}
		}
	}
	return out;
}

async function run(all: BenchMail[], retentionDays: number | null, file: string | null = null) {
	const data: Record<string, unknown> = {};
	let saved = '';
	let peak = 0;
	const closed = new Set(['closed', 'rejected', 'duplicate']);
	const caseOf = new Map<number, number>();
	let now = Date.UTC(2026, 0, 1);
	const counts = { newCase: 0, followUp: 0, ignored: 0 };
	const started = process.hrtime.bigint();
	for (let i = 0; i < all.length; i += 50) {
		// One execution: static data loaded, 50 mails routed, closed cases updated, data saved.
		const fail = (m: string) => {
			throw new Error(m);
		};
		const store = file
			? new ObjectCaseStore(loadStateFile(file, fail).data, floorFile(file, fail))
			: new ObjectCaseStore(saved ? (JSON.parse(saved) as Record<string, unknown>) : data);
		const config: RouterConfig = {
			tagPattern: /\[#(\d+)\]/,
			unknownTag: 'newCase',
			joinPolicy: 'participants',
			reopenOnReply: true,
			closed,
			own: new Set(['support@example.com']),
			team: 'Support',
			strategy: {
				kind: 'roundRobin',
				members: [{ id: 'u1' }, { id: 'u2' }, { id: 'u3' }, { id: 'u4' }],
			},
			openCounts: null,
			parseOwnId: null,
			now,
		};
		for (const m of all.slice(i, i + 50)) {
			const r = await routeMail(m, store, config);
			counts[r.route]++;
			if (r.case) caseOf.set(m.thread, r.case.number);
			if (m.last && r.case)
				await updateCase(store, { number: r.case.number, status: 'Closed', now });
		}
		if (retentionDays !== null)
			store.prune(now, { closedMs: retentionDays * 86_400_000, maxThreads: 200_000 }, closed);
		saved = JSON.stringify((store as unknown as { s: unknown }).s);
		if (file) writeStateFile(file, saved);
		peak = Math.max(peak, saved.length);
		now += 10 * 60_000;
	}
	const seconds = Number(process.hrtime.bigint() - started) / 1e9;
	return { seconds, size: saved.length, peak, counts, cases: caseOf.size };
}

async function main() {
	const total = arg('mails', 100_000);
	const threads = arg('threads', 20_000);
	const all = mails(total, threads);
	console.log(
		`Case Router: ${total.toLocaleString()} mails in ${threads.toLocaleString()} threads, executions of 50, static data saved after each`,
	);
	const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
	const ours = await run(all, 1);
	console.log(
		`  with retention (closed cases forgotten after 1 day): ${(total / ours.seconds).toFixed(0)} mails/s, state ${kb(ours.size)} at the end, peak ${kb(ours.peak)}; ${ours.counts.newCase} new cases, ${ours.counts.followUp} follow-ups`,
	);
	const base = await run(all, null);
	console.log(
		`  baseline without retention:                           ${(total / base.seconds).toFixed(0)} mails/s, state ${kb(base.size)} at the end (grows with every case)`,
	);
	console.log(
		`  ratio: ${(base.seconds / ours.seconds).toFixed(2)}× the baseline's speed; state ${(base.size / ours.size).toFixed(1)}× smaller`,
	);
	const dir = mkdtempSync(join(tmpdir(), 'bench-router-'));
	try {
		const durable = await run(all, 1, join(dir, 'wf-router.json'));
		console.log(
			`  with retention, state file as in production (durable save per execution): ${(total / durable.seconds).toFixed(0)} mails/s, ${(((durable.seconds - ours.seconds) / (total / 50)) * 1000).toFixed(2)} ms more per execution of 50 mails (${((ours.seconds / durable.seconds) * 100).toFixed(0)}% of the in-memory speed)`,
		);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
	const ok = ours.counts.newCase === threads && ours.counts.followUp === total - threads;
	console.log(
		`  correctness: ${ok ? 'one case per thread, every other mail a follow-up' : 'WRONG COUNTS'}`,
	);
}

if (require.main === module) void main();
