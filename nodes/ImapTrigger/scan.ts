/**
 * Reading the mailbox for the intake: scans the folders' metadata against the state's cursors,
 * picks a batch, downloads and parses the picked mails. Leaves the state and the connection to
 * the caller. No n8n imports.
 */
import type { FetchMessageObject, ImapFlow } from 'imapflow';

import { CrmEmailError } from '../shared/errors';
import type { ImapCredentials } from '../shared/transport/imap';
import {
	inCatchUp,
	messageKey,
	planFolder,
	relocatedPlan,
	selectBatch,
	type BatchSelection,
	type Candidate,
	type FolderPlan,
	type FolderScan,
	type IntakeState,
} from './core/cursor';
import { normalizeMessageId, parseMail, type FetchedMail, type MailRecord } from './core/mail';
import type { TriggerSettings } from './core/options';

export type IntakeLog = (
	level: 'debug' | 'info' | 'warn',
	message: string,
	meta?: Record<string, unknown>,
) => void;

export type ScanSettings = Pick<
	TriggerSettings,
	'folders' | 'fetchSince' | 'batchSize' | 'maxMailBytes' | 'attachments'
> & { credentials: ImapCredentials };

export interface Prepared {
	selection: BatchSelection;
	records: MailRecord[];
}

/**
 * The IMAP internal date. imapflow hands over the raw text when it cannot read it; an invalid
 * date is treated like a missing one (the epoch), so that no `toISOString` throws later and stalls
 * the folder.
 */
function internalDateOf(msg: { internalDate?: Date | string }): Date {
	const date = new Date(msg.internalDate ?? 0);
	return Number.isNaN(date.getTime()) ? new Date(0) : date;
}

const METADATA_QUERY = { uid: true, internalDate: true, size: true, envelope: true } as const;
/** Mails whose metadata one FETCH asks for while looking for the anchor of a relocation. */
const RELOCATE_WINDOW = 500;
/** Sources fetched by one FETCH, in bytes (at least one mail): bounds what waits to be parsed. */
const SOURCE_CHUNK_BYTES = 16 * 1024 * 1024;
/**
 * Sources up to this size come with the scan's FETCH (one command instead of two for the usual
 * small mail); larger ones are fetched once picked.
 */
const INLINE_SOURCE_BYTES = 64 * 1024;
/** Mails parsed at once, as long as their sources stay under SOURCE_CHUNK_BYTES together. */
const PARALLEL_PARSES = 4;

export class MailScanner {
	constructor(
		private readonly opts: ScanSettings,
		private readonly account: string,
		private readonly log: IntakeLog,
	) {}

	/**
	 * The next batch from a state: scan the folders' metadata (with the sources of small mails),
	 * pick the mails, then download and parse only the picked ones, a few at a time, so memory
	 * stays bounded by the window's small sources, one source chunk and the batch's items.
	 */
	async prepare(client: ImapFlow, state: IntakeState): Promise<Prepared> {
		// STATUS of the selected folder answers from what the server last pushed: NOOP collects it.
		if (client.mailbox) await client.noop();
		const scans: FolderScan[] = [];
		const inline = new Map<string, FetchMessageObject>();
		for (const folder of this.opts.folders) {
			const scan = await this.scanFolder(client, folder, state, inline);
			if (scan) scans.push(scan);
		}
		const selection = selectBatch(scans, state.seen, this.opts.batchSize);
		const uidValidity = new Map(scans.map((s) => [s.folder, s.plan.cursor.uidValidity]));
		const parsed = new Map<string, MailRecord>();
		for (const folder of new Set(selection.deliver.map((c) => c.folder))) {
			const picked = selection.deliver.filter((c) => c.folder === folder);
			await this.download(client, folder, uidValidity.get(folder) ?? '', picked, parsed, inline);
		}
		for (const r of selection.reused) {
			parsed.get(`${r.folder}:${r.uid}`)?.json.warnings.push({
				code: 'MESSAGE_ID_REUSED',
				message: `Another mail with the same Message-ID (or, without one, the same Date, sender and subject) was handled before, at ${r.firstSeen}; this one differs in Date, sender or subject and is emitted too`,
			});
		}
		for (const d of selection.duplicates) {
			this.log(
				'info',
				`Passed over ${d.folder}:${d.uid}: the same mail was handled at ${d.firstSeen}`,
			);
		}
		// In folder and UID order; a mail expunged since the search is simply gone.
		const records: MailRecord[] = [];
		for (const c of selection.deliver) {
			const record = parsed.get(`${c.folder}:${c.uid}`);
			if (record) records.push(record);
		}
		return { selection, records };
	}

