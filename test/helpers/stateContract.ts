/**
 * What every StateStore must do, run against the file store (unit tier) and PostgreSQL
 * (integration tier). `make` returns a fresh, empty store for one node each time.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';

import { ObjectCaseStore } from '../../nodes/CaseRouter/core/store';
import { ObjectThreadMemory } from '../../nodes/ParentLinker/core/memory';
import { ObjectSendStore } from '../../nodes/shared/state/objectSendStore';
import type { CaseRecord, StateStore } from '../../nodes/shared/state/types';

/** The file store's three parts over one plain object, as one StateStore. */
export function objectStateStore(data: Record<string, unknown> = {}): StateStore {
	const cases = new ObjectCaseStore(data);
	data.links ??= {};
	const links = new ObjectThreadMemory(data.links as Record<string, string>, Infinity);
	const sends = new ObjectSendStore(data);
	const all = {} as Record<string, unknown>;
	for (const part of [cases, links, sends] as object[])
		for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(part)))
			if (name !== 'constructor')
				all[name] = (part as Record<string, (...a: unknown[]) => unknown>)[name].bind(part);
	return all as unknown as StateStore;
}

export function record(number: number, assignee: string | null, status = 'Assigned'): CaseRecord {
	return {
		number,
		id: `case-${number}`,
		name: `Case ${number}`,
		status,
		assignee,
		team: null,
		contactId: null,
		accountId: null,
		leadId: null,
		createdAt: 1,
		updatedAt: 1,
	};
}

