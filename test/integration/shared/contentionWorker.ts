/**
 * One of the contention test's worker processes (see contention.test.ts): its own pg pool, the
 * Case Router's core, the Sender's store operations and the Template Sender node itself on the
 * PostgreSQL store, as an n8n queue-mode worker would run them. Jobs come over IPC; results go back
 * the same way.
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { fakeExecute } from '../../../harness/fakeExecute';
import { signingCredential } from '../../../harness/smtp';
import { routeMail, type RouterConfig } from '../../../nodes/CaseRouter/core/router';
import type { Strategy } from '../../../nodes/CaseRouter/core/assign';
import {
	closePostgresPools,
	PostgresStateStore,
	type PostgresSettings,
} from '../../../nodes/shared/state/postgres';

export type Job =
	| {
			kind: 'route';
			settings: PostgresSettings;
			node: string;
			strategy: Strategy;
			mails: Array<Record<string, unknown>>;
			/** Says how many mails are done after each this many (for the test to kill it midway). */
			progressEvery?: number;
	  }
	| {
			kind: 'rate';
			settings: PostgresSettings;
			node: string;
			recipients: string[];
			attempts: number;
			max: number;
	  }
	| { kind: 'oneOff'; settings: PostgresSettings; node: string; keys: string[] }
	| {
			/** One execution of the Template Sender (Auto-Reply) on these mails. */
			kind: 'autoReply';
			settings: PostgresSettings;
			workflowId: string;
			smtp: Record<string, unknown>;
			rateLimit: number;
			mails: IDataObject[];
	  }
	| { kind: 'exit' };

/** An auto-reply job's outcome per mail: "sent", or the Not Sent code. */
export type Answered = Array<{ messageId: string; outcome: string }>;

export interface Routed {
	messageId: string;
	route: string;
	number: number | null;
	assignee: string | null;
	/** This process sent the case's acknowledgement (claimed it, then marked it sent). */
	acked: boolean;
}

function config(strategy: Strategy): RouterConfig {
	return {
		tagPattern: /\[#(\d+)\]/,
		unknownTag: 'newCase',
		joinPolicy: 'participants',
		reopenOnReply: true,
		closed: new Set(['closed']),
		own: new Set(['support@example.com']),
		team: 'Support',
		strategy,
		openCounts: null,
		parseOwnId: null,
		now: Date.now(),
	};
}

async function autoReply(job: Extract<Job, { kind: 'autoReply' }>): Promise<Answered> {
	const node = new CrmEmailTemplateSender();
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'autoReply',
			from: '',
			subject: 'We got your mail',
			bodyText: 'Hello {Person.firstName}',
			bodyHtml: '',
			appendToSent: false,
			stateStore: 'postgres',
			options: { rateLimit: job.rateLimit, rateWindowHours: 1, retries: 0 },
		},
		inputs: [job.mails.map((json) => ({ json }))],
		credentials: {
			crmSmtpApi: job.smtp,
			crmEmailSigningApi: signingCredential,
			crmEmailPostgresApi: { ...job.settings },
		},
		mode: 'trigger',
		workflowId: job.workflowId,
	});
	const [sent, notSent, failed] = (await node.execute.call(f.ctx)) as INodeExecutionData[][];
	if (failed.length) throw new Error(`failed: ${JSON.stringify(failed.map((i) => i.json.error))}`);
	return [
		...sent.map((i) => ({ messageId: String(i.json.messageId), outcome: 'sent' })),
		...notSent.map((i) => ({
			messageId: String(i.json.messageId),
			outcome: String((i.json.notSent as IDataObject).code),
		})),
	];
}

async function run(job: Exclude<Job, { kind: 'exit' }>): Promise<unknown> {
	if (job.kind === 'autoReply') return await autoReply(job);
	const store = new PostgresStateStore(job.settings, job.node);
	if (job.kind === 'route') {
		const out: Routed[] = [];
		for (const mail of job.mails) {
			const r = await routeMail(mail, store, config(job.strategy));
			let acked = false;
			if (r.route === 'newCase') {
				// The auto-reply, at most once per incoming mail and template.
				const key = `${String(mail.messageId)}|ack`;
				if ((await store.claimSend(key, Date.now())) === 'claimed') {
					await store.markSent(key, Date.now());
					acked = true;
				}
			}
			out.push({
				messageId: String(mail.messageId),
				route: r.route,
				number: r.case?.number ?? null,
				assignee: r.case?.assignee ?? null,
				acked,
			});
			if (job.progressEvery && out.length % job.progressEvery === 0)
				process.send!({ progress: out.length });
		}
		return out;
	}
	if (job.kind === 'rate') {
		const allowed: Record<string, number> = {};
		const limit = { max: job.max, windowMs: 3_600_000 };
		for (let i = 0; i < job.attempts; i++)
			for (const r of job.recipients)
				if (await store.countReply(r, limit, Date.now())) allowed[r] = (allowed[r] ?? 0) + 1;
		return allowed;
	}
	let marked = 0;
	for (const key of job.keys) if (await store.markOneOff(key, Date.now())) marked++;
	return marked;
}

process.on('message', (job: Job) => {
	if (job.kind === 'exit') {
		void closePostgresPools().then(() => process.exit(0));
		return;
	}
	run(job).then(
		(result) => process.send!({ result }),
		(error: Error) => process.send!({ error: error.stack ?? error.message }),
	);
});
process.send!({ ready: true });
