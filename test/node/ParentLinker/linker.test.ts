/**
 * The Parent Linker's n8n glue with a fake execute context: two inputs, three outputs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeOperationError, type IDataObject, type INodeExecutionData } from 'n8n-workflow';

import { CrmEmailParentLinker } from '../../../nodes/ParentLinker/CrmEmailParentLinker.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { CrmEmailError } from '../../../nodes/shared/errors';
import { generateMessageId } from '../../../nodes/shared/threadId';
import { threadKey } from '../../../nodes/shared/threadId';
import { fakeExecute, items } from '../../../harness/fakeExecute';

const node = new CrmEmailParentLinker();
const signing = { secret: 'linker-test-secret-0123' };

const records = items(
	{ kind: 'contacts', uid: 1, fullName: 'Ann', mail: { work: 'ann@acme.example' }, company: 7 },
	{ kind: 'accounts', uid: 7, fullName: 'Acme', mail: { work: 'office@acme.example' } },
);

function run(
	mails: IDataObject[],
	parameters: Record<string, unknown> = {},
	staticData: IDataObject = {},
	credentials: Record<string, Record<string, unknown>> = { crmEmailSigningApi: signing },
) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			mode: 'b2b',
			recordType: 'field',
			typeField: 'kind',
			recordFields: {
				idField: 'uid',
				nameField: 'fullName',
				emailFields: 'mail.work',
				accountIdField: 'company',
			},
			threadIds: 'verify',
			options: {},
			...parameters,
		},
		inputs: [items(...mails), records],
		credentials,
		staticData,
	});
	return { f, out: node.execute.call(f.ctx) };
}

describe('Parent Linker node', () => {
	it('has inputs Mails and Records and outputs Linked, Unknown Sender and Failed', () => {
		assert.deepEqual(node.description.inputNames, ['Mails', 'Records']);
		assert.deepEqual(node.description.outputNames, ['Linked', 'Unknown Sender', 'Failed']);
		assert.equal(node.description.outputs.length, 3);
		assert.equal(node.description.usableAsTool, true);
	});

	it('links with a custom field mapping and splits the outputs, pairedItem set', async () => {
		const { out } = run([
			{ messageId: '<1@x>', from: { address: 'ann@acme.example', name: 'Ann' } },
			{ messageId: '<2@x>', from: { address: 'new.person@startup.example', name: 'New Person' } },
		]);
		const [linked, unknown] = await out;
		assert.equal(linked.length, 1);
		const parent = linked[0].json.parent as IDataObject;
		assert.deepEqual(
			[parent.type, parent.id, parent.name, parent.via],
			['Account', '7', 'Acme', 'from'],
		);
		assert.deepEqual(linked[0].json.contact, { type: 'Contact', id: '1', name: 'Ann' });
		assert.deepEqual(linked[0].pairedItem, { item: 0 });
		assert.equal((unknown[0].json.unknownSender as IDataObject).company, 'Startup');
		assert.deepEqual(unknown[0].pairedItem, { item: 1 });
	});

	it('a reply to a mail linked in an earlier execution finds the same record', async () => {
		const staticData: IDataObject = {};
		await run(
			[{ messageId: '<first@x>', from: { address: 'ann@acme.example' } }],
			{ mode: 'b2c' },
			staticData,
		).out;
		const [linked] = await run(
			[
				{
					messageId: '<reply@x>',
					inReplyTo: '<first@x>',
					from: { address: 'colleague@elsewhere.example' },
				},
			],
			{ mode: 'b2c' },
			staticData,
		).out;
		const parent = linked[0].json.parent as IDataObject;
		assert.deepEqual([parent.type, parent.id, parent.via], ['Contact', '1', 'thread']);
	});

	it("recognises the Template Sender's Message-IDs with the Signing credential's key", async () => {
		const ours = generateMessageId(
			{ parentType: 'Case', parentId: 'c-9', caseNumber: 9 },
			{ key: threadKey({ secret: signing.secret }), domain: 'example.com' },
		);
		const [linked] = await run([{ references: [ours], from: { address: 'someone@else.example' } }])
			.out;
		assert.deepEqual((linked[0].json.parent as IDataObject).caseNumber, 9);
		const [, unknown] = await run(
			[{ references: [ours], from: { address: 'someone@else.example' } }],
			{ threadIds: 'ignore' },
		).out;
		assert.equal(unknown.length, 1);
	});

	it("needs no credential: without one, n8n's instance key verifies the Message-IDs", async () => {
		const saved = process.env.N8N_ENCRYPTION_KEY;
		process.env.N8N_ENCRYPTION_KEY = 'instance-key-of-this-n8n';
		try {
			const ours = generateMessageId(
				{ parentType: 'Case', parentId: 'c-3', caseNumber: 3 },
				{ key: threadKey({ instanceKey: 'instance-key-of-this-n8n' }), domain: 'example.com' },
			);
			const mail = { references: [ours], from: { address: 'someone@else.example' } };
			const { f, out } = run([mail], {}, {}, {});
			const [linked] = await out;
			assert.equal((linked[0].json.parent as IDataObject).caseNumber, 3);
			assert.deepEqual(f.credentialsAsked, []);
			// A Signing credential's secret replaces the instance key: the same ID no longer verifies.
			const [, unknown] = await run([mail]).out;
			assert.equal(unknown.length, 1);
		} finally {
			if (saved === undefined) delete process.env.N8N_ENCRYPTION_KEY;
			else process.env.N8N_ENCRYPTION_KEY = saved;
		}
	});

	it('a Signing credential with an empty secret is refused, naming the credential', async () => {
		await assert.rejects(
			run(
				[{ from: { address: 'ann@acme.example' } }],
				{},
				{},
				{
					crmEmailSigningApi: { secret: ' ' },
				},
			).out,
			/Signing Secret of the CRM Email Signing API credential is empty/,
		);
	});

	it('a bad type order names the option, with its code', async () => {
		await assert.rejects(run([], { options: { typeOrder: 'Case' } }).out, (e: Error) => {
			assert.ok(e instanceof NodeOperationError);
			assert.match(e.message, /^Type Order: "Case" is not Contact, Account or Lead/);
			assert.equal(e.description, 'Error code: CONFIG_INVALID');
			return true;
		});
	});

	describe('a failing item', () => {
		// The second mail fails when the linker links it: its `from` reads once (the batch's look
		// ahead at the addresses it needs), then throws. It stands in for any failure of one mail
		// (no well-formed input makes the linker fail); the property is not enumerable, so copying
		// the item onto its output does not throw again.
		const makeMails = (): INodeExecutionData[] =>
			['<1@x>', '<2@x>', '<3@x>'].map((messageId, i) => {
				const json: IDataObject = { messageId, from: { address: 'ann@acme.example' } };
				let reads = 0;
				if (messageId === '<2@x>')
					Object.defineProperty(json, 'from', {
						enumerable: false,
						get() {
							if (reads++ === 0) return { address: 'ann@acme.example' };
							throw new CrmEmailError('MAIL_PARSE_FAILED', 'Cannot read <2@x>', {
								messageId: '<2@x>',
							});
						},
					});
				return {
					json,
					binary: {
						raw: { data: Buffer.from(`mail ${i}`).toString('base64'), mimeType: 'message/rfc822' },
					},
				};
			});
		const mails = makeMails();
		const execute = (continueOnFail: boolean) =>
			node.execute.call(
				fakeExecute({
					description: node.description,
					parameters: {
						mode: 'b2b',
						recordType: 'field',
						typeField: 'kind',
						recordFields: {
							idField: 'uid',
							nameField: 'fullName',
							emailFields: 'mail.work',
							accountIdField: 'company',
						},
						threadIds: 'ignore',
						options: {},
					},
					inputs: [makeMails(), records],
					continueOnFail,
				}).ctx,
			);

		it('with Continue On Fail goes to Failed with its code, binary and pairedItem; the others go on', async () => {
			const [linked, unknown, failed] = await execute(true);
			assert.equal(unknown.length, 0);
			assert.deepEqual(
				linked.map((i) => [i.json.messageId, (i.json.parent as IDataObject).id, i.pairedItem]),
				[
					['<1@x>', '7', { item: 0 }],
					['<3@x>', '7', { item: 2 }],
				],
			);
			assert.deepEqual(linked[1].binary, mails[2].binary);
			assert.equal(failed.length, 1);
			assert.deepEqual(failed[0].json.error, {
				code: 'MAIL_PARSE_FAILED',
				message: 'Cannot read <2@x>',
				messageId: '<2@x>',
			});
			assert.equal(failed[0].json.messageId, '<2@x>');
			assert.equal(failed[0].json.parent, undefined);
			assert.deepEqual(failed[0].binary, mails[1].binary);
			assert.deepEqual(failed[0].pairedItem, { item: 1 });
			assert.ok(failed[0].error instanceof NodeOperationError);
		});

		it('without Continue On Fail fails the execution with "Error code: …"', async () => {
			await assert.rejects(execute(false), (e: Error) => {
				assert.ok(e instanceof NodeOperationError);
				assert.equal(e.message, 'Cannot read <2@x>');
				assert.equal(e.description, 'Error code: MAIL_PARSE_FAILED');
				assert.equal(e.context.itemIndex, 1);
				return true;
			});
		});
	});

	it('never links through Our Addresses, also when written with a display name', async () => {
		const [linked, unknown] = await run(
			[
				{
					messageId: '<s1@stranger.example>',
					from: { address: 'someone@stranger.example' },
					to: [{ address: 'office@acme.example' }],
				},
			],
			{ options: { ownAddresses: 'Acme Office <office@acme.example>' } },
		).out;
		assert.equal(linked.length, 0);
		assert.equal(unknown.length, 1);
	});
});
