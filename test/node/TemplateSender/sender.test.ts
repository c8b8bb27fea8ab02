/**
 * Template Sender glue with a fake n8n context: the parameters an admin sees per operation (as
 * n8n's own NodeHelpers resolves them), the outputs, and the per-item error contract. Real SMTP
 * server on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
	NodeHelpers,
	NodeOperationError,
	type IDataObject,
	type INode,
	type INodeParameters,
	type INodeProperties,
} from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { fakeExecute } from '../../../harness/fakeExecute';
import { SmtpSink, signingCredential } from '../../../harness/smtp';

const node = new CrmEmailTemplateSender();
const d = node.description;
let sink: SmtpSink;

before(async () => {
	sink = await new SmtpSink().start();
});
after(async () => await sink.stop());
beforeEach(() => {
	sink.messages.length = 0;
});

const ALL_OPTIONS: INodeParameters = {
	attachments: 'x',
	bulk: true,
	caseTag: '[#{number}]',
	oneOff: true,
	oneOffKey: 'k',
	optOutBaseUrl: 'https://crm.example.com/unsub',
	replyToAll: true,
	optOutList: 'gone@x.example',
	optOutListName: 'news',
	ownAddresses: 'desk@example.com',
	quoteOriginal: true,
	rateLimit: 3,
	rateWindowHours: 1,
	toOverride: 'a@b.example',
	retries: 1,
	retryDelayMs: 10,
	sentFolder: 'Sent',
	signatureHtml: '<p>S</p>',
	signatureText: 'S',
	signatureOnAutoReply: true,
	signaturePlacement: 'aboveQuote',
	unknownPlaceholders: 'fail',
	userName: 'U',
};

/** The options n8n keeps (and so the node sees) for these top-level values: hidden ones go. */
function visibleOptions(top: INodeParameters): string[] {
	const n = { id: '1', name: 'S', type: d.name, typeVersion: 1, position: [0, 0], parameters: {} };
	const r = NodeHelpers.getNodeParameters(
		d.properties,
		{ ...top, options: ALL_OPTIONS },
		false,
		false,
		n as INode,
		d,
	);
	return Object.keys((r?.options as INodeParameters) ?? {}).sort();
}

describe('Template Sender: what the admin sees', () => {
	it('Operation: Send, Reply, Auto-Reply, never an expression; still usable as a tool', () => {
		const op = d.properties.find((p) => p.name === 'operation') as INodeProperties;
		assert.equal(op.noDataExpression, true);
		assert.deepEqual(
			(op.options as Array<{ name: string; value: string }>).map((o) => [o.value, o.name]),
			[
				['autoReply', 'Auto-Reply'],
				['reply', 'Reply'],
				['send', 'Send'],
			],
		);
		assert.equal(d.properties.filter((p) => p.name === 'mode').length, 0);
		assert.equal(d.usableAsTool, true);
	});

	it('one Cc and one Bcc, for every operation', () => {
		const top = d.properties.filter((p) => p.name === 'cc' || p.name === 'bcc');
		assert.deepEqual(
			top.map((p) => [p.name, p.displayOptions]),
			[
				['cc', undefined],
				['bcc', undefined],
			],
		);
		const options = d.properties.find((p) => p.name === 'options')?.options as INodeProperties[];
		assert.deepEqual(
			options.filter((o) => /cc/i.test(o.name)),
			[],
		);
	});

	it('each option shows only where it applies', () => {
		const common = [
			'attachments',
			'caseTag',
			'oneOff',
			'oneOffKey',
			'optOutList',
			'retries',
			'retryDelayMs',
			'signatureHtml',
			'signatureText',
			'unknownPlaceholders',
			'userName',
		];
		const replies = ['ownAddresses', 'quoteOriginal', 'signaturePlacement', 'toOverride'];
		assert.deepEqual(
			visibleOptions({ operation: 'send', appendToSent: false }),
			[...common, 'bulk', 'optOutBaseUrl', 'optOutListName'].sort(),
		);
		assert.deepEqual(
			visibleOptions({ operation: 'reply', appendToSent: false }),
			[...common, ...replies, 'replyToAll'].sort(),
		);
		assert.deepEqual(
			visibleOptions({ operation: 'autoReply', appendToSent: true }),
			[
				...common,
				...replies,
				'rateLimit',
				'rateWindowHours',
				'signatureOnAutoReply',
				'sentFolder',
			].sort(),
		);
	});
});

