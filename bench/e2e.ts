/**
 * npm run bench:e2e — 1,000 customer mails (900 new threads, a tenth replies to earlier ones)
 * appended in a burst to one Dovecot mailbox while a real n8n (2.41.1, the test tier's install)
 * runs, one workflow at a time:
 *   1. baseline: n8n's built-in "Email Trigger (IMAP)" (defaults: mark as read, simple format)
 *      in a minimal workflow that reports each execution's Message-IDs to a collector over HTTP;
 *   2. the same minimal workflow with our CRM Email IMAP Trigger instead;
 *   3. the shipped email-to-case workflow, whole: filter, linker, router, auto-reply over SMTP.
 * Each run: mails/s from the first append to the last mail seen, and what was seen twice or never.
 * For email-to-case "seen" means: every thread has its case and exactly one auto-reply carrying
 * [#N], and every reply joined its thread's case (read from the Case Router's state file).
 * The mailbox is emptied and n8n restarted between runs; the mails are the same.
 *
 *   npm run bench:e2e [-- --mails 1000]
 */
import { createServer, type Server } from 'node:http';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImapFlow } from 'imapflow';

import { Dovecot, makeMail } from '../harness/dovecot';
import { ensureN8n, N8n, N8N_VERSION, packPackage } from '../harness/n8n';
import { SmtpSink } from '../harness/smtp';

