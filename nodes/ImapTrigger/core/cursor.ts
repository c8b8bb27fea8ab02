/**
 * The intake state of one trigger: a watermark per folder and the recent Message-ID keys.
 * Pure functions over plain JSON, so the same state lives in n8n's static data or in a test.
 *
 * The state is written before a batch is handed to the workflow (as `pending`) and committed once
 * the workflow has received it; a pending batch found at start-up was handed over before a stop
 * and is committed then, so it is never handed over twice.
 */
import { createHash } from 'node:crypto';

export interface FolderCursor {
	/** UIDVALIDITY as a decimal string (it is a 32-bit unsigned number; JSON-safe as text). */
	uidValidity: string;
	/** Every mail with a UID at or below this one has been handled. */
	lastUid: number;
	/**
	 * Internal date (ISO) of the newest mail handled, ignoring dates in the future: the restart
	 * point after a UIDVALIDITY change when no anchor (`recent`) is found.
	 */
	lastDate?: string;
	/**
	 * Keys of the last mails handled in this folder, in UID order. After a UIDVALIDITY change the
	 * highest new UID holding one of them is where the folder resumes, whatever the dates say.
	 */
	recent?: string[];
	/**
	 * While catching up by date (first run, or after a UIDVALIDITY change): mails with a UID below
	 * `belowUid` count only if their internal date is on or after `since`; mails at or above it
	 * arrived after the catch-up began and always count.
	 */
	catchUp?: { since: string; belowUid: number };
}

export interface PendingBatch {
	folders: Record<string, FolderCursor>;
	/** Seen entries (`key folder:uid`) the batch adds. */
	keys: string[];
}

export interface IntakeState {
	version: 1;
	folders: Record<string, FolderCursor>;
	/**
	 * Recent mails, oldest first, bounded by `seenLimit`: `key folder:uid` (see messageKey), or a
	 * bare 16-character key written by an earlier version (a hash of the Message-ID alone).
	 */
	seen: string[];
	pending?: PendingBatch;
}

export const DEFAULT_SEEN_LIMIT = 5000;
/** How many keys per folder are kept as anchors for a UIDVALIDITY change. */
export const RECENT_LIMIT = 20;
/** Internal dates further ahead than this are a server's or sender's mistake, not a watermark. */
const FUTURE_SLACK_MS = 24 * 3600_000;

export function emptyState(): IntakeState {
	return { version: 1, folders: {}, seen: [] };
}

/** Reads whatever is stored (possibly nothing, possibly an older shape) into a valid state. */
export function normalizeState(raw: unknown): IntakeState {
	const s = (raw ?? {}) as Partial<IntakeState>;
	if (s.version !== 1 || typeof s.folders !== 'object' || s.folders === null) return emptyState();
	return {
		version: 1,
		folders: { ...s.folders },
		seen: Array.isArray(s.seen) ? s.seen.filter((k) => typeof k === 'string') : [],
		pending: s.pending && typeof s.pending === 'object' ? s.pending : undefined,
	};
}

/** The state without a pending batch (the batch never reached the workflow). */
export function dropPending(state: IntakeState): IntakeState {
	return { version: 1, folders: state.folders, seen: state.seen };
}

/** Applies a batch's cursors and keys: the batch has reached the workflow. */
export function commitPending(state: IntakeState, seenLimit = DEFAULT_SEEN_LIMIT): IntakeState {
	const pending = state.pending;
	if (!pending) return state;
	const seen = state.seen.concat(pending.keys);
	return {
		version: 1,
		folders: { ...state.folders, ...pending.folders },
		seen: seen.length > seenLimit ? seen.slice(seen.length - seenLimit) : seen,
	};
}

export interface MailboxStatus {
	uidValidity: string;
	uidNext: number;
}

export type FolderPlan =
	| { kind: 'idle'; cursor: FolderCursor }
	| { kind: 'uid'; fromUid: number; cursor: FolderCursor; fresh?: boolean }
	| {
			/** UIDVALIDITY changed: find the highest new UID holding one of `anchors` first. */
			kind: 'relocate';
			anchors: string[];
			cursor: FolderCursor;
			/** The plan if no anchor is found. */
			fallback: FolderPlan;
	  }
	| {
			kind: 'catchUp';
			reason: 'first-run' | 'uidvalidity-changed' | 'resume';
			fromUid: number;
			since: Date;
			belowUid: number;
			cursor: FolderCursor;
	  };

/**
 * What to search in a folder. `cursor` is the cursor to start from (a fresh one after a
 * UIDVALIDITY change); the plan never moves it.
 */
