import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	commitPending,
	dropPending,
	emptyState,
	inCatchUp,
	messageKey,
	normalizeState,
	planFolder,
	relocatedPlan,
	selectBatch,
	type Candidate,
	type FolderCursor,
	type FolderScan,
} from '../../../nodes/ImapTrigger/core/cursor';

const since = new Date('2026-01-10T10:00:00Z');
const status = { uidValidity: '7', uidNext: 11 };

function cand(uid: number, key = `k${uid}`, folder = 'INBOX', at = since): Candidate {
	return { folder, uid, key, size: 100, internalDate: new Date(at.getTime() + uid * 1000) };
}

describe('planFolder', () => {
	const cases: Array<[string, FolderCursor | undefined, string]> = [
		['first run catches up from fetch-since', undefined, 'catchUp:first-run'],
		['same UIDVALIDITY, nothing new', { uidValidity: '7', lastUid: 10 }, 'idle'],
		['same UIDVALIDITY, new UIDs', { uidValidity: '7', lastUid: 4 }, 'uid'],
		[
			'changed UIDVALIDITY resumes by date',
			{ uidValidity: '6', lastUid: 40, lastDate: '2026-01-09T00:00:00.000Z' },
			'catchUp:uidvalidity-changed',
		],
		[
			'an unfinished catch-up resumes',
			{ uidValidity: '7', lastUid: 3, catchUp: { since: since.toISOString(), belowUid: 11 } },
			'catchUp:resume',
		],
	];
	for (const [name, stored, expected] of cases) {
		it(name, () => {
			const plan = planFolder(stored, status, since);
			assert.equal(plan.kind === 'catchUp' ? `catchUp:${plan.reason}` : plan.kind, expected);
		});
	}

	it('after a UIDVALIDITY change, restarts from UID 1 at the last date seen', () => {
		const plan = planFolder(
			{ uidValidity: '6', lastUid: 40, lastDate: '2026-01-09T00:00:00.000Z' },
			status,
			since,
		);
		assert.equal(plan.kind, 'catchUp');
		if (plan.kind !== 'catchUp') return;
		assert.equal(plan.fromUid, 1);
		assert.equal(plan.since.toISOString(), '2026-01-09T00:00:00.000Z');
		assert.equal(plan.cursor.uidValidity, '7');
	});

	it('uid plans start after the watermark', () => {
		const plan = planFolder({ uidValidity: '7', lastUid: 4 }, status, since);
		assert.equal(plan.kind === 'uid' && plan.fromUid, 5);
	});
});

describe('inCatchUp', () => {
	const plan = planFolder(undefined, status, since);
	it('keeps the exact boundary and later mails', () => {
		assert.equal(inCatchUp(plan, { uid: 3, internalDate: since }), true);
		assert.equal(
			inCatchUp(plan, { uid: 3, internalDate: new Date(since.getTime() - 1000) }),
			false,
		);
	});
	it('keeps mails that arrived after the catch-up began, whatever their date', () => {
		assert.equal(inCatchUp(plan, { uid: 11, internalDate: new Date(0) }), true);
	});
});