const arg = (name: string, fallback: number) => {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const MAILS = arg('mails', 1000);
const root = join(__dirname, '..');
/** The Case Router keys its thread map by the Message-ID in angle brackets. */
const key = (id: string) => `<${norm(id)}>`;
const norm = (id: unknown) =>
	String(id ?? '')
		.trim()
		.replace(/^<|>$/g, '')
		.toLowerCase();

interface Mail {
	raw: string;
	messageId: string;
	/** The thread's first mail (itself for a new thread). */
	root: string;
	customer: string;
}

/** Every tenth mail answers an earlier thread (the customer's client keeps In-Reply-To). */
function mails(count: number): Mail[] {
	const out: Mail[] = [];
	const roots: Mail[] = [];
	for (let i = 0; i < count; i++) {
		if (i % 10 === 9) {
			const parent = roots[(i * 7919) % roots.length];
			const messageId = `reply${i}.bench@customers.example`;
			out.push({
				raw: makeMail({
					from: `Customer ${parent.customer} <${parent.customer}@customers.example>`,
					subject: `Re: Request ${parent.root}`,
					messageId,
					headers: { 'In-Reply-To': `<${parent.root}>`, References: `<${parent.root}>` },
					body: 'Any news about this?',
				}),
				messageId,
				root: parent.root,
				customer: parent.customer,
			});
		} else {
			// Three threads per customer: under the auto-reply's limit of 5 per sender and 2 hours.
			const customer = `c${roots.length % Math.ceil(count / 3)}`;
			const messageId = `new${i}.bench@customers.example`;
			const mail: Mail = {
				raw: makeMail({
					from: `Customer ${customer} <${customer}@customers.example>`,
					subject: `Request ${messageId}`,
					messageId,
					body: `Hello, ${'something does not work as it should. '.repeat(8)}\nRegards`,
				}),
				messageId,
				root: messageId,
				customer,
			};
			roots.push(mail);
			out.push(mail);
		}
	}
	return out;
}

/** Receives the Message-IDs each execution of a minimal workflow saw. */
class Collector {
	seen = new Map<string, number>();
	firstAt = 0;
	lastAt = 0;
	executions = 0;
	port = 0;
	private server: Server = createServer((req, res) => {
		let body = '';
		req.on('data', (d) => (body += d));
		req.on('end', () => {
			try {
				const ids = (JSON.parse(body) as { ids: unknown[] }).ids;
				this.executions++;
				for (const id of ids) this.seen.set(norm(id), (this.seen.get(norm(id)) ?? 0) + 1);
				this.lastAt = performance.now();
				this.firstAt ||= this.lastAt;
			} catch {
				// a malformed report counts as nothing
			}
			res.end('ok');
		});
	});

	async start(): Promise<this> {
		await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
		this.port = (this.server.address() as { port: number }).port;
		return this;
	}

	reset(): void {
		this.seen.clear();
		this.firstAt = 0;
		this.lastAt = 0;
		this.executions = 0;
	}

	async stop(): Promise<void> {
		await new Promise((r) => this.server.close(r));
	}
}

function minimalWorkflow(
	id: string,
	trigger: Record<string, unknown>,
	idsExpression: string,
	collectorUrl: string,
): Record<string, unknown> {
	return {
		id,
		name: id,
		nodes: [
			{ id: `${id}-t`, name: 'Trigger', position: [0, 0], ...trigger },
			{
				id: `${id}-h`,
				name: 'Report',
				type: 'n8n-nodes-base.httpRequest',
				typeVersion: 4.2,
				position: [260, 0],
				executeOnce: true,
				parameters: {
					method: 'POST',
					url: collectorUrl,
					sendBody: true,
					specifyBody: 'json',
					jsonBody: `={{ JSON.stringify({ ids: $input.all().map((i) => ${idsExpression}) }) }}`,
					options: {},
				},
			},
		],
		connections: { Trigger: { main: [[{ node: 'Report', type: 'main', index: 0 }]] } },
		settings: { executionOrder: 'v1' },
		active: false,
	};
}

async function emptyMailbox(client: ImapFlow): Promise<void> {
	const lock = await client.getMailboxLock('INBOX');
	try {
		if ((client.mailbox as { exists: number }).exists > 0)
			await client.messageDelete('1:*', { uid: false });
	} finally {
		lock.release();
	}
}

/** Appends the mails in order on one connection; returns when the last is stored. */
async function appendAll(client: ImapFlow, list: Mail[]): Promise<number> {
	const started = performance.now();
	for (const m of list) await client.append('INBOX', m.raw);
	return performance.now() - started;
}

async function until(cond: () => boolean, idleMs: number, lastProgress: () => number) {
	for (;;) {
		if (cond()) return true;
		if (performance.now() - lastProgress() > idleMs) return false;
		await new Promise((r) => setTimeout(r, 100));
	}
}

interface Row {
	name: string;
	seconds: number;
	/** From the first append to the first mail seen (a case's auto-reply, for email-to-case). */
	firstSeconds: number;
	appendSeconds: number;
	seen: number;
	duplicates: number;
	missed: number;
	executions: number;
	note?: string;
}

async function main(): Promise<void> {
	const list = mails(MAILS);
	const threads = list.filter((m) => m.root === m.messageId);
	const replies = list.length - threads.length;
	const bins = ensureN8n();
	const dovecot = new Dovecot([{ user: 'support', password: 'secret' }]);
	await dovecot.start();
	const client = await dovecot.client();
	const sink = await new SmtpSink().start();
	const collector = await new Collector().start();
	const n8n = new N8n(bins);
	const rows: Row[] = [];
	try {
		// Installed as users install it: the npm tarball in n8n's nodes folder.
		n8n.installPackage(packPackage(join(n8n.userFolder, 'pack')));
		const imap = dovecot.credentials();
		const creds = join(n8n.userFolder, 'credentials.json');
		writeFileSync(
			creds,
			JSON.stringify([
				{ id: 'crmImapSupport', name: 'Support (IMAP)', type: 'crmImapApi', data: imap },
				{
					id: 'crmSmtpSupport',
					name: 'Support (SMTP)',
					type: 'crmSmtpApi',
					data: sink.credentials(),
				},
				{
					id: 'builtinImap00001',
					name: 'Support (n8n IMAP)',
					type: 'imap',
					data: {
						host: imap.host,
						port: imap.port,
						user: imap.user,
						password: imap.password,
						secure: false,
						allowUnauthorizedCerts: false,
					},
				},
			]),
		);
		n8n.cli(['import:credentials', `--input=${creds}`]);

		const url = (tag: string) => `http://127.0.0.1:${collector.port}/${tag}`;
		const builtin = minimalWorkflow(
			'benchBuiltinImap',
			{
				type: 'n8n-nodes-base.emailReadImap',
				typeVersion: 2.2,
				parameters: { mailbox: 'INBOX', options: {} },
				credentials: { imap: { id: 'builtinImap00001', name: 'Support (n8n IMAP)' } },
			},
			`i.json.metadata['message-id']`,
			url('builtin'),
		);
		const ours = minimalWorkflow(
			'benchCrmImapOnly',
			{
				type: 'n8n-nodes-crm-email.crmEmailImapTrigger',
				typeVersion: 1,
				parameters: { folders: ['INBOX'], fetchSince: '', afterFetch: 'nothing', batchSize: 50 },
				credentials: { crmImapApi: { id: 'crmImapSupport', name: 'Support (IMAP)' } },
			},
			'i.json.messageId',
			url('ours'),
		);
		const emailToCase = JSON.parse(
			readFileSync(join(root, 'workflows', 'email-to-case.json'), 'utf8'),
		) as Record<string, unknown>;
		emailToCase.id = 'benchEmailToCase';
		for (const wf of [builtin, ours, emailToCase]) {
			const path = join(n8n.userFolder, `${String(wf.id)}.json`);
			writeFileSync(path, JSON.stringify(wf));
			n8n.cli(['import:workflow', `--input=${path}`]);
		}

		let previous = '';
		const activate = async (id: string) => {
			if (previous) n8n.cli(['unpublish:workflow', `--id=${previous}`]);
			n8n.cli(['publish:workflow', `--id=${id}`]);
			previous = id;
			await emptyMailbox(client);
			// Our trigger says when it watches; the built-in one says nothing: give it the same time.
			await n8n.start(id === 'benchBuiltinImap' ? 0 : 1);
			await new Promise((r) => setTimeout(r, 3_000));
		};

		for (const [name, id] of [
			["n8n's Email Trigger (IMAP) → report", 'benchBuiltinImap'],
			['CRM Email IMAP Trigger → report', 'benchCrmImapOnly'],
		] as const) {
			console.log(`\n${name}: starting n8n…`);
			await activate(id);
			collector.reset();
			const started = performance.now();
			const appendMs = await appendAll(client, list);
			const want = new Set(list.map((m) => norm(m.messageId)));
			await until(
				() => [...want].every((m) => collector.seen.has(m)),
				60_000,
				() => Math.max(collector.lastAt, started + appendMs),
			);
			const doneAt = collector.lastAt;
			await new Promise((r) => setTimeout(r, 10_000)); // late duplicates
			await n8n.stop();
			let duplicates = 0;
			for (const n of collector.seen.values()) duplicates += n - 1;
			rows.push({
				name,
				seconds: (doneAt - started) / 1000,
				firstSeconds: (collector.firstAt - started) / 1000,
				appendSeconds: appendMs / 1000,
				seen: [...want].filter((m) => collector.seen.has(m)).length,
				duplicates,
				missed: [...want].filter((m) => !collector.seen.has(m)).length,
				executions: collector.executions,
			});
			console.log(rows[rows.length - 1]);
		}

		{
			const name = 'email-to-case, whole workflow';
			console.log(`\n${name}: starting n8n…`);
			await activate('benchEmailToCase');
			const stateDir = join(n8n.userFolder, '.n8n', 'crm-email-state');
			// The Case Router's file is the one with a case counter (the linker keeps threads too).
			const routerState = (): { counter?: number; threads?: Record<string, number> } => {
				try {
					for (const f of readdirSync(stateDir).filter((f) => f.startsWith('benchEmailToCase-'))) {
						const s = JSON.parse(readFileSync(join(stateDir, f), 'utf8')) as {
							counter?: number;
							threads?: Record<string, number>;
						};
						if (s.threads && typeof s.counter === 'number') return s;
					}
				} catch {
					// not written yet
				}
				return {};
			};
			sink.messages.length = 0;
			const started = performance.now();
			let lastProgressAt = started;
			let lastCount = 0;
			let firstReplyAt = 0;
			const watchFirst = setInterval(() => {
				if (!firstReplyAt && sink.messages.length) firstReplyAt = performance.now();
			}, 20);
			const appendMs = await appendAll(client, list);
			let state: ReturnType<typeof routerState> = {};
			const linked = () => {
				const t = state.threads ?? {};
				return list.filter((m) => t[key(m.messageId)] !== undefined).length;
			};
			// The state files are read only once every auto-reply is out: reading and parsing them
			// every 100 ms would take CPU from n8n while it is being measured.
			await until(
				() => {
					if (sink.messages.length !== lastCount) {
						lastCount = sink.messages.length;
						lastProgressAt = performance.now();
					}
					if (sink.messages.length < threads.length) return false;
					state = routerState();
					return linked() >= list.length;
				},
				90_000,
				() => Math.max(lastProgressAt, started + appendMs),
			);
			const doneAt = performance.now();
			clearInterval(watchFirst);
			await new Promise((r) => setTimeout(r, 10_000));
			await n8n.stop();
			state = routerState();
			const t = state.threads ?? {};
			const caseOf = new Map(threads.map((m) => [m.messageId, t[key(m.messageId)]]));
			const repliesPerThread = new Map<string, number>();
			for (const m of sink.messages) {
				const inReplyTo = norm(m.parsed.inReplyTo);
				repliesPerThread.set(inReplyTo, (repliesPerThread.get(inReplyTo) ?? 0) + 1);
			}
			const tagged = sink.messages.filter((m) => /^\[#\d+\] /.test(m.parsed.subject ?? '')).length;
			const followUps = list.filter(
				(m) =>
					m.root !== m.messageId &&
					caseOf.get(m.root) !== undefined &&
					t[key(m.messageId)] === caseOf.get(m.root),
			).length;
			const threadsAnswered = threads.filter((m) => repliesPerThread.get(norm(m.messageId)) === 1);
			const duplicates = [...repliesPerThread.values()].reduce((a, n) => a + Math.max(0, n - 1), 0);
			const answeredReplies = list.filter(
				(m) => m.root !== m.messageId && repliesPerThread.has(norm(m.messageId)),
			).length;
			const cases = new Set([...caseOf.values()].filter((c) => c !== undefined)).size;
			rows.push({
				name,
				seconds: (doneAt - started) / 1000,
				firstSeconds: (firstReplyAt - started) / 1000,
				appendSeconds: appendMs / 1000,
				seen: threadsAnswered.length + followUps,
				duplicates: duplicates + answeredReplies,
				missed: threads.length - threadsAnswered.length + (replies - followUps),
				executions: 0,
				note:
					`cases ${cases} (counter ${state.counter ?? 0}) for ${threads.length} threads, ` +
					`auto-replies ${sink.messages.length} (${tagged} with [#N]), follow-ups joined ` +
					`${followUps}/${replies}, auto-replies to follow-ups ${answeredReplies}`,
			});
			console.log(rows[rows.length - 1]);
		}
	} finally {
		await n8n.destroy();
		await collector.stop();
		await sink.stop();
		await client.logout().catch(() => undefined);
		await dovecot.destroy();
	}

	const [base, oursRow, whole] = rows;
	const rate = (r: Row) => MAILS / r.seconds;
	console.log(
		`\nbench:e2e — ${MAILS} mails (${threads.length} threads + ${replies} replies) appended in a burst ` +
			`on one IMAP connection while the workflow runs; n8n ${N8N_VERSION}. "append" is how long appending ` +
			`took (it competes with the trigger's fetching), a floor under "seconds".\n`,
	);
	console.log(
		'run                                       mails/s   seconds   append   first after   seen   twice   missed   executions',
	);
	for (const r of rows)
		console.log(
			`${r.name.padEnd(42)}${rate(r).toFixed(1).padStart(7)}${r.seconds.toFixed(1).padStart(10)}` +
				`${r.appendSeconds.toFixed(1).padStart(9)}${(r.firstSeconds.toFixed(1) + ' s').padStart(14)}` +
				`${String(r.seen).padStart(7)}${String(r.duplicates).padStart(8)}${String(r.missed).padStart(9)}` +
				`${(r.executions ? String(r.executions) : '').padStart(13)}`,
		);
	console.log(`\n${whole.name}: ${whole.note ?? ''}`);
	console.log(
		`\nratio, intake: CRM Email IMAP Trigger ${(rate(oursRow) / rate(base)).toFixed(2)}× n8n's Email Trigger (IMAP)` +
			`\nratio, whole email-to-case workflow vs n8n's Email Trigger (IMAP) alone: ${(rate(whole) / rate(base)).toFixed(2)}×`,
	);
}

void main().catch((error: unknown) => {
	console.error(error);
	process.exit(1);
});
