/**
 * The IMAP intake engine behind the trigger: connection, IDLE and polling, reconnects, batches
 * and the watermark protocol. It imports nothing from n8n: the trigger glue hands it a state
 * store (n8n static data) and a `deliver` that resolves once the workflow has the batch.
 */
import type { FetchMessageObject, ImapFlow } from 'imapflow';

import { CrmEmailError } from '../shared/errors';
import {
	createImapClient,
	describeImapError,
	imapAccount,
	type ImapCredentials,
} from '../shared/transport/imap';
import {
	commitPending,
	dropPending,
	inCatchUp,
	messageKey,
	normalizeState,
	planFolder,
	selectBatch,
	type BatchSelection,
	type Candidate,
	type FolderScan,
	type IntakeState,
} from './core/cursor';
import { parseMail, type AttachmentPolicy, type FetchedMail, type MailRecord } from './core/mail';

export type AfterFetch = 'nothing' | 'markRead' | 'move';

export interface IntakeOptions {
	credentials: ImapCredentials;
	folders: string[];
	fetchSince: Date;
	afterFetch: AfterFetch;
	moveTo?: string;
	/** At most this many mails are handed to the workflow at once. */
	batchSize: number;
	/** Mails larger than this are handed over with their headers only. */
	maxMailBytes: number;
	attachments: AttachmentPolicy;
	/** 'idle': IMAP IDLE on the first folder plus polling; 'poll': polling only. */
	mode: 'idle' | 'poll';
	pollIntervalMs: number;
	reconnect?: { initialMs?: number; maxMs?: number; reportAfter?: number };
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
	log?(level: 'debug' | 'info' | 'warn', message: string, meta?: Record<string, unknown>): void;
}

interface Prepared {
	selection: BatchSelection;
	records: MailRecord[];
}

const METADATA_QUERY = { uid: true, internalDate: true, size: true, envelope: true } as const;

function deliveryFailed(count: number, error: unknown): CrmEmailError {
	const reason = error instanceof Error ? error.message : String(error);
	return new CrmEmailError(
		'DELIVERY_FAILED',
		`The workflow could not take ${count} mails; they will be fetched again: ${reason}`,
	);
}

