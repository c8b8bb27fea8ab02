/**
 * The IMAP intake engine behind the trigger: the watermark protocol and the scheduling of drains
 * (on new mail, on a timer, after a reconnect), over the connection (connection.ts), the mailbox
 * reader (scan.ts) and the after-fetch action (afterFetch.ts). It imports nothing from n8n: the
 * trigger glue hands it a state store (n8n static data) and a `deliver` that resolves once the
 * workflow has the batch.
 */
import { CrmEmailError } from '../shared/errors';
import {
	describeImapError,
	imapAccount,
	withImapSession,
	type ImapCredentials,
} from '../shared/transport/imap';
import { applyAfterFetch } from './afterFetch';
import { IntakeConnection, type ConnectionSettings } from './connection';
import { commitPending, dropPending, normalizeState, type IntakeState } from './core/cursor';
import type { MailRecord } from './core/mail';
import type { TriggerSettings } from './core/options';
import { MailScanner, type IntakeLog, type Prepared } from './scan';

export interface IntakeOptions extends TriggerSettings {
	credentials: ImapCredentials;
	reconnect?: ConnectionSettings['reconnect'];
	/** How long after a batch the workflow did not take it is fetched again (default 5 s). */
	redeliverMs?: number;
}

export interface StateStore {
	load(): unknown;
	save(state: IntakeState): void;
}

export interface IntakeHooks {
	/** Resolves once the workflow has received the batch; rejects if it could not be started. */
	deliver(records: MailRecord[]): Promise<void>;
	/** A problem the admin must see (the connection stays down, a folder is missing, ...). */
	reportError(error: CrmEmailError): void;
	log?: IntakeLog;
}

function deliveryFailed(count: number, error: unknown): CrmEmailError {
	const reason = error instanceof Error ? error.message : String(error);
	return new CrmEmailError(
		'DELIVERY_FAILED',
		`The workflow could not take ${count} mails; they will be fetched again: ${reason}`,
	);
}

export class ImapIntake {
	private readonly connection: IntakeConnection;
	private readonly scanner: MailScanner;
	private stopped = false;
	private running?: Promise<void>;
	private again = false;
	private pollTimer?: NodeJS.Timeout;
	private renewTimer?: NodeJS.Timeout;
	private redeliverTimer?: NodeJS.Timeout;
	/** The OAuth2 token of the session nears its expiry: the next drain starts on a new session. */
	private renewDue = false;
	private reported = new Set<string>();
	private readonly account: string;

	constructor(
		private readonly opts: IntakeOptions,
		private readonly store: StateStore,
		private readonly hooks: IntakeHooks,
	) {
		if (opts.folders.length === 0)
			throw new CrmEmailError('CONFIG_INVALID', 'Folders: name at least one folder to watch');
		this.account = imapAccount(opts.credentials);
		const log = this.log;
		this.scanner = new MailScanner(opts, this.account, log);
		this.connection = new IntakeConnection(opts, {
			exists: () => this.request(),
			reconnected: () => {
				this.reported.clear();
				this.scheduleRenew();
				this.request();
			},
			report: (error) => this.report(error),
			log,
		});
	}

	/**
	 * Connects (a wrong password or a missing folder fails here, so activation shows it), then
	 * drains the backlog in the background and listens for new mail.
	 */
	async start(): Promise<void> {
		await this.connection.open();
		this.scheduleRenew();
		this.pollTimer = setInterval(() => this.request(), this.opts.pollIntervalMs);
		this.request();
	}

	async stop(): Promise<void> {
		this.stopped = true;
		clearInterval(this.pollTimer);
		clearTimeout(this.renewTimer);
		clearTimeout(this.redeliverTimer);
		// Log out first: a batch still in the workflow must not hold the connection open. Nothing
		// is lost by cutting a fetch short; its batch was not handed over and is found again.
		await this.connection.close();
		if (this.running) {
			await Promise.race([
				this.running.catch(() => undefined),
				new Promise((r) => setTimeout(r, 2000).unref()),
			]);
		}
	}

	/** Asks for a drain; several requests while one runs collapse into one more run. */
	request(): void {
		if (this.stopped) return;
		if (this.running) {
			this.again = true;
			return;
		}
		this.running = this.drainLoop().finally(() => {
			this.running = undefined;
			if (this.again && !this.stopped) {
				this.again = false;
				this.request();
			}
		});
	}

	/** Resolves once no drain is running or requested (for tests and benchmarks). */
	async settled(): Promise<void> {
		while (this.running) await this.running;
	}

