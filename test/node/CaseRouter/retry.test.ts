/**
 * n8n's Retry of an execution runs the Case Router again on the same items: on the file store
 * ("This instance") every mail gets the case it got the first time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IDataObject } from 'n8n-workflow';

import { CrmEmailCaseRouter } from '../../../nodes/CaseRouter/CrmEmailCaseRouter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { fakeExecute, items } from '../../../harness/fakeExecute';

const node = new CrmEmailCaseRouter();
const dir = mkdtempSync(join(tmpdir(), 'crm-email-retry-'));
before(() => {
	process.env.CRM_EMAIL_STATE_DIR = dir;
});
after(() => {
	delete process.env.CRM_EMAIL_STATE_DIR;
	rmSync(dir, { recursive: true, force: true });
});

const retryMails: IDataObject[] = [
	{ messageId: '<a@c>', subject: 'First', from: { address: 'ann@c.example' }, headers: {} },
	{ messageId: '<b@c>', subject: 'Second', from: { address: 'bob@c.example' }, headers: {} },
	{
		messageId: '<c@c>',
		inReplyTo: '<a@c>',
		subject: 'Re: First',
		from: { address: 'ann@c.example' },
		headers: {},
	},
];

const retryParameters = {
	operation: 'route',
	team: 'Support',
	assignment: 'roundRobin',
	membersSource: 'list',
	members: { member: [{ id: 'u1' }, { id: 'u2' }] },
	role: '',
	threadIds: 'ignore',
	options: {},
};

/** Case number, assignee and output of each item. */
function summary(outputs: Array<Array<{ json: IDataObject }>>): string[] {
	return outputs.flatMap((out, o) =>
		out.map((i) => {
			const c = i.json.case as IDataObject;
			return `${o}:${String(i.json.messageId)}:#${String(c?.number)}:${String(c?.assignee)}`;
		}),
	);
}

describe('Case Router: Retry of an execution', () => {
	it('the same items again: the same cases, no new number, no round-robin turn', async () => {
		const run = async (mails: IDataObject[]) =>
			summary(
				(await node.execute.call(
					fakeExecute({
						description: node.description,
						parameters: retryParameters,
						inputs: [items(...mails)],
						mode: 'trigger',
						workflowId: 'retry',
					}).ctx,
				)) as Array<Array<{ json: IDataObject }>>,
			);
		const firstRun = await run(retryMails);
		assert.deepEqual(firstRun, ['0:<a@c>:#1:u1', '0:<b@c>:#2:u2', '1:<c@c>:#1:u1']);
		assert.deepEqual(await run(retryMails), firstRun);
		assert.deepEqual(
			await run([
				{ messageId: '<d@c>', subject: 'New', from: { address: 'x@y.example' }, headers: {} },
			]),
			['0:<d@c>:#3:u1'],
		);
	});
});