	/** Sources (or, over the size limit, headers and structure) of the picked mails, parsed in turn. */
	private async download(
		client: ImapFlow,
		folder: string,
		uidValidity: string,
		picked: Candidate[],
		out: Map<string, MailRecord>,
		inline?: Map<string, FetchMessageObject>,
	): Promise<void> {
		// A few small mails are parsed while the next ones arrive; a large one is parsed alone and
		// nothing more is read until it is done (mailparser holds a few copies of a mail).
		const parsing = new Set<Promise<void>>();
		let parsingBytes = 0;
		const parse = async (msg: FetchMessageObject, headersOnly: boolean) => {
			const mail = this.fetchedMail(folder, uidValidity, msg, headersOnly);
			const bytes = mail.source.length;
			parsingBytes += bytes;
			const p: Promise<void> = parseMail(mail, this.opts.attachments).then((r) => {
				out.set(`${folder}:${msg.uid}`, r);
				parsing.delete(p);
				parsingBytes -= bytes;
			});
			parsing.add(p);
			while (
				parsing.size >= PARALLEL_PARSES ||
				(parsing.size > 0 && parsingBytes >= SOURCE_CHUNK_BYTES)
			)
				await Promise.race(parsing);
		};
		const max = this.opts.maxMailBytes;
		const large = picked.filter((c) => c.size > max).map((c) => c.uid);
		const chunks: number[][] = large.length > 0 ? [large] : [];
		let chunk: number[] = [];
		let bytes = 0;
		for (const c of picked) {
			if (c.size > max) continue;
			const fetched = inline?.get(`${folder}:${c.uid}`);
			if (fetched) {
				await parse(fetched, false);
				continue;
			}
			if (chunk.length > 0 && bytes + c.size > SOURCE_CHUNK_BYTES) {
				chunks.push(chunk);
				chunk = [];
				bytes = 0;
			}
			chunk.push(c.uid);
			bytes += c.size;
		}
		if (chunk.length > 0) chunks.push(chunk);
		const lock = await client.getMailboxLock(folder);
		try {
			for (const uids of chunks) {
				const headersOnly = uids === large;
				const query = headersOnly
					? {
							uid: true,
							internalDate: true,
							size: true,
							flags: true,
							headers: true,
							bodyStructure: true,
						}
					: { uid: true, internalDate: true, size: true, flags: true, source: true };
				for await (const msg of client.fetch(uids.join(','), query, { uid: true }))
					await parse(msg, headersOnly);
			}
			await Promise.all(parsing);
		} finally {
			lock.release();
		}
	}

