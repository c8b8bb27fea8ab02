/**
 * Routing the same mail again — n8n's Retry of a failed execution, a rerun after a crashed worker
 * — returns the case it got the first time: no second case, no round-robin turn taken twice.
 * Another mail that merely reuses its Message-ID is not handed that case.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { routeMail, type RouterConfig } from '../../../nodes/CaseRouter/core/router';
import { ObjectCaseStore } from '../../../nodes/CaseRouter/core/store';

function config(over: Partial<RouterConfig> = {}): RouterConfig {
	return {
		tagPattern: /\[#(\d+)\]/,
		unknownTag: 'newCase',
		joinPolicy: 'participants',
		reopenOnReply: true,
		closed: new Set(['closed']),
		own: new Set(['support@example.com']),
		team: null,
		strategy: { kind: 'roundRobin', members: [{ id: 'u1' }, { id: 'u2' }, { id: 'u3' }] },
		openCounts: null,
		parseOwnId: null,
		now: 1_000,
		...over,
	};
}

const first = {
	messageId: '<first@customer.example>',
	subject: 'Printer broken',
	date: '2026-01-02T03:04:05.000Z',
	from: { address: 'ann@customer.example' },
	headers: {},
};
const reply = {
	messageId: '<reply@customer.example>',
	inReplyTo: '<first@customer.example>',
	subject: 'Re: Printer broken',
	date: '2026-01-02T04:00:00.000Z',
	from: { address: 'ann@customer.example' },
	headers: {},
};

describe('router: the same mail again gets the same case', () => {
	it('a first mail routed twice: one case, one round-robin turn', async () => {
		const store = new ObjectCaseStore({});
		const a = await routeMail(first, store, config());
		const again = await routeMail(first, store, config({ now: 2_000 }));
		assert.equal(a.route, 'newCase');
		assert.deepEqual(
			[again.route, again.case?.number, again.case?.assignee, again.case?.isNew],
			['newCase', 1, 'u1', true],
		);
		assert.match(again.reason, /routed before to case 1/);
		const next = await routeMail({ ...first, messageId: '<other@c>' }, store, config());
		assert.deepEqual([next.case?.number, next.case?.assignee], [2, 'u2']);
	});

	it('a reply routed twice joins its case once', async () => {
		const store = new ObjectCaseStore({});
		await routeMail(first, store, config());
		const r1 = await routeMail(reply, store, config());
		const r2 = await routeMail(reply, store, config());
		assert.deepEqual([r1.route, r1.case?.number], ['followUp', 1]);
		assert.deepEqual([r2.route, r2.case?.number, r2.case?.isNew], ['followUp', 1, false]);
		assert.equal(
			(await routeMail({ ...first, messageId: '<x@c>' }, store, config())).case?.number,
			2,
		);
	});

	it("another mail reusing a routed mail's Message-ID is not handed its case", async () => {
		const store = new ObjectCaseStore({});
		await routeMail(first, store, config());
		const stranger = { ...first, from: { address: 'eve@elsewhere.example' }, subject: 'Hi' };
		const s = await routeMail(stranger, store, config());
		assert.deepEqual([s.route, s.case?.number], ['newCase', 2]);
		// And the original, routed again, still gets its own case.
		assert.equal((await routeMail(first, store, config())).case?.number, 1);
	});

	it('a crash after the number was handed out: the rerun opens that number, no gap, no second case', async () => {
		const data: Record<string, unknown> = {};
		const store = new ObjectCaseStore(data);
		const failing = Object.create(store) as ObjectCaseStore;
		failing.openCase = async () => {
			throw new Error('worker killed');
		};
		await assert.rejects(routeMail(first, failing, config()), /worker killed/);
		const rerun = await routeMail(first, new ObjectCaseStore(data), config());
		assert.deepEqual([rerun.route, rerun.case?.number, rerun.case?.isNew], ['newCase', 1, true]);
		assert.equal(await new ObjectCaseStore(data).nextNumber(), 2);
	});
});