export class ImapIntake {
	private client?: ImapFlow;
	private stopped = false;
	private running?: Promise<void>;
	private again = false;
	private pollTimer?: NodeJS.Timeout;
	private reconnectTimer?: NodeJS.Timeout;
	private failures = 0;
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
	}

	/**
	 * Connects (a wrong password or a missing folder fails here, so activation shows it), then
	 * drains the backlog in the background and listens for new mail.
	 */
	async start(): Promise<void> {
		this.client = await this.connect();
		await this.checkFolders(this.client);
		this.pollTimer = setInterval(() => this.request(), this.opts.pollIntervalMs);
		this.request();
	}

	async stop(): Promise<void> {
		this.stopped = true;
		clearInterval(this.pollTimer);
		clearTimeout(this.reconnectTimer);
		const client = this.client;
		this.client = undefined;
		// Log out first: a batch still in the workflow must not hold the connection open. Nothing
		// is lost by cutting a fetch short; its batch was not handed over and is found again.
		if (client) await client.logout().catch(() => client.close());
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

	private async drainLoop(): Promise<void> {
		const client = this.client;
		if (!client || !client.usable) return;
		try {
			let state = normalizeState(this.store.load());
			if (state.pending) {
				// Handed to the workflow before the last stop: it must not be handed over again.
				state = commitPending(state);
				this.store.save(state);
			}
			let next = await this.prepare(client, state);
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
						prefetch = this.prepare(client, commitPending(state));
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
				await this.afterFetch(client, [...selection.deliver, ...selection.duplicates]);
				if (selection.duplicates.length > 0) {
					this.log(
						'debug',
						`Passed over ${selection.duplicates.length} mails already seen (same Message-ID)`,
					);
				}
				if (!selection.more || this.stopped) break;
				next = await (prefetch ?? this.prepare(client, state));
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
		}
	}

	/** The next batch from a state: scan the folders, pick the mails, parse them. */
	private async prepare(client: ImapFlow, state: IntakeState): Promise<Prepared> {
		// STATUS of the selected folder answers from what the server last pushed: NOOP collects it.
		if (client.mailbox) await client.noop();
		const scans: FolderScan[] = [];
		const parsing = new Map<string, Promise<MailRecord>>();
		for (const folder of this.opts.folders) {
			const scan = await this.scanFolder(client, folder, state, parsing);
			if (scan) scans.push(scan);
		}
		const selection = selectBatch(scans, state.seen, this.opts.batchSize);
		// In folder and UID order; a mail expunged since the search is simply gone.
		const records: MailRecord[] = [];
		for (const c of selection.deliver) {
			const record = parsing.get(`${c.folder}:${c.uid}`);
			if (record) records.push(await record);
		}
		return { selection, records };
	}

	private async scanFolder(
		client: ImapFlow,
		folder: string,
		state: IntakeState,
		parsing: Map<string, Promise<MailRecord>>,
	): Promise<FolderScan | null> {
		const status = await this.status(client, folder);
		const plan = planFolder(
			state.folders[folder],
			{ uidValidity: String(status.uidValidity ?? ''), uidNext: status.uidNext ?? 1 },
			this.opts.fetchSince,
		);
		if (plan.kind === 'idle') return null;
		if (plan.kind === 'catchUp' && plan.reason === 'uidvalidity-changed') {
			this.log(
				'warn',
				`UIDVALIDITY of "${folder}" changed: resuming by date since ${plan.since.toISOString()}`,
			);
		}
		const lastUid = (status.uidNext ?? 1) - 1;
		// A window of UIDs per batch: searching "n:*" on every batch of a big backlog would be
		// quadratic. UIDs can be sparse, so an empty window just moves the cursor on.
		const scannedTo = Math.min(lastUid, plan.fromUid + this.opts.batchSize - 1);
		if (scannedTo < plan.fromUid)
			return { folder, plan, candidates: [], scannedTo: plan.fromUid - 1 };
		const range = `${plan.fromUid}:${scannedTo}`;
		const lock = await client.getMailboxLock(folder);
		try {
			// A catch-up searches first so old mail below the date is never downloaded; otherwise
			// every UID in the window is new and a FETCH of the range alone finds them.
			const uidSet =
				plan.kind === 'catchUp'
					? (await this.searchCatchUp(client, range, plan.since, plan.belowUid))
							.filter((u) => u >= plan.fromUid && u <= scannedTo)
							.join(',')
					: range;
			const candidates: Candidate[] = [];
			if (uidSet) {
				// One FETCH for the window: metadata for the batch choice and the source, cut at the
				// size limit. Parsing starts as each mail arrives, overlapping the transfer.
				const query = {
					...METADATA_QUERY,
					flags: true,
					source: { maxLength: this.opts.maxMailBytes },
				};
				for await (const msg of client.fetch(uidSet, query, { uid: true })) {
					const c = this.candidate(folder, msg);
					if (c.uid < plan.fromUid || c.uid > scannedTo || !inCatchUp(plan, c)) continue;
					candidates.push(c);
					parsing.set(
						`${folder}:${c.uid}`,
						parseMail(
							this.fetchedMail(folder, plan.cursor.uidValidity, msg),
							this.opts.attachments,
						),
					);
				}
			}
			candidates.sort((a, b) => a.uid - b.uid);
			return { folder, plan, candidates, scannedTo, partial: scannedTo < lastUid };
		} finally {
			lock.release();
		}
	}

	private async status(client: ImapFlow, folder: string) {
		const status = await client.status(folder, { uidNext: true, uidValidity: true });
		if (!status) {
			throw new CrmEmailError(
				'IMAP_FOLDER_MISSING',
				`The folder "${folder}" could not be opened in the mailbox of "${this.opts.credentials.user}"`,
				{ folder },
			);
		}
		return status;
	}

	private async searchCatchUp(
		client: ImapFlow,
		range: string,
		since: Date,
		belowUid: number,
	): Promise<number[]> {
		// SEARCH SINCE compares dates only (no time): the exact boundary is applied on the
		// internal dates afterwards. Mails at or above belowUid arrived later and always count.
		const day = new Date(
			Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate() - 1),
		);
		try {
			const found = await client.search(
				{ uid: range, or: [{ since: day }, { uid: `${Math.max(belowUid, 1)}:*` }] },
				{ uid: true },
			);
			if (Array.isArray(found)) return found;
		} catch (error) {
			this.log(
				'warn',
				`SEARCH SINCE failed, filtering by internal date instead: ${(error as Error).message}`,
			);
		}
		// Some servers do not support SEARCH SINCE (EspoCRM #776): every UID, filtered later.
		return ((await client.search({ uid: range }, { uid: true })) || []) as number[];
	}

	private candidate(folder: string, msg: FetchMessageObject): Candidate {
		const internalDate = new Date(msg.internalDate ?? 0);
		const env = msg.envelope;
		return {
			folder,
			uid: msg.uid,
			internalDate,
			size: msg.size ?? 0,
			key: messageKey(env?.messageId, {
				date: env?.date ? new Date(env.date).toISOString() : undefined,
				subject: env?.subject,
				from: env?.from?.[0]?.address,
				size: msg.size,
			}),
		};
	}

	/** A fetched mail; over the size limit only its header block is kept. */
	private fetchedMail(folder: string, uidValidity: string, msg: FetchMessageObject): FetchedMail {
		const size = msg.size ?? 0;
		const headersOnly = size > this.opts.maxMailBytes;
		let source = msg.source ?? Buffer.alloc(0);
		if (headersOnly) {
			const end = source.indexOf('\r\n\r\n');
			if (end >= 0) source = source.subarray(0, end + 2);
		}
		return {
			account: this.account,
			folder,
			uid: msg.uid,
			uidValidity,
			internalDate: new Date(msg.internalDate ?? 0),
			size,
			flags: [...(msg.flags ?? [])],
			source,
			headersOnly,
		};
	}

	private async afterFetch(client: ImapFlow, handled: Candidate[]): Promise<void> {
		if (this.opts.afterFetch === 'nothing' || handled.length === 0) return;
		const byFolder = new Map<string, number[]>();
		for (const c of handled) byFolder.set(c.folder, [...(byFolder.get(c.folder) ?? []), c.uid]);
		for (const [folder, uids] of byFolder) {
			const lock = await client.getMailboxLock(folder);
			try {
				if (this.opts.afterFetch === 'markRead') {
					await client.messageFlagsAdd(uids.join(','), ['\\Seen'], { uid: true });
				} else if (this.opts.moveTo && this.opts.moveTo !== folder) {
					await client.messageMove(uids.join(','), this.opts.moveTo, { uid: true });
				}
			} catch (error) {
				// The mails were delivered; only the action failed. Say so, never deliver them again.
				this.report(describeImapError(error, this.opts.credentials, this.opts.moveTo ?? folder));
			} finally {
				lock.release();
			}
		}
	}

	/** Mails for the editor's "fetch test event": the newest ones, state untouched. */
	async latest(count: number): Promise<MailRecord[]> {
		const client = await this.connect(false);
		try {
			const records: MailRecord[] = [];
			for (const folder of this.opts.folders) {
				const lock = await client.getMailboxLock(folder);
				try {
					const exists = client.mailbox ? client.mailbox.exists : 0;
					if (exists === 0) continue;
					const from = Math.max(1, exists - count + 1);
					const uidValidity = String(client.mailbox ? client.mailbox.uidValidity : '');
					const query = {
						uid: true,
						flags: true,
						internalDate: true,
						size: true,
						source: { maxLength: this.opts.maxMailBytes },
					};
					for await (const msg of client.fetch(`${from}:*`, query)) {
						records.push(
							await parseMail(this.fetchedMail(folder, uidValidity, msg), this.opts.attachments),
						);
					}
				} finally {
					lock.release();
				}
			}
			records.sort((a, b) => b.json.internalDate.localeCompare(a.json.internalDate));
			return records.slice(0, count);
		} finally {
			await client.logout().catch(() => client.close());
		}
	}

	private async connect(listen = true): Promise<ImapFlow> {
		const client = createImapClient(this.opts.credentials, {
			disableAutoIdle: !listen || this.opts.mode !== 'idle',
			autoIdleDelay: 200,
		});
		client.on('error', (error: Error) => this.log('debug', `IMAP client error: ${error.message}`));
		try {
			await client.connect();
		} catch (error) {
			client.close();
			throw describeImapError(error, this.opts.credentials);
		}
		if (listen) {
			client.on('exists', () => this.request());
			client.on('close', () => this.onClose(client));
		}
		return client;
	}

	private async checkFolders(client: ImapFlow): Promise<void> {
		const known = new Set((await client.list()).map((f) => f.path));
		const wanted = [
			...this.opts.folders,
			...(this.opts.afterFetch === 'move' && this.opts.moveTo ? [this.opts.moveTo] : []),
		];
		for (const folder of wanted) {
			if (!known.has(folder)) {
				await client.logout().catch(() => client.close());
				throw new CrmEmailError(
					'IMAP_FOLDER_MISSING',
					`The folder "${folder}" does not exist in the mailbox of "${this.opts.credentials.user}" on ${this.opts.credentials.host}; existing folders: ${[...known].join(', ')}`,
					{ folder },
				);
			}
		}
	}

	private onClose(client: ImapFlow): void {
		if (this.stopped || this.client !== client) return;
		this.client = undefined;
		this.log('warn', 'IMAP connection closed; reconnecting');
		this.scheduleReconnect();
	}

	private scheduleReconnect(): void {
		const r = this.opts.reconnect ?? {};
		const delay = Math.min((r.initialMs ?? 1000) * 2 ** this.failures, r.maxMs ?? 60_000);
		this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
	}

	private async reconnect(): Promise<void> {
		if (this.stopped) return;
		try {
			const client = await this.connect();
			if (this.stopped) {
				await client.logout().catch(() => client.close());
				return;
			}
			this.client = client;
			if (this.failures > 0)
				this.log('info', `IMAP connection back after ${this.failures} failed attempts`);
			this.failures = 0;
			this.reported.clear();
			this.request();
		} catch (error) {
			this.failures += 1;
			const reportAfter = this.opts.reconnect?.reportAfter ?? 3;
			if (this.failures === reportAfter) {
				const e =
					error instanceof CrmEmailError ? error : describeImapError(error, this.opts.credentials);
				this.report(
					new CrmEmailError(
						e.code,
						`${e.message} — still retrying (attempt ${this.failures}); mail will be picked up where it stopped`,
						e.details,
					),
				);
			}
			this.scheduleReconnect();
		}
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

	private log(
		level: 'debug' | 'info' | 'warn',
		message: string,
		meta?: Record<string, unknown>,
	): void {
		this.hooks.log?.(level, message, { account: this.account, ...meta });
	}
}