	private async scanFolder(
		client: ImapFlow,
		folder: string,
		state: IntakeState,
		inline: Map<string, FetchMessageObject>,
	): Promise<FolderScan | null> {
		const status = await this.status(client, folder);
		let plan = planFolder(
			state.folders[folder],
			{ uidValidity: String(status.uidValidity ?? ''), uidNext: status.uidNext ?? 1 },
			this.opts.fetchSince,
		);
		if (plan.kind === 'relocate') plan = await this.relocate(client, folder, plan);
		if (plan.kind === 'idle' || plan.kind === 'relocate') return null;
		if (plan.kind === 'catchUp' && plan.reason === 'uidvalidity-changed') {
			this.log(
				'warn',
				`UIDVALIDITY of "${folder}" changed and none of the last mails handled is in it: resuming by date since ${plan.since.toISOString()}`,
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
			// A catch-up searches first so old mail below the date is never looked at; otherwise
			// every UID in the window is new and a FETCH of the range alone finds them.
			const uidSet =
				plan.kind === 'catchUp'
					? (await this.searchCatchUp(client, range, plan.since, plan.belowUid))
							.filter((u) => u >= plan.fromUid && u <= scannedTo)
							.join(',')
					: range;
			const candidates: Candidate[] = [];
			if (uidSet) {
				const small = Math.min(INLINE_SOURCE_BYTES, this.opts.maxMailBytes);
				const query = { ...METADATA_QUERY, flags: true, source: { maxLength: small } };
				for await (const msg of client.fetch(uidSet, query, { uid: true })) {
					const c = this.candidate(folder, msg);
					if (c.uid < plan.fromUid || c.uid > scannedTo || !inCatchUp(plan, c)) continue;
					candidates.push(c);
					if (c.size <= small && msg.source?.length === c.size)
						inline.set(`${folder}:${c.uid}`, msg);
				}
			}
			candidates.sort((a, b) => a.uid - b.uid);
			return { folder, plan, candidates, scannedTo, partial: scannedTo < lastUid };
		} finally {
			lock.release();
		}
	}

	/**
	 * After a UIDVALIDITY change: the highest new UID holding one of the last mails handled here.
	 * Everything up to it was handled; the folder resumes above it. Dates play no part.
	 */
	private async relocate(
		client: ImapFlow,
		folder: string,
		plan: FolderPlan & { kind: 'relocate' },
	): Promise<FolderPlan> {
		const anchors = new Set(plan.anchors);
		const lock = await client.getMailboxLock(folder);
		try {
			let end = client.mailbox ? client.mailbox.exists : 0;
			while (end > 0) {
				const start = Math.max(1, end - RELOCATE_WINDOW + 1);
				let found = 0;
				for await (const msg of client.fetch(`${start}:${end}`, METADATA_QUERY)) {
					if (anchors.has(this.candidate(folder, msg).key)) found = Math.max(found, msg.uid);
				}
				if (found > 0) {
					this.log(
						'warn',
						`UIDVALIDITY of "${folder}" changed: the last mail handled is now UID ${found}; resuming above it`,
					);
					return relocatedPlan(plan, found);
				}
				end = start - 1;
			}
		} finally {
			lock.release();
		}
		return plan.fallback;
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
		const internalDate = internalDateOf(msg);
		const env = msg.envelope;
		// imapflow gives the Date header as a Date (possibly invalid) or as text; only its text
		// identifies a mail, and a Date that names no time must not stop the folder.
		const date = env?.date as unknown;
		return {
			folder,
			uid: msg.uid,
			internalDate,
			size: msg.size ?? 0,
			key: messageKey({
				messageId: normalizeMessageId(env?.messageId),
				date:
					date instanceof Date
						? Number.isNaN(date.getTime())
							? ''
							: date.toISOString()
						: String(date ?? ''),
				subject: env?.subject,
				from: env?.from?.[0]?.address,
				internalDate,
			}),
		};
	}

	/** A fetched mail: its source, or over the size limit its header block and structure. */
	private fetchedMail(
		folder: string,
		uidValidity: string,
		msg: FetchMessageObject,
		headersOnly: boolean,
	): FetchedMail {
		const size = msg.size ?? 0;
		return {
			account: this.account,
			folder,
			uid: msg.uid,
			uidValidity,
			internalDate: internalDateOf(msg),
			size,
			flags: [...(msg.flags ?? [])],
			source: (headersOnly ? msg.headers : msg.source) ?? Buffer.alloc(0),
			headersOnly,
			structure: headersOnly ? msg.bodyStructure : undefined,
		};
	}

	/** The newest mails of the folders, for the editor's "fetch test event"; no state involved. */
	async latest(client: ImapFlow, count: number): Promise<MailRecord[]> {
		const records: MailRecord[] = [];
		for (const folder of this.opts.folders) {
			const newest: Candidate[] = [];
			let uidValidity = '';
			const lock = await client.getMailboxLock(folder);
			try {
				const exists = client.mailbox ? client.mailbox.exists : 0;
				if (exists === 0) continue;
				uidValidity = String(client.mailbox ? client.mailbox.uidValidity : '');
				const from = Math.max(1, exists - count + 1);
				for await (const msg of client.fetch(`${from}:*`, METADATA_QUERY))
					newest.push(this.candidate(folder, msg));
			} finally {
				lock.release();
			}
			const parsed = new Map<string, MailRecord>();
			await this.download(client, folder, uidValidity, newest, parsed);
			records.push(...parsed.values());
		}
		records.sort((a, b) => b.json.internalDate.localeCompare(a.json.internalDate));
		return records.slice(0, count);
	}
}
