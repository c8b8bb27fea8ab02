/**
 * The Email Filter's n8n glue with a fake execute context.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IDataObject } from 'n8n-workflow';

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
) {
	const f = fakeExecute({
		description: node.description,
		parameters: { rulesSource: 'panel', applyOnServer: false, options: {}, ...parameters },
		inputs: [input],
		continueOnFail,
	});
	const out = await node.execute.call(f.ctx);
	return { out, f };
}

describe('Email Filter node', () => {
	it('describes two outputs, Kept and Skipped, and is usable as a tool', () => {
		assert.deepEqual(node.description.outputNames, ['Kept', 'Skipped']);
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

	it('with Continue On Fail, a failing item is kept with its error and the others go on', async () => {
		// Rules from an expression that is broken for one item only.
		const rulesJson = (i: number) => (i === 1 ? '{' : '[]');
		const { out } = await run({ rulesSource: 'json', rulesJson }, items(...mails), true);
		assert.equal(out[0].length, 3);
		assert.match(String(out[0][1].json.error), /not valid JSON/);
		assert.deepEqual(out[0][1].pairedItem, { item: 1 });
	});
});
