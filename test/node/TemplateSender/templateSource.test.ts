/**
 * Template Sender: what n8n puts into Subject or a body through an expression is data, never
 * compiled as a template; fixed text is the admin's template. Fake context, real loopback SMTP.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { IDataObject } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { expression, fakeExecute } from '../../../harness/fakeExecute';
import { SmtpSink, signingCredential } from '../../../harness/smtp';

const node = new CrmEmailTemplateSender();
let sink: SmtpSink;

before(async () => {
	sink = await new SmtpSink().start();
});
after(async () => await sink.stop());
beforeEach(() => {
	sink.messages.length = 0;
});

function customerMail(subject: string): IDataObject {
	return {
		messageId: '<c1@customer.example>',
		subject,
		from: { address: 'ann@customer.example', name: 'Ann Smith' },
		replyTo: [],
		text: 'Hello',
		headers: {},
		internalNote: 'VIP, never refund',
		account: { name: 'Acme' },
		case: { number: 7, id: 'case-7' },
	};
}

async function run(mails: IDataObject[], parameters: Record<string, unknown>) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'reply',
			from: '',
			bodyHtml: '',
			bodyText: 'Case {Case.number} for {Account.name}.',
			appendToSent: false,
			...parameters,
		},
		inputs: [mails.map((json) => ({ json }))],
		credentials: { crmSmtpApi: sink.credentials(), crmEmailSigningApi: signingCredential },
	});
	return await node.execute.call(f.ctx);
}

/** The expression `=Re: {{ $json.subject }}`, resolved as n8n does, per item. */
const reSubject = (mails: IDataObject[]) =>
	expression('=Re: {{ $json.subject }}', (i) => `Re: ${String(mails[i].subject)}`);

describe('Template Sender: n8n expressions are data, fixed text is the template', () => {
	it("a customer's {{#each this}} in an expression Subject is sent as text, no item field leaks", async () => {
		const evil = '{{#each this}}[{{@key}}={{this}}]{{/each}}';
		const mails = [customerMail(evil)];
		const [sent, notSent, failed] = await run(mails, { subject: reSubject(mails) });
		assert.equal(notSent.length + failed.length, 0);
		assert.equal(sent.length, 1);
		const got = sink.messages[0];
		assert.equal(got.parsed.subject, `[#7] Re: ${evil}`);
		assert.ok(!got.raw.toString().includes('never refund'), 'the internal note was mailed');
		assert.equal((sent[0].json.sent as IDataObject).subject, `[#7] Re: ${evil}`);
		// The fixed-mode body is still the admin's template.
		assert.equal(got.parsed.text?.trim(), 'Case 7 for Acme.');
	});

	it('{{#if}} in a customer subject neither throws nor is evaluated', async () => {
		const mails = [customerMail('{{#if}}'), customerMail('{{#if internalNote}}x{{/if}}')];
		const [sent, , failed] = await run(mails, { subject: reSubject(mails) });
		assert.equal(failed.length, 0);
		assert.deepEqual(
			sink.messages.map((m) => m.parsed.subject),
			['[#7] Re: {{#if}}', '[#7] Re: {{#if internalNote}}x{{/if}}'],
		);
		assert.equal(sent.length, 2);
	});

	it('a body from an expression is sent as it is; placeholders work in fixed mode only', async () => {
		const mails = [customerMail('Printer')];
		const [sent] = await run(mails, {
			subject: 'About {Account.name}: {{subject}}',
			bodyText: expression('=Dear {{ $json.from.name }}', () => 'Dear {{internalNote}} {Case.id}'),
		});
		assert.equal(sent.length, 1);
		const got = sink.messages[0].parsed;
		assert.equal(got.subject, '[#7] Re: About Acme: Printer');
		assert.equal(got.text?.trim(), 'Dear {{internalNote}} {Case.id}');
	});
});
