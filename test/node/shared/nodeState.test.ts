/**
 * Node state of production executions: a file per workflow and node, under a lock.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IDataObject } from 'n8n-workflow';

import { CrmEmailCaseRouter } from '../../../nodes/CaseRouter/CrmEmailCaseRouter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { withNodeState } from '../../../nodes/shared/nodeState';
import { fakeExecute, items } from '../../helpers/fakeExecute';

const dir = mkdtempSync(join(tmpdir(), 'crm-email-state-'));
before(() => {
	process.env.CRM_EMAIL_STATE_DIR = dir;
});
after(() => {
	delete process.env.CRM_EMAIL_STATE_DIR;
	rmSync(dir, { recursive: true, force: true });
});

const node = new CrmEmailCaseRouter();
function route(subject: string, staticData: IDataObject = {}) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'route',
			team: '',
			assignment: 'none',
			threadIds: 'ignore',
			options: {},
		},
		inputs: [items({ subject, from: { address: `${subject}@c.example` } })],
		mode: 'trigger',
		workflowId: 'wfState',
		staticData,
	});
	return node.execute.call(f.ctx);
}

describe('node state in production executions', () => {
	it('survives between executions in a file, not in static data', async () => {
		const staticData: IDataObject = {};
		const [a] = await route('a', staticData);
		const [b] = await route('b', {});
		assert.deepEqual(
			[a[0].json.case, b[0].json.case].map((c) => (c as IDataObject).number),
			[1, 2],
		);
		assert.deepEqual(staticData, {});
		assert.equal(readdirSync(dir).filter((f) => f.startsWith('wfState-')).length, 1);
	});

	it('concurrent executions are serialized: no case number twice', async () => {
		const outs = await Promise.all(['c', 'd', 'e', 'f'].map((s) => route(s)));
		const numbers = outs.map(([created]) => (created[0].json.case as IDataObject).number).sort();
		assert.deepEqual(numbers, [3, 4, 5, 6]);
	});

	it('a damaged file is set aside and the node starts afresh', async () => {
		const file = readdirSync(dir).find(
			(f) => f.startsWith('wfState-') && f.endsWith('.json'),
		) as string;
		writeFileSync(join(dir, file), '{not json');
		const [created] = await route('g');
		assert.equal((created[0].json.case as IDataObject).number, 1);
		assert.equal(readdirSync(dir).filter((f) => f.includes('.damaged-')).length, 1);
	});

	it('state is saved even when the work fails', async () => {
		const f = fakeExecute({
			description: node.description,
			parameters: {},
			inputs: [[]],
			mode: 'trigger',
			workflowId: 'wfFail',
		});
		await assert.rejects(
			withNodeState(f.ctx, async (data) => {
				data.touched = true;
				throw new Error('boom');
			}),
			/boom/,
		);
		const seen = await withNodeState(f.ctx, async (data) => data.touched);
		assert.equal(seen, true);
	});
});
