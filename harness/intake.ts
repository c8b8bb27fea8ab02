import type { CrmEmailError } from '../nodes/shared/errors';
import type { IntakeState } from '../nodes/ImapTrigger/core/cursor';
import { ImapIntake, type IntakeOptions, type StateStore } from '../nodes/ImapTrigger/intake';
import type { MailRecord } from '../nodes/ImapTrigger/core/mail';
import type { Dovecot } from './dovecot';

/** Stands in for n8n's static data: what is saved is a JSON copy, as n8n stores it. */
export class MemoryStore implements StateStore {
	saved: string | undefined;
	load(): unknown {
		return this.saved === undefined ? undefined : JSON.parse(this.saved);
	}
	save(state: IntakeState): void {
		this.saved = JSON.stringify(state);
	}
}

export async function waitFor(
	cond: () => boolean,
	timeoutMs = 10_000,
	what = 'condition',
): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!cond()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 25));
	}
}

export function options(dovecot: Dovecot, over: Partial<IntakeOptions> = {}): IntakeOptions {
	return {
		credentials: dovecot.credentials(),
		folders: ['INBOX'],
		fetchSince: new Date(0),
		afterFetch: 'nothing',
		batchSize: 50,
		maxMailBytes: 10 * 1024 * 1024,
		attachments: { include: true, maxBytes: 10 * 1024 * 1024 },
		mode: 'poll',
		pollIntervalMs: 60_000,
		reconnect: { initialMs: 100, maxMs: 500, reportAfter: 3 },
		...over,
	};
}

/** An intake whose deliveries and reported errors are recorded. */
export class Harness {
	batches: MailRecord[][] = [];
	errors: CrmEmailError[] = [];
	logs: Array<{ level: string; message: string }> = [];
	intake: ImapIntake;
	onDeliver?: (records: MailRecord[]) => Promise<void> | void;

	constructor(
		opts: IntakeOptions,
		readonly store: StateStore = new MemoryStore(),
	) {
		this.intake = new ImapIntake(opts, store, {
			deliver: async (records) => {
				this.batches.push(records);
				await this.onDeliver?.(records);
			},
			reportError: (e) => this.errors.push(e),
			log: (level, message) => this.logs.push({ level, message }),
		});
	}

	get mails(): MailRecord[] {
		return this.batches.flat();
	}

	get subjects(): string[] {
		return this.mails.map((m) => m.json.subject);
	}

	async run(): Promise<void> {
		await this.intake.start();
		await this.intake.settled();
	}
}
