/**
 * One of the contention test's worker processes (see contention.test.ts): its own pg pool, the
 * Case Router's core and the Sender's store operations on the PostgreSQL store, as an n8n queue-
 * mode worker would run them. Jobs come over IPC; results go back the same way.
 */
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
	| { kind: 'exit' };

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

async function run(job: Exclude<Job, { kind: 'exit' }>): Promise<unknown> {
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