describe('selectBatch', () => {
	const uidScan = (
		cands: Candidate[],
		scannedTo: number,
		lastUid = 0,
		folder = 'INBOX',
	): FolderScan => ({
		folder,
		plan: { kind: 'uid', fromUid: lastUid + 1, cursor: { uidValidity: '7', lastUid } },
		candidates: cands,
		scannedTo,
	});

	it('takes at most the limit and moves the cursor only past what it took', () => {
		const sel = selectBatch([uidScan([cand(1), cand(2), cand(3)], 3)], [], 2);
		assert.deepEqual(
			sel.deliver.map((c) => c.uid),
			[1, 2],
		);
		assert.equal(sel.cursors.INBOX.lastUid, 2);
		assert.equal(sel.more, true);
	});

	it('passes over keys seen before and within the batch, moving past them', () => {
		const sel = selectBatch([uidScan([cand(1, 'a'), cand(2, 'b'), cand(3, 'a')], 3)], ['b'], 10);
		assert.deepEqual(
			sel.deliver.map((c) => c.uid),
			[1],
		);
		assert.deepEqual(
			sel.duplicates.map((c) => c.uid),
			[2, 3],
		);
		assert.equal(sel.cursors.INBOX.lastUid, 3);
		assert.deepEqual(sel.keys, ['a INBOX:1']);
	});

	it('skips the scanned range when nothing in it counts', () => {
		const sel = selectBatch([uidScan([], 9, 4)], [], 10);
		assert.equal(sel.cursors.INBOX.lastUid, 9);
		assert.equal(sel.more, false);
	});

	it('ends a catch-up once its range is covered', () => {
		const plan = planFolder(undefined, status, since);
		const sel = selectBatch(
			[{ folder: 'INBOX', plan, candidates: [cand(5)], scannedTo: 10 }],
			[],
			10,
		);
		assert.deepEqual(sel.cursors.INBOX.catchUp, undefined);
		assert.equal(sel.cursors.INBOX.lastUid, 10);
		assert.equal(sel.cursors.INBOX.lastDate, cand(5).internalDate.toISOString());
	});

	it('keeps a catch-up going when the limit cuts it', () => {
		const plan = planFolder(undefined, status, since);
		const sel = selectBatch(
			[{ folder: 'INBOX', plan, candidates: [cand(5), cand(6)], scannedTo: 10 }],
			[],
			1,
		);
		assert.equal(sel.cursors.INBOX.lastUid, 5);
		assert.ok(sel.cursors.INBOX.catchUp);
	});

	it('fills a batch across folders in order', () => {
		const sel = selectBatch(
			[
				uidScan([cand(1, 'a1')], 1),
				uidScan([cand(1, 'b1', 'Sent'), cand(2, 'b2', 'Sent')], 2, 0, 'Sent'),
			],
			[],
			2,
		);
		assert.deepEqual(
			sel.deliver.map((c) => `${c.folder}:${c.uid}`),
			['INBOX:1', 'Sent:1'],
		);
		assert.equal(sel.cursors.Sent.lastUid, 1);
	});
});

describe('selectBatch: the same mail, or another one with its Message-ID (issue #11)', () => {
	const scan = (cands: Candidate[]): FolderScan => ({
		folder: 'INBOX',
		plan: { kind: 'uid', fromUid: 1, cursor: { uidValidity: '7', lastUid: 0 } },
		candidates: cands,
		scannedTo: cands.length,
	});
	const first = messageKey({ messageId: '<m@x>', date: 'd1', from: 'a@x', subject: 's' });
	const other = messageKey({ messageId: '<m@x>', date: 'd2', from: 'a@x', subject: 's' });

	it('delivers a different mail reusing a Message-ID, flagged with where the first one was', () => {
		const sel = selectBatch([scan([cand(1, first), cand(2, other)])], [], 10);
		assert.deepEqual(
			sel.deliver.map((c) => c.uid),
			[1, 2],
		);
		assert.deepEqual(
			sel.reused.map((c) => [c.uid, c.firstSeen]),
			[[2, 'INBOX:1']],
		);
		assert.deepEqual(sel.duplicates, []);
	});

	it('passes over the same mail, saying where it was handled, across batches', () => {
		const sel = selectBatch([scan([cand(3, first)])], [`${first} Sent:9`], 10);
		assert.deepEqual(
			sel.duplicates.map((c) => [c.uid, c.firstSeen]),
			[[3, 'Sent:9']],
		);
		assert.deepEqual(sel.deliver, []);
	});

	it('still passes over a mail whose Message-ID an earlier version recorded', () => {
		const legacy = first.slice(0, 11) + 'AbCdE';
		const sel = selectBatch([scan([cand(3, other)])], [legacy], 10);
		assert.deepEqual(
			sel.duplicates.map((c) => c.uid),
			[3],
		);
	});
});

