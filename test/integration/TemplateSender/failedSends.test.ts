/**
 * Template Sender: a mail the SMTP server does not take is never lost silently. With Continue On
 * Fail off, the batch still finishes, then the execution fails naming the mails; its retry sends
 * those and nothing twice. With it on, they are on the Failed output. Real SMTP server on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { NodeOperationError, type IDataObject } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { fakeExecute } from '../../../harness/fakeExecute';
import { SmtpSink, signingCredential } from '../../../harness/smtp';

const node = new CrmEmailTemplateSender();
let sink: SmtpSink;

before(async () => {
	sink = await new SmtpSink().start();
});
after(async () => await sink.stop());
beforeEach(() => {
	sink.messages.length = 0;
	sink.refuse.clear();
});

function mail(name: string): IDataObject {
	return {
		messageId: `<${name}@customer.example>`,
		references: [],
		subject: `Question from ${name}`,
		from: { address: `${name}@customer.example`, name },
		replyTo: [],
		text: 'Hello',
		headers: {},
	};
}

function run(mails: IDataObject[], staticData: IDataObject, continueOnFail = false) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'autoReply',
			from: '',
			subject: 'We got your mail',
			bodyText: 'Hello {Person.firstName}',
			bodyHtml: '',
			appendToSent: false,
			options: { retryDelayMs: 5, retries: 1 },
		},
		inputs: [mails.map((json) => ({ json }))],
		credentials: { crmSmtpApi: sink.credentials(), crmEmailSigningApi: signingCredential },
		staticData,
		continueOnFail,
	});
	return node.execute.call(f.ctx);
}

const received = (address: string) => sink.messages.filter((m) => m.to.includes(address)).length;

describe('Template Sender: refused mails with Continue On Fail off', () => {
	it('every mail is tried, then the execution fails naming the refused ones; the retry sends only those', async () => {
		const staticData: IDataObject = {};
		const mails = ['ann', 'bob', 'cid', 'dee'].map(mail);
		sink.refuse.add('bob@customer.example');
		sink.refuse.add('dee@customer.example');
		const error = await run(mails, staticData).then(
			() => null,
			(e: unknown) => e,
		);
		assert.ok(error instanceof NodeOperationError, 'the execution did not fail');
		assert.match(
			error.message,
			/^2 of 4 mails could not be sent: item 1 to bob@customer\.example \(.*550 5\.1\.1 .*Recipient address rejected; Error code: SMTP_REJECTED\); item 3 to dee@customer\.example \(/,
		);
		assert.match(String(error.description), /^Error code: DELIVERY_FAILED\. /);
		assert.equal(error.context.itemIndex, 1);
		// The mails behind the refused ones went out.
		assert.equal(received('ann@customer.example'), 1);
		assert.equal(received('cid@customer.example'), 1);

		// The admin fixes the cause and retries the failed execution: nothing twice, nothing lost.
		sink.refuse.clear();
		const [sent, notSent, failed] = await run(mails, staticData);
		assert.deepEqual(
			sent.map((s) => s.pairedItem),
			[{ item: 1 }, { item: 3 }],
		);
		assert.deepEqual(
			notSent.map((n) => [n.pairedItem, (n.json.notSent as IDataObject).code]),
			[
				[{ item: 0 }, 'ALREADY_SENT'],
				[{ item: 2 }, 'ALREADY_SENT'],
			],
		);
		assert.equal(failed.length, 0);
		for (const name of ['ann', 'bob', 'cid', 'dee'])
			assert.equal(received(`${name}@customer.example`), 1, name);
	});

	it('a refused auto-reply does not count against the rate limit of its recipient', async () => {
		const staticData: IDataObject = {};
		sink.refuse.add('eve@customer.example');
		await assert.rejects(run([mail('eve')], staticData), /1 of 1 mails could not be sent/);
		assert.deepEqual((staticData.replies as IDataObject)['eve@customer.example'], undefined);
	});

	it('names the first five and counts the rest', async () => {
		const names = Array.from({ length: 7 }, (_, i) => `r${i}`);
		for (const n of names) sink.refuse.add(`${n}@customer.example`);
		await assert.rejects(
			run(names.map(mail), {}),
			(e: Error) =>
				/^7 of 7 mails could not be sent: item 0 to r0@.*; item 4 to r4@customer\.example \(.*\); and 2 more$/.test(
					e.message,
				) && !e.message.includes('item 5'),
		);
	});

	it('with Continue On Fail on, they are on the Failed output and the execution completes', async () => {
		const staticData: IDataObject = {};
		sink.refuse.add('bob@customer.example');
		const mails = [mail('fay'), mail('bob')];
		const [sent, , failed] = await run(mails, staticData, true);
		assert.deepEqual(
			sent.map((s) => s.pairedItem),
			[{ item: 0 }],
		);
		assert.deepEqual(failed[0].pairedItem, { item: 1 });
		assert.equal((failed[0].json.error as IDataObject).code, 'SMTP_REJECTED');
		assert.ok(failed[0].error instanceof NodeOperationError);
		// The sent mail stays marked, the refused one does not: the same input again sends only it.
		assert.deepEqual(
			Object.values(staticData.sends as IDataObject).map((m) => String(m).split('|')[0]),
			['sent'],
		);
		sink.refuse.clear();
		const [again, skipped] = await run(mails, staticData, true);
		assert.deepEqual(
			again.map((s) => s.pairedItem),
			[{ item: 1 }],
		);
		assert.deepEqual(
			skipped.map((n) => [n.pairedItem, (n.json.notSent as IDataObject).code]),
			[[{ item: 0 }, 'ALREADY_SENT']],
		);
		assert.equal(received('fay@customer.example'), 1);
	});
});
