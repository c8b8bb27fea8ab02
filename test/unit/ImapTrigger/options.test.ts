import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	readTriggerParameters,
	type TriggerParameters,
} from '../../../nodes/ImapTrigger/core/options';

const now = new Date('2026-05-05T05:05:05Z');
const base: TriggerParameters = {
	folders: ['INBOX'],
	fetchSince: '',
	afterFetch: 'nothing',
	batchSize: 50,
	options: {},
};

describe('readTriggerParameters', () => {
	it('has sensible defaults', () => {
		const s = readTriggerParameters(base, now);
		assert.deepEqual(s.folders, ['INBOX']);
		assert.equal(s.fetchSince.toISOString(), now.toISOString());
		assert.equal(s.maxMailBytes, 10 * 1024 * 1024);
		assert.deepEqual(s.attachments, { include: false, maxBytes: 10 * 1024 * 1024 });
		assert.equal(s.mode, 'idle');
		assert.equal(s.pollIntervalMs, 60_000);
	});

	it('New Mail Detection: Polling Only turns IDLE off', () => {
		const s = readTriggerParameters({ ...base, options: { newMailDetection: 'poll' } }, now);
		assert.equal(s.mode, 'poll');
	});

	it('accepts folders as a comma-separated expression result, de-duplicated', () => {
		assert.deepEqual(
			readTriggerParameters({ ...base, folders: 'INBOX, Sent,INBOX' }, now).folders,
			['INBOX', 'Sent'],
		);
	});

	const bad: Array<[string, Partial<TriggerParameters>, RegExp]> = [
		['no folder', { folders: [] }, /Folder Names or IDs/],
		['a date that is not one', { fetchSince: 'yesterday-ish' }, /Fetch Since/],
		['move without a folder', { afterFetch: 'move', moveTo: ' ' }, /Move To Folder/],
		[
			'move into a watched folder',
			{ afterFetch: 'move', moveTo: 'INBOX' },
			/also a watched folder/,
		],
		['zero mails per execution', { batchSize: 0 }, /Max Mails per Execution/],
		[
			'an unbounded batch',
			{ batchSize: 100_000 },
			/Max Mails per Execution: 100000 is not between 1 and 1000/,
		],
		[
			'an unbounded mail size',
			{ options: { maxMailMb: 1000 } },
			/Max Mail Size \(MB\): 1000 is not between 0 and 50/,
		],
		['a negative mail size', { options: { maxMailMb: -1 } }, /Max Mail Size \(MB\)/],
		[
			'an unbounded attachment size',
			{ options: { maxAttachmentMb: 51 } },
			/Max Attachment Size \(MB\)/,
		],
	];
	for (const [name, over, message] of bad) {
		it(`names the parameter for ${name}`, () => {
			assert.throws(
				() => readTriggerParameters({ ...base, ...over }, now),
				(e: Error & { code?: string }) => {
					assert.equal(e.code, 'CONFIG_INVALID');
					assert.match(e.message, message);
					return true;
				},
			);
		});
	}
});
