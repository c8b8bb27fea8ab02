/**
 * The Email Filter's n8n glue with a fake execute context.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeOperationError, type IDataObject, type INodeExecutionData } from 'n8n-workflow';

import { CrmEmailFilter } from '../../../nodes/EmailFilter/CrmEmailFilter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { fakeExecute, items } from '../../../harness/fakeExecute';

const node = new CrmEmailFilter();

const mails = [
	{
		subject: 'Help, my printer',
		from: { address: 'ann@customer.example', name: 'Ann' },
		text: 'hi',
	},
	{ subject: 'Weekly digest', from: { address: 'noreply@news.example', name: '' }, text: 'news' },
	{ subject: 'Invoice 7', from: { address: 'billing@vendor.example', name: '' }, text: 'pay' },
];

const panelRules = {
	rule: [
		{
			name: 'No-reply',
			match: 'any',
			conditions: { condition: [{ field: 'from', operator: 'beginsWith', value: 'noreply@' }] },
			action: 'skip',
		},
		{
			name: 'Invoices',
			match: 'all',
			conditions: { condition: [{ field: 'subject', operator: 'contains', value: 'invoice' }] },
			action: 'folder',
			folder: 'Billing',
			markAsRead: true,
		},
	],
};

async function run(
	parameters: Record<string, unknown>,
	input = items(...mails),
	continueOnFail = false,
	credentials?: Record<string, Record<string, unknown>>,
) {
	const f = fakeExecute({
		description: node.description,
		parameters: { rulesSource: 'panel', applyOnServer: false, options: {}, ...parameters },
		inputs: [input],
		continueOnFail,
		credentials,
	});
	const out = await node.execute.call(f.ctx);
	return { out, f };
}

describe('Email Filter node', () => {
	it('describes three outputs, Kept, Skipped and Failed, and is usable as a tool', () => {
		assert.deepEqual(node.description.outputNames, ['Kept', 'Skipped', 'Failed']);
		assert.equal(node.description.outputs.length, 3);
		assert.equal(node.description.usableAsTool, true);
		assert.equal(node.description.credentials?.[0].testedBy, 'crmImapConnectionTest');
	});

	it('splits items by the panel rules, with the reason on each item and pairedItem set', async () => {
		const { out, f } = await run({ rules: panelRules });
		const [kept, skipped] = out;
		assert.deepEqual(
			kept.map((i) => i.json.subject),
			['Help, my printer', 'Invoice 7'],
		);
		assert.deepEqual(
			skipped.map((i) => i.json.subject),
			['Weekly digest'],
		);
		assert.deepEqual(
			kept.map((i) => i.pairedItem),
			[{ item: 0 }, { item: 2 }],
		);
		assert.deepEqual(skipped[0].pairedItem, { item: 1 });
		const filter = skipped[0].json.filter as IDataObject;
		assert.equal(filter.decision, 'skipped');
		assert.equal(filter.rule, 'No-reply');
		assert.deepEqual((filter.hits as IDataObject[])[0].reasons, [
			{ field: 'from', operator: 'beginsWith', value: 'noreply@', actual: 'noreply@news.example' },
		]);
		const invoice = kept[1].json.filter as IDataObject;
		assert.equal(invoice.folder, 'Billing');
		assert.equal(invoice.markAsRead, true);
		assert.equal((kept[0].json.filter as IDataObject).rule, null);
		// Nothing asked for the IMAP credential when not applying on the mailbox.
		assert.deepEqual(f.credentialsAsked, []);
	});

	it('takes rules as JSON from an expression (string or already parsed)', async () => {
		const rules = [
			{
				name: 'Digest',
				conditions: [{ field: 'subject', operator: 'glob', value: '*digest' }],
				action: 'skip',
			},
		];
		for (const rulesJson of [JSON.stringify(rules), rules]) {
			const { out } = await run({ rulesSource: 'json', rulesJson });
			assert.deepEqual(
				out[1].map((i) => i.json.subject),
				['Weekly digest'],
			);
		}
	});

	it('passes binary data through', async () => {
		const input = [
			{ json: mails[0], binary: { attachment_0: { data: 'eA==', mimeType: 'text/plain' } } },
		];
		const { out } = await run({ rules: panelRules }, input);
		assert.deepEqual(out[0][0].binary, input[0].binary);
	});

	it('an invalid regex is a configuration error naming the rule', async () => {
		const rules = {
			rule: [
				{
					name: 'Broken',
					conditions: { condition: [{ field: 'subject', operator: 'regex', value: '([' }] },
					action: 'skip',
				},
			],
		};
		await assert.rejects(
			run({ rules }),
			/Rule "Broken", condition 1: invalid regular expression \(\[/,
		);
	});

	it('bad JSON names the parameter', async () => {
		await assert.rejects(
			run({ rulesSource: 'json', rulesJson: '[{' }),
			/Rules \(JSON\) is not valid JSON/,
		);
	});

	describe('a failing item', () => {
		// Rules from an expression that is broken for the second item only.
		const rulesJson = (i: number) =>
			i === 1 ? '{' : '[{"name": "Digest", "conditions": [], "action": "skip"}]';
		const input: INodeExecutionData[] = mails.map((json, i) => ({
			json,
			binary: {
				attachment_0: { data: Buffer.from(`file ${i}`).toString('base64'), mimeType: 'text/plain' },
			},
		}));

		it('with Continue On Fail goes to Failed with its code, binary and pairedItem; the others go on', async () => {
			const { out } = await run({ rulesSource: 'json', rulesJson }, input, true);
			const [kept, skipped, failed] = out;
			assert.equal(kept.length, 0, 'a mail that failed the node is never Kept');
			assert.deepEqual(
				skipped.map((i) => [i.json.subject, i.pairedItem, i.binary]),
				[
					[mails[0].subject, { item: 0 }, input[0].binary],
					[mails[2].subject, { item: 2 }, input[2].binary],
				],
			);
			assert.ok(skipped.every((i) => i.json.error === undefined));
			assert.equal(failed.length, 1);
			const error = failed[0].json.error as IDataObject;
			assert.equal(error.code, 'CONFIG_INVALID');
			assert.match(String(error.message), /^Rules \(JSON\) is not valid JSON/);
			assert.equal(error.parameter, 'Rules (JSON)');
			assert.equal(failed[0].json.subject, mails[1].subject);
			assert.deepEqual(failed[0].binary, input[1].binary);
			assert.deepEqual(failed[0].pairedItem, { item: 1 });
			// n8n's own error, for "On Error: Continue (using error output)".
			assert.ok(failed[0].error instanceof NodeOperationError);
		});

		it('without Continue On Fail fails the execution with "Error code: …"', async () => {
			await assert.rejects(run({ rulesSource: 'json', rulesJson }, input), (e: Error) => {
				assert.ok(e instanceof NodeOperationError);
				assert.match(e.message, /^Rules \(JSON\) is not valid JSON/);
				assert.equal(e.description, 'Error code: CONFIG_INVALID');
				assert.equal(e.context.itemIndex, 1);
				return true;
			});
		});
	});

	describe('with Apply on the Mailbox, a mail the server could not move or mark read', () => {
		// Nothing listens on port 1 of the loopback: every mailbox action is refused.
		const credentials = {
			crmImapApi: {
				host: '127.0.0.1',
				port: 1,
				security: 'none',
				user: 'support',
				password: 'pw-123',
			},
		};
		const fetched = items(
			...mails.map((m, i) => ({
				...m,
				account: 'support@127.0.0.1',
				folder: 'INBOX',
				uid: i + 1,
				uidValidity: 7,
			})),
		);

		it('with Continue On Fail goes to Failed, keeping its decision; mails without an action go on', async () => {
			const { out } = await run(
				{ rules: panelRules, applyOnServer: true },
				fetched,
				true,
				credentials,
			);
			const [kept, skipped, failed] = out;
			assert.deepEqual(
				kept.map((i) => [i.json.subject, i.pairedItem]),
				[['Help, my printer', { item: 0 }]],
			);
			assert.deepEqual(
				skipped.map((i) => [i.json.subject, i.pairedItem]),
				[['Weekly digest', { item: 1 }]],
			);
			assert.equal(failed.length, 1);
			const [invoice] = failed;
			assert.deepEqual(invoice.pairedItem, { item: 2 });
			const error = invoice.json.error as IDataObject;
			assert.equal(error.code, 'IMAP_CONNECTION_REFUSED');
			assert.match(String(error.message), /127\.0\.0\.1:1 refused the connection/);
			assert.doesNotMatch(JSON.stringify(invoice.json), /pw-123/);
			const filter = invoice.json.filter as IDataObject;
			assert.equal(filter.decision, 'kept');
			assert.equal(filter.folder, 'Billing');
			assert.deepEqual(filter.mailbox, {
				applied: false,
				markedRead: false,
				movedTo: null,
				error: { code: 'IMAP_CONNECTION_REFUSED', message: error.message },
			});
		});

		it('without Continue On Fail fails the execution with "Error code: …"', async () => {
			await assert.rejects(
				run({ rules: panelRules, applyOnServer: true }, fetched, false, credentials),
				(e: Error) => {
					assert.ok(e instanceof NodeOperationError);
					assert.match(e.message, /refused the connection/);
					assert.equal(e.description, 'Error code: IMAP_CONNECTION_REFUSED');
					return true;
				},
			);
		});
	});
});