	/**
	 * With OAuth2: a session is renewed before its token expires (Exchange Online ends a session
	 * whose token expired; Dovecot and Gmail do not check again), between drains, so an IDLE held
	 * for hours never runs on a dead token and no fetch is cut.
	 */
	private scheduleRenew(retryMs?: number): void {
		clearTimeout(this.renewTimer);
		const at = this.opts.credentials.oauth?.renewAt();
		if (this.stopped || (at == null && retryMs === undefined)) return;
		const delay = retryMs ?? Math.min(Math.max((at as number) - Date.now(), 1000), 2 ** 31 - 1);
		this.renewTimer = setTimeout(() => {
			this.renewDue = true;
			this.request();
		}, delay);
	}

	private async renewSession(): Promise<void> {
		this.renewDue = false;
		try {
			await this.connection.renew();
			this.scheduleRenew();
		} catch (error) {
			// The old session still serves while it lasts; a server that ends it is reconnected.
			this.report(describeImapError(error, this.opts.credentials));
			this.scheduleRenew(30_000);
		}
	}

	private async drainLoop(): Promise<void> {
		if (this.renewDue) await this.renewSession();
		const client = this.connection.client;
		if (!client || !client.usable) return;
		try {
			let state = normalizeState(this.store.load());
			if (state.pending) {
				// Handed to the workflow before the last stop: it must not be handed over again.
				state = commitPending(state);
				this.store.save(state);
			}
			let next = await this.scanner.prepare(client, state);
			for (;;) {
				const { selection, records } = next;
				let prefetch: Promise<Prepared> | undefined;
				if (records.length === 0) {
					if (Object.keys(selection.cursors).length > 0) {
						state = { ...state, folders: { ...state.folders, ...selection.cursors } };
						this.store.save(state);
					}
				} else {
					state = { ...state, pending: { folders: selection.cursors, keys: selection.keys } };
					this.store.save(state);
					const delivering = this.hooks.deliver(records);
					// While the workflow runs, the next batch is fetched as if this one is taken; it is
					// only handed over once this one is, and thrown away if this one fails.
					if (selection.more && !this.stopped) {
						prefetch = this.scanner.prepare(client, commitPending(state));
						prefetch.catch(() => undefined);
					}
					try {
						await delivering;
					} catch (error) {
						this.store.save(dropPending(state));
						throw deliveryFailed(records.length, error);
					}
					state = commitPending(state);
					this.store.save(state);
				}
				await applyAfterFetch(
					client,
					[...selection.deliver, ...selection.duplicates],
					this.opts,
					(e) => this.report(e),
				);
				if (!selection.more || this.stopped) break;
				next = await (prefetch ?? this.scanner.prepare(client, state));
			}
			if (this.opts.mode === 'idle' && !this.stopped)
				await client.mailboxOpen(this.opts.folders[0]);
			this.reported.clear();
		} catch (error) {
			const described = describeImapError(error, this.opts.credentials);
			if (described.code === 'IMAP_CONNECTION_LOST' || !client.usable) {
				this.log('warn', `IMAP connection lost during a fetch: ${described.message}`);
				client.close();
				return;
			}
			this.report(described);
			// Not taken (n8n lost the execution, or could not start it): the batch is fetched again
			// soon, not at the next new mail, which may never come.
			if (described.code === 'DELIVERY_FAILED' && !this.stopped) {
				clearTimeout(this.redeliverTimer);
				this.redeliverTimer = setTimeout(() => this.request(), this.opts.redeliverMs ?? 5_000);
			}
		}
	}

	/** Mails for the editor's "fetch test event": the newest ones, state untouched. */
	async latest(count: number): Promise<MailRecord[]> {
		return await withImapSession(
			this.opts.credentials,
			async (client) => await this.scanner.latest(client, count),
			{ disableAutoIdle: true, autoIdleDelay: 200 },
			(error) => this.log('debug', `IMAP client error: ${error.message}`),
		);
	}

	private report(error: CrmEmailError): void {
		// Commands cut short by a deactivation are not a problem to show.
		if (this.stopped) return;
		const key = `${error.code}:${error.message}`;
		if (this.reported.has(key)) return;
		this.reported.add(key);
		this.log('warn', error.message);
		this.hooks.reportError(error);
	}

	private readonly log: IntakeLog = (level, message, meta) =>
		this.hooks.log?.(level, message, { account: this.account, ...meta });
}
