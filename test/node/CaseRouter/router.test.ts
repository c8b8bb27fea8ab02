/**
 * The Case Router's n8n glue with a fake execute context.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NodeOperationError, type IDataObject, type INodeExecutionData } from 'n8n-workflow';

import { CrmEmailCaseRouter } from '../../../nodes/CaseRouter/CrmEmailCaseRouter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { fakeExecute, items } from '../../../harness/fakeExecute';

const node = new CrmEmailCaseRouter();

function run(
	mails: IDataObject[],
	parameters: Record<string, unknown> = {},
	staticData: IDataObject = {},
	continueOnFail = false,
) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'route',
			team: 'Support',
			assignment: 'roundRobin',
			membersSource: 'list',
			members: {
				member: [
					{ id: 'u1', name: 'Una', role: '', active: true },
					{ id: 'u2', name: 'Dos', role: '', active: false },
					{ id: 'u3', name: 'Tres', role: '', active: true },
				],
			},
			role: '',
			threadIds: 'ignore',
			options: { ownAddresses: 'support@example.com' },
			...parameters,
		},
		inputs: [items(...mails)],
		staticData,
		continueOnFail,
	});
	return node.execute.call(f.ctx);
}

describe('Case Router node', () => {
	it('outputs depend on the operation, Failed last in both', () => {
		const outputs = String(node.description.outputs);
		assert.match(outputs, /"New Case".*"Follow-Up".*"Ignored".*"Failed" \}\] \}\}$/);
		assert.match(outputs, /"Updated".*"Not Found".*"Failed" \}\] :/);
		assert.equal(node.description.usableAsTool, true);
	});

	it('routes in order across executions, round-robin skipping inactive members', async () => {
		const staticData: IDataObject = {};
		const [created, followUps, ignored] = await run(
			[
				{ messageId: '<a@c>', subject: 'First', from: { address: 'ann@c.example' } },
				{
					messageId: '<b@c>',
					inReplyTo: '<a@c>',
					subject: 'Re: First',
					from: { address: 'ann@c.example' },
				},
				{
					messageId: '<x@c>',
					subject: 'Out of office',
					from: { address: 'bob@c.example' },
					headers: { 'auto-submitted': 'auto-replied' },
				},
				{ messageId: '<d@c>', subject: 'Second', from: { address: 'carl@c.example' } },
			],
			{},
			staticData,
		);
		assert.deepEqual(
			created.map((i) => [
				(i.json.case as IDataObject).number,
				(i.json.case as IDataObject).assignee,
			]),
			[
				[1, 'u1'],
				[2, 'u3'],
			],
		);
		assert.deepEqual(
			followUps.map((i) => (i.json.case as IDataObject).number),
			[1],
		);
		assert.equal((ignored[0].json.routing as IDataObject).route, 'ignored');
		assert.deepEqual(
			[
				created[0].pairedItem,
				followUps[0].pairedItem,
				ignored[0].pairedItem,
				created[1].pairedItem,
			],
			[{ item: 0 }, { item: 1 }, { item: 2 }, { item: 3 }],
		);
		const [next] = await run(
			[{ messageId: '<e@c>', subject: 'Third', from: { address: 'dan@c.example' } }],
			{},
			staticData,
		);
		assert.deepEqual(
			[(next[0].json.case as IDataObject).number, (next[0].json.case as IDataObject).assignee],
			[3, 'u1'],
		);
	});

	it('puts the reply text on the case; the item keeps its body, attachments and binary', async () => {
		const binary = {
			attachment_0: { data: Buffer.from('%PDF').toString('base64'), mimeType: 'application/pdf' },
		};
		const body =
			'Invoice attached.\n\nOn Mon, 4 Mar 2024, Support <support@example.com> wrote:\n> Send it?';
		const f = fakeExecute({
			description: node.description,
			parameters: {
				operation: 'route',
				team: '',
				assignment: 'none',
				threadIds: 'ignore',
				options: {},
			},
			inputs: [
				[
					{
						json: {
							messageId: '<r1@c>',
							subject: 'Invoice',
							from: { address: 'ann@c.example' },
							text: body,
							attachments: [{ filename: 'a.pdf', binaryProperty: 'attachment_0' }],
						},
						binary,
					},
					{
						json: {
							messageId: '<r2@c>',
							inReplyTo: '<r1@c>',
							from: { address: 'ann@c.example' },
							text: 'And the receipt.\n\n> Invoice attached.',
						},
						binary,
					},
				],
			],
		});
		const [created, followUps] = await node.execute.call(f.ctx);
		assert.equal((created[0].json.case as IDataObject).description, 'Invoice attached.');
		assert.equal(created[0].json.text, body);
		assert.deepEqual(created[0].binary, binary);
		assert.deepEqual(created[0].json.attachments, [
			{ filename: 'a.pdf', binaryProperty: 'attachment_0' },
		]);
		assert.equal((followUps[0].json.case as IDataObject).text, 'And the receipt.');
		assert.deepEqual(followUps[0].binary, binary);
	});

	it('least-busy with counts from a field (the CRM)', async () => {
		const [created] = await run([{ subject: 'x', from: { address: 'a@c.example' } }], {
			assignment: 'leastBusy',
			openCountsSource: 'field',
			openCounts: '{"u1": 4, "u3": 2}',
		});
		assert.equal((created[0].json.case as IDataObject).assignee, 'u3');
	});

	it("least-busy over the ledger sees this execution's own new cases", async () => {
		const mails = [1, 2, 3].map((n) => ({
			subject: `m${n}`,
			from: { address: `a${n}@c.example` },
		}));
		const [created] = await run(mails, { assignment: 'leastBusy', openCountsSource: 'ledger' });
		assert.deepEqual(
			created.map((i) => (i.json.case as IDataObject).assignee),
			['u1', 'u3', 'u1'],
		);
	});

	it('members from JSON', async () => {
		const [created] = await run([{ subject: 'x', from: { address: 'a@c.example' } }], {
			membersSource: 'json',
			membersJson: '[{"id": "z9", "role": "L1"}, {"id": "z1", "role": "L2"}]',
			role: 'L2',
		});
		assert.equal((created[0].json.case as IDataObject).assignee, 'z1');
	});

	it('Update Case closes a case in the ledger; an unknown number goes to Not Found', async () => {
		const staticData: IDataObject = {};
		await run([{ subject: 'x', from: { address: 'a@c.example' } }], {}, staticData);
		const [updated, missing] = await run(
			[{ n: 1 }, { n: 5 }],
			{
				operation: 'updateCase',
				caseNumber: (i: number) => [1, 5][i],
				newStatus: 'Closed',
				newAssignee: '',
			},
			staticData,
		);
		assert.equal((updated[0].json.case as IDataObject).status, 'Closed');
		assert.deepEqual(missing[0].pairedItem, { item: 1 });
	});

	it('an invalid tag pattern names the option, with its code', async () => {
		await assert.rejects(run([{ subject: 'x' }], { options: { tagPattern: '([' } }), (e: Error) => {
			assert.ok(e instanceof NodeOperationError);
			assert.match(e.message, /Case Tag Pattern: invalid regular expression/);
			assert.equal(e.description, 'Error code: CONFIG_INVALID');
			return true;
		});
	});

	describe('a failing item', () => {
		const mails: INodeExecutionData[] = ['a', 'b', 'c'].map((name, i) => ({
			json: { messageId: `<${name}@c>`, subject: name, from: { address: `${name}@c.example` } },
			binary: {
				raw: { data: Buffer.from(`mail ${i}`).toString('base64'), mimeType: 'message/rfc822' },
			},
		}));
		// Team members from an expression that is broken for the second mail only.
		const membersJson = (i: number) => (i === 1 ? '[{"id": "u1"' : '[{"id": "u1"}]');
		const route = (continueOnFail: boolean, staticData: IDataObject = {}) =>
			node.execute.call(
				fakeExecute({
					description: node.description,
					parameters: {
						operation: 'route',
						team: 'Support',
						assignment: 'roundRobin',
						membersSource: 'json',
						membersJson,
						role: '',
						threadIds: 'ignore',
						options: {},
					},
					inputs: [mails],
					staticData,
					continueOnFail,
				}).ctx,
			);

		it('with Continue On Fail goes to Failed with its code, binary and pairedItem; the others go on', async () => {
			const [created, followUps, ignored, failed] = await route(true);
			assert.deepEqual([followUps.length, ignored.length], [0, 0]);
			assert.deepEqual(
				created.map((i) => [i.json.subject, (i.json.case as IDataObject).number, i.pairedItem]),
				[
					['a', 1, { item: 0 }],
					['c', 2, { item: 2 }],
				],
			);
			assert.deepEqual(created[1].binary, mails[2].binary);
			assert.equal(failed.length, 1);
			const error = failed[0].json.error as IDataObject;
			assert.equal(error.code, 'CONFIG_INVALID');
			assert.match(String(error.message), /^Team Members \(JSON\) is not valid JSON/);
			assert.equal(error.parameter, 'Team Members (JSON)');
			assert.equal(failed[0].json.case, undefined);
			assert.equal(failed[0].json.subject, 'b');
			assert.deepEqual(failed[0].binary, mails[1].binary);
			assert.deepEqual(failed[0].pairedItem, { item: 1 });
			assert.ok(failed[0].error instanceof NodeOperationError);
		});

		it('without Continue On Fail fails the execution with "Error code: …"', async () => {
			await assert.rejects(route(false), (e: Error) => {
				assert.ok(e instanceof NodeOperationError);
				assert.match(e.message, /^Team Members \(JSON\) is not valid JSON/);
				assert.equal(e.description, 'Error code: CONFIG_INVALID');
				assert.equal(e.context.itemIndex, 1);
				return true;
			});
		});

		it('Update Case: goes to Failed with Continue On Fail, fails the execution without', async () => {
			const staticData: IDataObject = {};
			await route(true, staticData);
			// An expression that fails for the second item, as n8n's own would.
			const caseNumber = (i: number) => {
				if (i === 1) throw new Error('Cannot read the case number');
				return [1, 0, 5][i];
			};
			const update = (continueOnFail: boolean) =>
				node.execute.call(
					fakeExecute({
						description: node.description,
						parameters: {
							operation: 'updateCase',
							caseNumber,
							newStatus: 'Closed',
							newAssignee: '',
						},
						inputs: [mails],
						staticData,
						continueOnFail,
					}).ctx,
				);
			const [updated, missing, failed] = await update(true);
			assert.deepEqual(
				[updated.map((i) => i.pairedItem), missing.map((i) => i.pairedItem)],
				[[{ item: 0 }], [{ item: 2 }]],
			);
			assert.deepEqual(failed[0].json.error, {
				code: 'UNEXPECTED',
				message: 'Cannot read the case number',
			});
			assert.deepEqual(failed[0].binary, mails[1].binary);
			assert.deepEqual(failed[0].pairedItem, { item: 1 });
			await assert.rejects(update(false), (e: Error) => {
				assert.ok(e instanceof NodeOperationError);
				assert.equal(e.context.itemIndex, 1);
				return true;
			});
		});
	});

	it('a node state file that cannot be read fails the execution with "Error code: …"', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'crm-email-router-'));
		process.env.CRM_EMAIL_STATE_DIR = dir;
		try {
			const production = () =>
				node.execute.call(
					fakeExecute({
						description: node.description,
						parameters: {
							operation: 'route',
							team: '',
							assignment: 'none',
							threadIds: 'ignore',
							options: {},
						},
						inputs: [items({ subject: 'x', from: { address: 'a@c.example' } })],
						mode: 'trigger',
						workflowId: 'wfUnreadable',
					}).ctx,
				);
			await production();
			const file = join(
				dir,
				readdirSync(dir).find((f) => /^wfUnreadable-\w+\.json$/.test(f)) as string,
			);
			rmSync(file);
			mkdirSync(file);
			await assert.rejects(production(), (e: Error) => {
				assert.ok(e instanceof NodeOperationError);
				assert.match(e.message, /^Cannot read the node state file .*EISDIR/);
				assert.equal(e.description, 'Error code: STATE_READ_FAILED');
				return true;
			});
		} finally {
			delete process.env.CRM_EMAIL_STATE_DIR;
			rmSync(dir, { recursive: true, force: true });
		}
	});

	it('reads Our Addresses with display names and any separator', async () => {
		const [created, , ignored] = await run(
			[
				{ messageId: '<o1@e>', subject: 'Ours', from: { address: 'Support@Example.com' } },
				{ messageId: '<o2@e>', subject: 'Ours too', from: { address: 'sales@example.com' } },
				{ messageId: '<o3@e>', subject: 'Ours too', from: { address: 'desk@example.com' } },
				{ messageId: '<c1@c>', subject: 'Customer', from: { address: 'ann@c.example' } },
			],
			{
				options: {
					ownAddresses:
						'Support <support@example.com>; "Sales, EU" <sales@example.com>\ndesk@example.com',
				},
			},
		);
		assert.deepEqual(
			ignored.map((i) => i.json.messageId),
			['<o1@e>', '<o2@e>', '<o3@e>'],
		);
		assert.match(
			String((ignored[0].json.routing as IDataObject).reason),
			/our own address support@example\.com/,
		);
		assert.deepEqual(
			created.map((i) => i.json.messageId),
			['<c1@c>'],
		);
	});
});
