/**
 * The intake's one IMAP connection: opened with the folders checked, IDLE when asked, reopened
 * with backoff when it drops; a connection that stays down is reported once (an OAuth2 credential
 * that must be reconnected at once), and renewed on request (a fresh OAuth2 token) without a gap.
 * No n8n imports.
 */
import type { ImapFlow } from 'imapflow';

import { CrmEmailError } from '../shared/errors';
import {
	closeImapSession,
	describeImapError,
	openImapSession,
	type ImapCredentials,
} from '../shared/transport/imap';
import type { TriggerSettings } from './core/options';
import type { IntakeLog } from './scan';

export type ConnectionSettings = Pick<
	TriggerSettings,
	'folders' | 'afterFetch' | 'moveTo' | 'mode'
> & {
	credentials: ImapCredentials;
	reconnect?: { initialMs?: number; maxMs?: number; reportAfter?: number };
};

export interface ConnectionHooks {
	/** New mail was announced. */
	exists(): void;
	/** The connection is back after a drop. */
	reconnected(): void;
	report(error: CrmEmailError): void;
	log: IntakeLog;
}

export class IntakeConnection {
	/** The live connection; undefined while down or after close. */
	client?: ImapFlow;
	private closed = false;
	private reconnectTimer?: NodeJS.Timeout;
	private failures = 0;

	constructor(
		private readonly opts: ConnectionSettings,
		private readonly hooks: ConnectionHooks,
	) {}

	/** Connects and checks the folders: a wrong password or a missing folder fails here. */
	async open(): Promise<void> {
		const client = await this.connect();
		const refused = await this.missingFolder(client).catch((error: unknown) =>
			describeImapError(error, this.opts.credentials),
		);
		if (refused) {
			await closeImapSession(client);
			throw refused;
		}
		// Only now: a connection refused for a missing folder must not be reopened on its close.
		this.client = client;
	}

	async close(): Promise<void> {
		this.closed = true;
		clearTimeout(this.reconnectTimer);
		const client = this.client;
		this.client = undefined;
		if (client) await closeImapSession(client);
	}

	/**
	 * A new session (signed in with a fresh token) replaces the current one, which is logged out
	 * only then. Called between drains, so no fetch is cut.
	 */
	async renew(): Promise<void> {
		if (this.closed) return;
		const fresh = await this.connect();
		if (this.closed) {
			await closeImapSession(fresh);
			return;
		}
		const old = this.client;
		this.client = fresh;
		if (old) await closeImapSession(old);
	}

	private async connect(): Promise<ImapFlow> {
		const client = await openImapSession(
			this.opts.credentials,
			{ disableAutoIdle: this.opts.mode !== 'idle', autoIdleDelay: 200 },
			(error) => this.hooks.log('debug', `IMAP client error: ${error.message}`),
		);
		client.on('exists', () => this.hooks.exists());
		client.on('close', () => this.onClose(client));
		return client;
	}

	private async missingFolder(client: ImapFlow): Promise<CrmEmailError | null> {
		const known = new Set((await client.list()).map((f) => f.path));
		const wanted = [
			...this.opts.folders,
			...(this.opts.afterFetch === 'move' && this.opts.moveTo ? [this.opts.moveTo] : []),
		];
		for (const folder of wanted) {
			if (!known.has(folder)) {
				return new CrmEmailError(
					'IMAP_FOLDER_MISSING',
					`The folder "${folder}" does not exist in the mailbox of "${this.opts.credentials.user}" on ${this.opts.credentials.host}; existing folders: ${[...known].join(', ')}`,
					{ folder },
				);
			}
		}
		return null;
	}

	private onClose(client: ImapFlow): void {
		if (this.closed || this.client !== client) return;
		this.client = undefined;
		this.hooks.log('warn', 'IMAP connection closed; reconnecting');
		this.scheduleReconnect();
	}

	private scheduleReconnect(): void {
		const r = this.opts.reconnect ?? {};
		const delay = Math.min((r.initialMs ?? 1000) * 2 ** this.failures, r.maxMs ?? 60_000);
		this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
	}

	private async reconnect(): Promise<void> {
		if (this.closed) return;
		try {
			const client = await this.connect();
			if (this.closed) {
				await closeImapSession(client);
				return;
			}
			this.client = client;
			if (this.failures > 0)
				this.hooks.log('info', `IMAP connection back after ${this.failures} failed attempts`);
			this.failures = 0;
			this.hooks.reconnected();
		} catch (error) {
			this.failures += 1;
			const reportAfter = this.opts.reconnect?.reportAfter ?? 3;
			// Waiting cannot mend a grant that needs a person: say so at the first failure.
			const reconnect = error instanceof CrmEmailError && error.code === 'OAUTH_RECONNECT';
			if (this.failures === reportAfter || (reconnect && this.failures === 1)) {
				const e =
					error instanceof CrmEmailError ? error : describeImapError(error, this.opts.credentials);
				this.hooks.report(
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
}
