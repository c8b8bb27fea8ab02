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
	/** Internal date (ISO) of the newest mail handled: the restart point after a UIDVALIDITY change. */
	lastDate?: string;
	/**
	 * While catching up by date (first run, or after a UIDVALIDITY change): mails with a UID below
	 * `belowUid` count only if their internal date is on or after `since`; mails at or above it
	 * arrived after the catch-up began and always count.
	 */
	catchUp?: { since: string; belowUid: number };
}

export interface PendingBatch {
	folders: Record<string, FolderCursor>;
	keys: string[];
}

export interface IntakeState {
	version: 1;
	folders: Record<string, FolderCursor>;
	/** Recent message keys (short hashes), oldest first; bounded by `seenLimit`. */
	seen: string[];
	pending?: PendingBatch;
}

export const DEFAULT_SEEN_LIMIT = 5000;

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

/** Applies a batch's cursors and keys: the batch has reached the workflow. */
/** The state without a pending batch (the batch never reached the workflow). */
export function dropPending(state: IntakeState): IntakeState {
	return { version: 1, folders: state.folders, seen: state.seen };
}

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
	| { kind: 'uid'; fromUid: number; cursor: FolderCursor }
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
		// The folder was recreated or migrated: UIDs mean nothing now. Resume by the date of the
		// last mail seen; Message-ID de-duplication absorbs the overlap.
		const since = stored.lastDate ?? stored.catchUp?.since ?? fetchSince.toISOString();
		const cursor: FolderCursor = {
			uidValidity: status.uidValidity,
			lastUid: 0,
			lastDate: stored.lastDate,
			catchUp: { since, belowUid: status.uidNext },
		};
		return catchUpPlan(cursor, 'uidvalidity-changed');
	}
	if (stored.catchUp) return catchUpPlan(stored, 'resume');
	if (status.uidNext <= stored.lastUid + 1) return { kind: 'idle', cursor: stored };
	return { kind: 'uid', fromUid: stored.lastUid + 1, cursor: stored };
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
	key: string;
}

/** Whether a catch-up candidate counts (exact date boundary; SEARCH SINCE is only by day). */
export function inCatchUp(plan: FolderPlan, c: Pick<Candidate, 'uid' | 'internalDate'>): boolean {
	if (plan.kind !== 'catchUp') return true;
	return c.uid >= plan.belowUid || c.internalDate.getTime() >= plan.since.getTime();
}

/**
 * Normalised Message-ID, or a stand-in for mails without one. Angle brackets and spaces are
 * dropped (mail that lost its `<>` is still the same mail); the case is kept, as RFC 5322 says.
 */
export function messageKey(
	messageId: string | undefined | null,
	fallback: { date?: string; subject?: string; from?: string; size?: number },
): string {
	const id = (messageId ?? '')
		.trim()
		.replace(/^<+|>+$/g, '')
		.trim();
	const basis = id
		? `id:${id}`
		: `nomid:${fallback.date ?? ''}|${fallback.from ?? ''}|${fallback.subject ?? ''}|${fallback.size ?? 0}`;
	return createHash('sha1').update(basis).digest('base64url').slice(0, 16);
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
	/** Mails passed over as duplicates (same key seen before or earlier in this batch). */
	duplicates: Candidate[];
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
): BatchSelection {
	const known = new Set(seen);
	const deliver: Candidate[] = [];
	const duplicates: Candidate[] = [];
	const cursors: Record<string, FolderCursor> = {};
	const keys: string[] = [];
	let more = false;

	for (const scan of scans) {
		let cursor = scan.plan.cursor;
		let cut = false;
		for (const c of scan.candidates) {
			if (known.has(c.key)) {
				duplicates.push(c);
			} else {
				if (deliver.length >= limit) {
					cut = true;
					break;
				}
				deliver.push(c);
				known.add(c.key);
				keys.push(c.key);
			}
			cursor = advance(cursor, c);
		}
		if (cut || scan.partial) more = true;
		if (!cut) {
			// Everything the search saw is handled: skip the rest of the range and end a catch-up.
			cursor = { ...cursor, lastUid: Math.max(cursor.lastUid, scan.scannedTo) };
			if (cursor.catchUp && cursor.lastUid >= cursor.catchUp.belowUid - 1) {
				cursor = {
					uidValidity: cursor.uidValidity,
					lastUid: cursor.lastUid,
					lastDate: cursor.lastDate,
				};
			}
		}
		if (!sameCursor(cursor, scan.plan.cursor) || scan.plan.kind === 'catchUp') {
			cursors[scan.folder] = cursor;
		}
	}
	return { deliver, duplicates, cursors, keys, more };
}

function advance(cursor: FolderCursor, c: Candidate): FolderCursor {
	const date = c.internalDate.toISOString();
	return {
		...cursor,
		lastUid: Math.max(cursor.lastUid, c.uid),
		lastDate: !cursor.lastDate || date > cursor.lastDate ? date : cursor.lastDate,
	};
}

function sameCursor(a: FolderCursor, b: FolderCursor): boolean {
	return JSON.stringify(a) === JSON.stringify(b);
}