export function planFolder(
	stored: FolderCursor | undefined,
	status: MailboxStatus,
	fetchSince: Date,
	now = new Date(),
): FolderPlan {
	if (!stored) {
		const cursor: FolderCursor = {
			uidValidity: status.uidValidity,
			lastUid: 0,
			catchUp: { since: fetchSince.toISOString(), belowUid: status.uidNext },
		};
		return catchUpPlan(cursor, 'first-run');
	}
	if (stored.uidValidity !== status.uidValidity) {
		// The folder was recreated or migrated: UIDs mean nothing now. Resume after the last mails
		// handled (see `relocate`); failing that, by the date of the last mail handled, never later
		// than now (a state from an earlier version may hold a future date). De-duplication absorbs
		// the overlap.
		let since = stored.lastDate ?? stored.catchUp?.since ?? fetchSince.toISOString();
		if (new Date(since).getTime() > now.getTime()) since = now.toISOString();
		const cursor: FolderCursor = {
			uidValidity: status.uidValidity,
			lastUid: 0,
			lastDate: stored.lastDate,
			recent: stored.recent,
			catchUp: { since, belowUid: status.uidNext },
		};
		const fallback = catchUpPlan(cursor, 'uidvalidity-changed');
		if (!stored.recent?.length) return fallback;
		return { kind: 'relocate', anchors: stored.recent, cursor, fallback };
	}
	if (stored.catchUp) return catchUpPlan(stored, 'resume');
	if (status.uidNext <= stored.lastUid + 1) return { kind: 'idle', cursor: stored };
	return { kind: 'uid', fromUid: stored.lastUid + 1, cursor: stored };
}

/** The plan once the anchor of a relocation is found at `uid` of the new folder. */
export function relocatedPlan(plan: FolderPlan & { kind: 'relocate' }, uid: number): FolderPlan {
	return {
		kind: 'uid',
		fromUid: uid + 1,
		cursor: withoutCatchUp({ ...plan.cursor, lastUid: uid }),
		fresh: true,
	};
}

function withoutCatchUp(cursor: FolderCursor): FolderCursor {
	const out = { ...cursor };
	delete out.catchUp;
	return out;
}

function catchUpPlan(
	cursor: FolderCursor,
	reason: 'first-run' | 'uidvalidity-changed' | 'resume',
): FolderPlan {
	const catchUp = cursor.catchUp!;
	return {
		kind: 'catchUp',
		reason,
		fromUid: cursor.lastUid + 1,
		since: new Date(catchUp.since),
		belowUid: catchUp.belowUid,
		cursor,
	};
}

/** One mail found by a search, before its body is fetched. */
export interface Candidate {
	folder: string;
	uid: number;
	internalDate: Date;
	size: number;
	/** See messageKey. */
	key: string;
}

/** Whether a catch-up candidate counts (exact date boundary; SEARCH SINCE is only by day). */
export function inCatchUp(plan: FolderPlan, c: Pick<Candidate, 'uid' | 'internalDate'>): boolean {
	if (plan.kind !== 'catchUp') return true;
	return c.uid >= plan.belowUid || c.internalDate.getTime() >= plan.since.getTime();
}

/** What the envelope says about a mail: enough to tell the same mail from another one. */
export interface MailIdentity {
	/** Message-ID, already normalised (see normalizeMessageId); null without one. */
	messageId: string | null;
	/** The Date header as written (not parsed: it may name no date). */
	date?: string;
	from?: string;
	subject?: string;
	internalDate?: Date;
}

const hash = (basis: string, length: number) =>
	createHash('sha1').update(basis).digest('base64url').slice(0, length);

/**
 * `<id part>.<fingerprint>`: the id part is the Message-ID (or, without one, Date, sender and
 * subject); the fingerprint tells a different mail that reuses the same id. It is Date, sender
 * and subject, not the size: the same mail delivered twice (to two addresses, into two folders)
 * differs in its Received and Delivered-To lines. Without a Message-ID the fingerprint is the
 * internal date (the delivery), which copies and moves keep.
 */
export function messageKey(m: MailIdentity): string {
	const id = m.messageId
		? hash(`id:${m.messageId.slice(1, -1)}`, 11)
		: hash(`nomid:${m.date ?? ''}|${m.from ?? ''}|${m.subject ?? ''}`, 11);
	const fingerprint = m.messageId
		? `${m.date ?? ''}|${m.from ?? ''}|${m.subject ?? ''}`
		: String(m.internalDate?.getTime() ?? '');
	return `${id}.${hash(fingerprint, 6)}`;
}

/** A seen entry: the key and where the mail was. */
export function seenEntry(c: Pick<Candidate, 'key' | 'folder' | 'uid'>): string {
	return `${c.key} ${c.folder}:${c.uid}`;
}

/** What is known of the mails handled before: by full key, and by id part. */
class SeenIndex {
	private readonly full = new Map<string, string>();
	private readonly ids = new Map<string, string>();
	/** Id parts of entries written before fingerprints: only the Message-ID is known. */
	private readonly legacy = new Set<string>();

