/**
 * The Case Router store's counter: never a number twice, also when the state is lost or damaged —
 * the floor kept apart from the state, and the highest number recovered from a damaged text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import {
	FLOOR_BLOCK,
	highestCaseNumber,
	ObjectCaseStore,
	type CounterFloor,
} from '../../../nodes/CaseRouter/core/store';

function floor(start = 0): CounterFloor & { raises: number[]; fail: boolean } {
	let value = start;
	const f = {
		raises: [] as number[],
		fail: false,
		read: () => value,
		raise: (upTo: number) => {
			if (f.fail) throw new Error('ENOSPC');
			f.raises.push(upTo);
			value = upTo;
		},
	};
	return f;
}

/** Text that could sit in a stored string: quotes, key-like text, digits. */
const text = fc.oneof(
	fc.string(),
	fc.constantFrom('"counter":999999', '\\"number\\":88888', '>":77777', 'a"b>', '"reserved":5e9'),
);

const storedState = fc
	.record({
		counter: fc.nat({ max: 1e9 }),
		cases: fc.array(
			fc.record({
				number: fc.nat({ max: 1e9 }),
				name: text,
				createdAt: fc.nat({ max: 4e12 }),
			}),
			{ maxLength: 5 },
		),
		threads: fc.array(fc.tuple(text, fc.nat({ max: 1e9 })), { maxLength: 5 }),
	})
	.map(({ counter, cases, threads }) => {
		const state = {
			counter,
			cases: Object.fromEntries(cases.map((c) => [String(c.number), c])),
			threads: Object.fromEntries(threads.map(([id, n]) => [`<${id}>`, n])),
			roundRobin: {},
		};
		const numbers = [
			...Object.values(state.cases).map((c) => c.number),
			...Object.values(state.threads),
		];
		return { max: Math.max(counter, ...numbers), json: JSON.stringify(state) };
	});

describe('highestCaseNumber', () => {
	it('finds the highest number in an intact state, whatever its strings hold', () => {
		fc.assert(
			fc.property(storedState, ({ max, json }) => {
				assert.equal(highestCaseNumber(json), max);
			}),
		);
	});

	it('never reports more than was handed out, from any cut of the text', () => {
		fc.assert(
			fc.property(storedState, fc.nat(), ({ max, json }, cut) => {
				assert.ok(highestCaseNumber(json.slice(0, cut % (json.length + 1))) <= max);
			}),
		);
	});

	it('ignores numbers beyond the safe integers and text without keys', () => {
		assert.equal(highestCaseNumber('{"counter":99999999999999999'), 0);
		assert.equal(highestCaseNumber(''), 0);
		assert.equal(highestCaseNumber('garbage 12345'), 0);
	});
});

describe('the counter floor', () => {
	it('is raised a block ahead, before a number above it is handed out', async () => {
		const f = floor();
		const store = new ObjectCaseStore({}, f);
		assert.equal(store.resumedAbove, null);
		const numbers = [];
		for (let i = 0; i < FLOOR_BLOCK + 1; i++) numbers.push(await store.nextNumber());
		assert.equal(numbers[FLOOR_BLOCK], FLOOR_BLOCK + 1);
		assert.deepEqual(f.raises, [FLOOR_BLOCK, 2 * FLOOR_BLOCK]);
	});

	it('state without a counter resumes above the floor and the recovered number', async () => {
		const f = floor(250);
		assert.equal(await new ObjectCaseStore({}, f).nextNumber(), 251);
		const g = floor(250);
		const store = new ObjectCaseStore({}, g, 300);
		assert.equal(store.resumedAbove, 300);
		assert.equal(await store.nextNumber(), 301);
		assert.deepEqual(g.raises, [300 + FLOOR_BLOCK]);
	});

	it('an intact state is not moved by the floor ahead of it', async () => {
		const f = floor(200);
		const store = new ObjectCaseStore({ counter: 150, reserved: 200 }, f);
		assert.equal(store.resumedAbove, null);
		assert.equal(await store.nextNumber(), 151);
		assert.deepEqual(f.raises, []);
	});

	it('an older copy of the state (less reserved than the floor) resumes above the floor', async () => {
		const store = new ObjectCaseStore({ counter: 150, reserved: 200 }, floor(300));
		assert.equal(store.resumedAbove, 300);
		assert.equal(await store.nextNumber(), 301);
	});

	it('a floor that cannot be raised hands out no number', async () => {
		const f = floor();
		f.fail = true;
		const data: Record<string, unknown> = {};
		const store = new ObjectCaseStore(data, f);
		await assert.rejects(store.nextNumber(), /ENOSPC/);
		assert.equal(data.counter, 0);
	});

	it('a case put above the counter raises the floor too', async () => {
		const f = floor();
		const store = new ObjectCaseStore({}, f);
		await store.putCase({ number: 500 } as Parameters<typeof store.putCase>[0]);
		assert.deepEqual(f.raises, [500 + FLOOR_BLOCK - 1]);
		assert.equal(await store.nextNumber(), 501);
	});
});
