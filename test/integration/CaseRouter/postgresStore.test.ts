/**
 * The Case Router and the Parent Linker on the PostgreSQL store, through their n8n glue: a Retry
 * gives the same cases; two "workers" (two n8n processes: separate pools) share the ledger, the
 * threads and the linker's memory.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { CrmEmailCaseRouter } from '../../../nodes/CaseRouter/CrmEmailCaseRouter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { CrmEmailParentLinker } from '../../../nodes/ParentLinker/CrmEmailParentLinker.node.ts';
import { closePostgresPools } from '../../../nodes/shared/state/postgres';
import { fakeExecute, items } from '../../../harness/fakeExecute';
import { Postgres } from '../../../harness/postgres';

const server = new Postgres();
const router = new CrmEmailCaseRouter();
const linker = new CrmEmailParentLinker();
let credential: Record<string, unknown>;

before(async () => {
	await server.start();
	credential = { ...server.connection(), ssl: 'disable', schema: 'crm_email', tablePrefix: '' };
});
after(async () => {
	await closePostgresPools();
	await server.destroy();
});

const mails: IDataObject[] = [
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

async function route(input: IDataObject[], mode = 'trigger', workflowId = 'pg') {
	const f = fakeExecute({
		description: router.description,
		parameters: {
			operation: 'route',
			team: 'Support',
			assignment: 'roundRobin',
			membersSource: 'list',
			members: { member: [{ id: 'u1' }, { id: 'u2' }] },
			role: '',
			threadIds: 'ignore',
			stateStore: 'postgres',
			options: {},
		},
		inputs: [items(...input)],
		credentials: { crmEmailPostgresApi: credential },
		mode,
		workflowId,
	});
	const out = (await router.execute.call(f.ctx)) as INodeExecutionData[][];
	assert.deepEqual(f.credentialsAsked, ['crmEmailPostgresApi']);
	return out.flatMap((o, n) =>
		o.map((i) => {
			const c = i.json.case as IDataObject;
			return `${n}:${String(i.json.messageId)}:#${String(c?.number)}:${String(c?.assignee)}`;
		}),
	);
}

describe('Case Router on PostgreSQL', () => {
	it('a Retry on the same items gives the same cases; the next mail the next number', async () => {
		const first = await route(mails);
		assert.deepEqual(first, ['0:<a@c>:#1:u1', '0:<b@c>:#2:u2', '1:<c@c>:#1:u1']);
		assert.deepEqual(await route(mails), first);
		await closePostgresPools(); // another worker: its own pool
		assert.deepEqual(
			await route([
				{ messageId: '<d@c>', subject: 'D', from: { address: 'd@x.example' }, headers: {} },
			]),
			['0:<d@c>:#3:u1'],
		);
	});

	it('a reply routed by another worker joins the case the first one opened', async () => {
		await route([mails[0]], 'trigger', 'pg2');
		await closePostgresPools();
		assert.deepEqual(await route([mails[2]], 'trigger', 'pg2'), ['1:<c@c>:#1:u1']);
	});
});

describe('Parent Linker on PostgreSQL', () => {
	it("remembers a linked mail for a reply that another execution links, in the store's table", async () => {
		const run = async (input: IDataObject[]) => {
			const f = fakeExecute({
				description: linker.description,
				parameters: {
					mode: 'b2b',
					recordType: 'Contact',
					threadIds: 'ignore',
					stateStore: 'postgres',
					options: {},
				},
				inputs: [items(...input), items({ id: 'c1', name: 'Ann', emailAddress: 'ann@c.example' })],
				credentials: { crmEmailPostgresApi: credential },
				mode: 'trigger',
				workflowId: 'link',
			});
			return (await linker.execute.call(f.ctx)) as INodeExecutionData[][];
		};
		const [linked] = await run([mails[0]]);
		assert.equal((linked[0].json.parent as IDataObject).id, 'c1');
		await closePostgresPools();
		// Sent from an address the records do not know: found only through the remembered thread.
		const [viaThread, unknown] = await run([
			{ ...mails[2], from: { address: 'ann.private@home.example' } },
		]);
		assert.equal(unknown.length, 0);
		assert.deepEqual(
			[(viaThread[0].json.parent as IDataObject).id, (viaThread[0].json.parent as IDataObject).via],
			['c1', 'thread'],
		);
	});
});