	constructor(entries: readonly string[]) {
		for (const e of entries) {
			const space = e.indexOf(' ');
			const key = space < 0 ? e : e.slice(0, space);
			const where = space < 0 ? 'an earlier batch' : e.slice(space + 1);
			if (key.length === 16 && !key.includes('.')) this.legacy.add(key.slice(0, 11));
			else this.add(key, where);
		}
	}

	add(key: string, where: string): void {
		this.full.set(key, where);
		this.ids.set(key.slice(0, 11), where);
	}

	/** Where the same mail was handled, if it was. */
	same(key: string): string | undefined {
		const id = key.slice(0, 11);
		return this.full.get(key) ?? (this.legacy.has(id) ? 'an earlier batch' : undefined);
	}

	/** Where another mail with the same id part was handled, if one was. */
	sameId(key: string): string | undefined {
		return this.ids.get(key.slice(0, 11));
	}
}

export interface FolderScan {
	folder: string;
	plan: FolderPlan;
	/** Candidates in ascending UID order (already filtered by `inCatchUp`). */
	candidates: Candidate[];
	/** Highest UID the search looked at. */
	scannedTo: number;
	/** The search covered only a window of the folder: there is more above `scannedTo`. */
	partial?: boolean;
}

export interface BatchSelection {
	/** Mails to hand to the workflow, in folder order then UID order. */
	deliver: Candidate[];
	/** Mails passed over as duplicates (the same mail seen before or earlier in this batch). */
	duplicates: Array<Candidate & { firstSeen: string }>;
	/** Mails delivered whose Message-ID (or stand-in) an earlier, different mail had. */
	reused: Array<Candidate & { firstSeen: string }>;
	/** Cursors once this batch is committed, for every folder that moved. */
	cursors: Record<string, FolderCursor>;
	keys: string[];
	/** Whether a folder still has mails beyond this batch. */
	more: boolean;
}

/**
 * Picks at most `limit` mails over the scanned folders and the cursor each folder reaches.
 * A folder's cursor only moves past a mail that is in this batch or is a duplicate, so what is
 * left over is found again by the next batch.
 */
export function selectBatch(
	scans: FolderScan[],
	seen: readonly string[],
	limit: number,
	now = new Date(),
): BatchSelection {
	const known = new SeenIndex(seen);
	const deliver: Candidate[] = [];
	const duplicates: BatchSelection['duplicates'] = [];
	const reused: BatchSelection['reused'] = [];
	const cursors: Record<string, FolderCursor> = {};
	const keys: string[] = [];
	let more = false;

	for (const scan of scans) {
		let cursor = scan.plan.cursor;
		let cut = false;
		for (const c of scan.candidates) {
			const same = known.same(c.key);
			if (same !== undefined) {
				duplicates.push({ ...c, firstSeen: same });
			} else {
				if (deliver.length >= limit) {
					cut = true;
					break;
				}
				const other = known.sameId(c.key);
				if (other !== undefined) reused.push({ ...c, firstSeen: other });
				deliver.push(c);
				known.add(c.key, `${c.folder}:${c.uid}`);
				keys.push(seenEntry(c));
			}
			cursor = advance(cursor, c, now);
		}
		if (cut || scan.partial) more = true;
		if (!cut) {
			// Everything the search saw is handled: skip the rest of the range and end a catch-up.
			cursor = { ...cursor, lastUid: Math.max(cursor.lastUid, scan.scannedTo) };
			if (cursor.catchUp && cursor.lastUid >= cursor.catchUp.belowUid - 1) {
				cursor = withoutCatchUp(cursor);
			}
		}
		if (
			!sameCursor(cursor, scan.plan.cursor) ||
			scan.plan.kind === 'catchUp' ||
			(scan.plan.kind === 'uid' && scan.plan.fresh)
		) {
			cursors[scan.folder] = cursor;
		}
	}
	return { deliver, duplicates, reused, cursors, keys, more };
}

function advance(cursor: FolderCursor, c: Candidate, now: Date): FolderCursor {
	const time = c.internalDate.getTime();
	const sane = Number.isFinite(time) && time <= now.getTime() + FUTURE_SLACK_MS;
	const date = sane ? c.internalDate.toISOString() : undefined;
	const recent = [...(cursor.recent ?? []).filter((k) => k !== c.key), c.key];
	return {
		...cursor,
		lastUid: Math.max(cursor.lastUid, c.uid),
		lastDate: date && (!cursor.lastDate || date > cursor.lastDate) ? date : cursor.lastDate,
		recent: recent.length > RECENT_LIMIT ? recent.slice(-RECENT_LIMIT) : recent,
	};
}

function sameCursor(a: FolderCursor, b: FolderCursor): boolean {
	return JSON.stringify(a) === JSON.stringify(b);
}