export function stateStoreContract(make: () => Promise<StateStore> | StateStore): void {
	it('case numbers increase by one and are never reused; a case made elsewhere raises them', async () => {
		const s = await make();
		assert.deepEqual([await s.nextNumber(), await s.nextNumber()], [1, 2]);
		await s.putCase(record(40, null, 'New'));
		assert.equal(await s.nextNumber(), 41);
		assert.equal((await s.getCase(40))?.name, 'Case 40');
		assert.equal(await s.getCase(41), undefined);
	});

	it('a first case above a case made elsewhere', async () => {
		const s = await make();
		await s.putCase(record(7, null, 'New'));
		assert.equal(await s.nextNumber(), 8);
	});

	it('round-robin: the member after the previous one, wrapping; the first when it is gone', async () => {
		const s = await make();
		const got: Array<string | null> = [];
		const rr = { kind: 'roundRobin' as const, pool: 'p', members: ['a', 'b', 'c'] };
		for (let i = 1; i <= 4; i++)
			got.push((await s.openCase(i, (who) => record(i, who), rr)).assignee);
		assert.deepEqual(got, ['a', 'b', 'c', 'a']);
		const other = await s.openCase(5, (who) => record(5, who), { ...rr, members: ['x', 'y'] });
		assert.equal(other.assignee, 'x');
		const other2 = await s.openCase(6, (who) => record(6, who), { ...rr, pool: 'q' });
		assert.equal(other2.assignee, 'a', 'pools apart');
		assert.equal((await s.getCase(4))?.assignee, 'a');
		const none = await s.openCase(7, (who) => record(7, who), { ...rr, members: [] });
		assert.equal(none.assignee, null);
	});

	it('opening a case that is open already returns it: no second turn', async () => {
		const s = await make();
		const rr = { kind: 'roundRobin' as const, pool: 'p', members: ['a', 'b', 'c'] };
		const lb = { kind: 'leastBusy' as const, members: ['a', 'b'], closed: [] };
		assert.equal((await s.openCase(1, (who) => record(1, who), rr)).assignee, 'a');
		assert.equal((await s.openCase(1, (who) => record(1, who), rr)).assignee, 'a');
		assert.equal((await s.openCase(1, (who) => record(1, who), lb)).assignee, 'a');
		assert.equal((await s.openCase(2, (who) => record(2, who), rr)).assignee, 'b');
	});

	it('least-busy counts open cases in the ledger; closing one frees its assignee', async () => {
		const s = await make();
		const lb = { kind: 'leastBusy' as const, members: ['u1', 'u2'], closed: ['closed'] };
		const got: Array<string | null> = [];
		for (let i = 1; i <= 3; i++)
			got.push((await s.openCase(i, (who) => record(i, who), lb)).assignee);
		assert.deepEqual(got, ['u1', 'u2', 'u1']);
		await s.putCase({ ...record(1, 'u1'), status: 'Closed' });
		await s.putCase({ ...record(3, 'u1'), status: 'Closed' });
		assert.equal((await s.openCase(4, (who) => record(4, who), lb)).assignee, 'u1');
		assert.equal(
			(await s.openCase(5, (who) => record(5, who), lb)).assignee,
			'u1',
			'tie: list order',
		);
		assert.equal((await s.openCase(6, (who) => record(6, who), lb)).assignee, 'u2');
		const fixed = await s.openCase(7, (who) => record(7, who), { kind: 'fixed', userId: 'boss' });
		assert.equal(fixed.assignee, 'boss');
	});

	it('a Message-ID keeps the first case it was linked to', async () => {
		const s = await make();
		assert.equal(await s.caseForMessage('<a@x>'), undefined);
		await s.linkMessage('<a@x>', 1);
		await s.linkMessage('<a@x>', 2);
		assert.equal(await s.caseForMessage('<a@x>'), 1);
	});

	it('the first route recorded for a mail stays', async () => {
		const s = await make();
		const first = { number: 3, route: 'newCase' as const, fingerprint: 'f1' };
		assert.deepEqual(await s.recordRoute('<m@x>', first), first);
		assert.deepEqual(
			await s.recordRoute('<m@x>', { number: 4, route: 'followUp', fingerprint: 'f2' }),
			first,
		);
		assert.deepEqual(await s.routedMail('<m@x>'), first);
		assert.equal(await s.routedMail('<n@x>'), undefined);
	});

	it('retention forgets old closed cases with their threads and caps the thread map', async () => {
		const s = await make();
		await s.putCase({ ...record(1, null, 'Closed'), updatedAt: 10 });
		await s.putCase({ ...record(2, null, 'New'), updatedAt: 10 });
		await s.linkMessage('<old@x>', 1);
		await s.recordRoute('<old@x>', { number: 1, route: 'newCase', fingerprint: 'f' });
		for (let i = 0; i < 5; i++) await s.linkMessage(`<${i}@x>`, 2);
		await s.prune(1_000_000, { closedMs: 100, maxThreads: 3 }, new Set(['closed']));
		assert.equal(await s.getCase(1), undefined);
		assert.ok(await s.getCase(2));
		assert.equal(await s.caseForMessage('<old@x>'), undefined);
		assert.equal(await s.routedMail('<old@x>'), undefined);
		assert.equal(await s.caseForMessage('<1@x>'), undefined);
		assert.equal(await s.caseForMessage('<4@x>'), 2);
		assert.equal(await s.nextNumber(), 3, 'a forgotten case number is not handed out again');
	});

	it('links: read many at once, the last write wins, the newest kept', async () => {
		const s = await make();
		const p = (id: string, n: number | null = null) => ({
			parentType: 'Contact',
			parentId: id,
			caseNumber: n,
		});
		await s.putLinks([
			['<1@x>', p('c1')],
			['<2@x>', p('c2', 5)],
			['<3@x>', p('c3')],
		]);
		await s.putLinks([['<1@x>', p('c1b')]]);
		const got = await s.getLinks(['<1@x>', '<2@x>', '<9@x>']);
		assert.deepEqual([...got.entries()].sort(), [
			['<1@x>', p('c1b')],
			['<2@x>', p('c2', 5)],
		]);
		await s.trimLinks(2);
		assert.deepEqual([...(await s.getLinks(['<1@x>', '<2@x>', '<3@x>'])).keys()].sort(), [
			'<1@x>',
			'<3@x>',
		]);
	});

	it('rate limit: counted only while under the limit in the window; a failed send is taken back', async () => {
		const s = await make();
		const limit = { max: 2, windowMs: 1000 };
		const got = [];
		for (const t of [0, 10, 20]) got.push(await s.countReply('a@x', limit, t));
		assert.deepEqual(got, [true, true, false]);
		assert.equal(await s.countReply('b@x', limit, 20), true, 'per recipient');
		await s.forgetReply('a@x', 10);
		assert.equal(await s.countReply('a@x', limit, 30), true);
		assert.equal(await s.countReply('a@x', limit, 40), false);
		assert.equal(await s.countReply('a@x', limit, 1001), true, 'the window moved on');
		await s.pruneSends(limit, 1000, 5000);
		assert.equal(await s.countReply('a@x', limit, 5000), true);
	});

	it('one-off and per-mail send marks: at most once', async () => {
		const s = await make();
		assert.equal(await s.markOneOff('welcome|a@x', 1), true);
		assert.equal(await s.markOneOff('welcome|a@x', 2), false);
		await s.forgetOneOff('welcome|a@x');
		assert.equal(await s.markOneOff('welcome|a@x', 3), true, 'a one-off not sent is taken back');
		assert.equal(await s.markOneOff('welcome|a@x', 4), false);
		assert.equal(await s.claimSend('<in@x>|t1', 1), 'claimed');
		assert.equal(await s.claimSend('<in@x>|t1', 2), 'sending');
		assert.equal(await s.claimSend('<in@x>|t2', 2), 'claimed', 'per template');
		await s.markSent('<in@x>|t1', 3);
		assert.equal(await s.claimSend('<in@x>|t1', 4), 'sent');
		await s.releaseSend('<in@x>|t1');
		assert.equal(await s.claimSend('<in@x>|t1', 5), 'sent', 'a sent mail is never released');
		await s.releaseSend('<in@x>|t2');
		assert.equal(await s.claimSend('<in@x>|t2', 6), 'claimed');
		await s.pruneSends({ max: 1, windowMs: 1 }, 100, 1_000);
		assert.equal(await s.markOneOff('welcome|a@x', 1_000), false, 'one-offs outlive the marks');
		assert.equal(await s.claimSend('<in@x>|t1', 1_000), 'claimed', 'old send marks go');
	});
}
