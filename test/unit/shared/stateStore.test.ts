/**
 * The file store ("This n8n instance") keeps the StateStore contract; its state is plain JSON.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { objectStateStore, record, stateStoreContract } from '../../helpers/stateContract';

describe('file store: the StateStore contract', () => {
	stateStoreContract(() => objectStateStore());

	it('everything it keeps survives a JSON round trip (the state file)', async () => {
		const data: Record<string, unknown> = {};
		const s = objectStateStore(data);
		await s.openCase(1, (who) => record(1, who), {
			kind: 'roundRobin',
			pool: 'p',
			members: ['a', 'b'],
		});
		await s.recordRoute('<m@x>', { number: 1, route: 'newCase', fingerprint: 'f|g' });
		await s.claimSend('k', 1);
		await s.putLinks([['<l@x>', { parentType: 'Case', parentId: 'c|1', caseNumber: 1 }]]);
		const again = objectStateStore(JSON.parse(JSON.stringify(data)));
		assert.deepEqual(await again.routedMail('<m@x>'), {
			number: 1,
			route: 'newCase',
			fingerprint: 'f|g',
		});
		assert.equal(await again.claimSend('k', 2), 'sending');
		assert.equal((await again.getLinks(['<l@x>'])).get('<l@x>')?.parentId, 'c|1');
		const next = await again.openCase(2, (who) => record(2, who), {
			kind: 'roundRobin',
			pool: 'p',
			members: ['a', 'b'],
		});
		assert.equal(next.assignee, 'b');
	});
});