describe('UIDVALIDITY recovery (issue #11)', () => {
	const now = new Date('2026-01-10T12:00:00Z');
	const at = (uid: number, iso: string, key = `k${uid}`): Candidate => ({
		folder: 'INBOX',
		uid,
		key,
		size: 1,
		internalDate: new Date(iso),
	});
	const scan = (cands: Candidate[]): FolderScan => ({
		folder: 'INBOX',
		plan: { kind: 'uid', fromUid: 1, cursor: { uidValidity: '7', lastUid: 0 } },
		candidates: cands,
		scannedTo: cands.length,
	});

	it('never moves the date watermark to an internal date in the future', () => {
		const sel = selectBatch(
			[scan([at(1, '2026-01-10T11:00:00Z'), at(2, '2038-01-19T03:14:07Z')])],
			[],
			10,
			now,
		);
		assert.equal(sel.cursors.INBOX.lastDate, '2026-01-10T11:00:00.000Z');
	});

	it('keeps the last keys handled as anchors and relocates by them, not by date', () => {
		const cands = Array.from({ length: 30 }, (_, i) => at(i + 1, '2026-01-10T11:00:00Z'));
		const cursor = selectBatch([scan(cands)], [], 100, now).cursors.INBOX;
		assert.deepEqual(
			cursor.recent,
			cands.slice(10).map((c) => c.key),
		);
		const plan = planFolder(cursor, { uidValidity: '8', uidNext: 40 }, since, now);
		assert.equal(plan.kind, 'relocate');
		if (plan.kind !== 'relocate') return;
		const moved = relocatedPlan(plan, 33);
		assert.equal(moved.kind === 'uid' && moved.fromUid, 34);
		assert.equal(moved.cursor.uidValidity, '8');
		assert.equal(moved.cursor.catchUp, undefined);
		// Nothing new above the anchor: the new cursor is still saved.
		const sel = selectBatch(
			[{ folder: 'INBOX', plan: moved, candidates: [], scannedTo: 33 }],
			[],
			10,
			now,
		);
		assert.equal(sel.cursors.INBOX.uidValidity, '8');
		assert.equal(sel.cursors.INBOX.lastUid, 33);
	});

	it('falls back to a date no later than now when a stored watermark is in the future', () => {
		const plan = planFolder(
			{ uidValidity: '7', lastUid: 9, lastDate: '2038-01-19T03:14:07.000Z' },
			{ uidValidity: '8', uidNext: 5 },
			since,
			now,
		);
		assert.equal(plan.kind === 'catchUp' && plan.since.toISOString(), now.toISOString());
	});
});

describe('state', () => {
	it('normalizes nothing or garbage to an empty state', () => {
		assert.deepEqual(normalizeState(undefined), emptyState());
		assert.deepEqual(normalizeState({ version: 9 }), emptyState());
		assert.deepEqual(normalizeState('x'), emptyState());
	});

	it('commits a pending batch and bounds the seen keys', () => {
		const state = {
			...emptyState(),
			seen: ['a', 'b'],
			pending: { folders: { INBOX: { uidValidity: '1', lastUid: 3 } }, keys: ['c', 'd'] },
		};
		const next = commitPending(state, 3);
		assert.deepEqual(next.seen, ['b', 'c', 'd']);
		assert.equal(next.folders.INBOX.lastUid, 3);
		assert.equal(next.pending, undefined);
		assert.equal(dropPending(state).pending, undefined);
		assert.deepEqual(dropPending(state).folders, {});
	});
});

describe('messageKey', () => {
	const mail = { messageId: '<abc@x>', date: 'Thu, 29 Aug 2002', from: 'a@x', subject: 's' };
	it('is the same for the same mail, whatever its size or delivery', () => {
		assert.equal(messageKey(mail), messageKey({ ...mail, internalDate: new Date(5) }));
	});
	it('keeps the case of the id', () => {
		assert.notEqual(
			messageKey(mail).slice(0, 11),
			messageKey({ ...mail, messageId: '<ABC@x>' }).slice(0, 11),
		);
	});
	it('shares the id part, not the fingerprint, with another mail reusing the Message-ID', () => {
		const other = messageKey({ ...mail, date: 'Fri, 30 Aug 2002' });
		assert.equal(other.slice(0, 11), messageKey(mail).slice(0, 11));
		assert.notEqual(other, messageKey(mail));
	});
	it('falls back to date, sender and subject without a Message-ID, told apart by delivery', () => {
		const a = { messageId: null, date: 'd', from: 'f', subject: 's', internalDate: new Date(1) };
		assert.equal(messageKey(a), messageKey({ ...a }));
		assert.equal(
			messageKey(a).slice(0, 11),
			messageKey({ ...a, internalDate: new Date(2) }).slice(0, 11),
		);
		assert.notEqual(messageKey(a), messageKey({ ...a, internalDate: new Date(2) }));
	});
});
