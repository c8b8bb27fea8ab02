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
		assert.deepEqual(sel.keys, ['a']);
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
	it('is the same with or without angle brackets and spaces (EspoCRM #1516)', () => {
		assert.equal(messageKey('<abc@x>', {}), messageKey(' abc@x ', {}));
	});
	it('keeps the case of the id', () => {
		assert.notEqual(messageKey('<ABC@x>', {}), messageKey('<abc@x>', {}));
	});
	it('falls back to date, sender, subject and size without a Message-ID', () => {
		const a = messageKey(undefined, { date: 'd', from: 'f', subject: 's', size: 1 });
		assert.equal(a, messageKey('', { date: 'd', from: 'f', subject: 's', size: 1 }));
		assert.notEqual(a, messageKey(undefined, { date: 'd', from: 'f', subject: 's', size: 2 }));
	});
});