function customerMail(n: number): IDataObject {
	return {
		messageId: `<n${n}@customer.example>`,
		subject: `Question ${n}`,
		from: { address: `n${n}@customer.example`, name: 'Ann Smith' },
		replyTo: [],
		text: 'Hello',
		headers: {},
	};
}

function run(
	mails: IDataObject[],
	parameters: Record<string, unknown>,
	o: { continueOnFail?: boolean; binary?: boolean } = {},
) {
	const f = fakeExecute({
		description: d,
		parameters: {
			operation: 'reply',
			from: '',
			cc: '',
			bcc: '',
			subject: '',
			bodyHtml: '',
			bodyText: 'Thanks, {Person.firstName}.',
			appendToSent: false,
			options: { retryDelayMs: 10 },
			...parameters,
		},
		inputs: [
			mails.map((json) => ({
				json,
				...(o.binary ? { binary: { data: { data: 'eA==', mimeType: 'text/plain' } } } : {}),
			})),
		],
		credentials: { crmSmtpApi: sink.credentials(), crmEmailSigningApi: signingCredential },
		continueOnFail: o.continueOnFail,
	});
	return node.execute.call(f.ctx);
}

describe('Template Sender: outputs and the per-item error contract', () => {
	it('Reply with Cc and Bcc: the person answered, plus both, in the envelope; Bcc not in the headers', async () => {
		const [sent] = await run([customerMail(1)], {
			cc: 'Audit <audit@example.com>',
			bcc: 'log@example.com',
		});
		assert.equal(sent.length, 1);
		const m = sink.messages[0];
		assert.deepEqual(m.to, ['n1@customer.example', 'audit@example.com', 'log@example.com']);
		assert.equal(m.parsed.headers.get('bcc'), undefined);
		assert.deepEqual((sent[0].json.sent as IDataObject).cc, ['audit@example.com']);
	});

	it('a per-item failure with Continue On Fail off fails the execution, naming item and code', async () => {
		const error = await run([customerMail(2)], { from: 'ceo@evil.example' }).then(
			() => null,
			(e: unknown) => e,
		);
		assert.ok(error instanceof NodeOperationError);
		assert.match(error.message, /may not send as "ceo@evil\.example"/);
		assert.equal(error.description, 'Error code: FROM_NOT_ALLOWED');
		assert.equal(error.context.itemIndex, 0);
		assert.equal(sink.messages.length, 0);
	});

	it('with Continue On Fail on, it is a Failed item with its binary and pairedItem; the others go out', async () => {
		const [sent, notSent, failed] = await run(
			[customerMail(3), customerMail(4)],
			{ bodyText: (i: number) => (i === 0 ? '' : 'Hi') },
			{ continueOnFail: true, binary: true },
		);
		assert.deepEqual(
			sent.map((s) => s.pairedItem),
			[{ item: 1 }],
		);
		assert.equal(notSent.length, 0);
		assert.equal(failed.length, 1);
		assert.deepEqual(failed[0].pairedItem, { item: 0 });
		assert.equal((failed[0].json.error as IDataObject).code, 'CONFIG_INVALID');
		assert.equal(failed[0].json.messageId, '<n3@customer.example>');
		assert.ok(failed[0].binary?.data);
		assert.ok(failed[0].error instanceof NodeOperationError);
	});

	it('skips are on Not Sent with code and reason, in input order', async () => {
		const [sent, notSent] = await run(
			[customerMail(5), { ...customerMail(6), from: null }, customerMail(7)],
			{ options: { optOutList: 'n7@customer.example', retryDelayMs: 10 } },
		);
		assert.deepEqual(
			sent.map((s) => s.pairedItem),
			[{ item: 0 }],
		);
		assert.deepEqual(
			notSent.map((n) => [n.pairedItem, (n.json.notSent as IDataObject).code]),
			[
				[{ item: 1 }, 'NO_RECIPIENT'],
				[{ item: 2 }, 'OPTED_OUT'],
			],
		);
	});
});
