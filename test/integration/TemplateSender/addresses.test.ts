/**
 * Template Sender, hostile addresses, against a real SMTP server on loopback: what the server
 * gets in the envelope (MAIL FROM / RCPT TO) is what the headers say, and is what was checked.
 */
import assert from 'node:assert/strict';
import { domainToASCII } from 'node:url';
import { after, before, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import type { AddressObject } from 'mailparser';
import type { IDataObject } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { fakeExecute } from '../../../harness/fakeExecute';
import { SmtpSink, type Received, signingCredential } from '../../../harness/smtp';

const node = new CrmEmailTemplateSender();
let sink: SmtpSink;

before(async () => {
	sink = await new SmtpSink().start();
});
after(async () => await sink.stop());
beforeEach(() => {
	sink.messages.length = 0;
});

let seq = 0;
function customerMail(over: IDataObject = {}): IDataObject {
	seq++;
	return {
		messageId: `<a${seq}@customer.example>`,
		subject: `Question ${seq}`,
		from: { address: `ann${seq}@customer.example`, name: 'Ann' },
		replyTo: [],
		text: 'Hello',
		headers: {},
		...over,
	};
}

function run(
	mails: IDataObject[],
	parameters: Record<string, unknown> = {},
	o: { continueOnFail?: boolean } = {},
) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'reply',
			from: '',
			subject: 'Re',
			bodyHtml: '',
			bodyText: 'Thanks.',
			appendToSent: false,
			options: { retryDelayMs: 10, rateLimit: 0 },
			...parameters,
		},
		inputs: [mails.map((json) => ({ json }))],
		credentials: { crmSmtpApi: sink.credentials(), crmEmailSigningApi: signingCredential },
		continueOnFail: o.continueOnFail,
	});
	return node.execute.call(f.ctx);
}

/** Addresses of a parsed header, hosts in the ASCII form they have on the wire. */
function headerAddresses(field: AddressObject | AddressObject[] | undefined): string[] {
	return [field ?? []].flat().flatMap((f) =>
		f.value.map((v) => {
			const at = String(v.address).lastIndexOf('@');
			return `${String(v.address).slice(0, at)}@${domainToASCII(String(v.address).slice(at + 1))}`;
		}),
	);
}

/** The envelope agrees with the headers: MAIL FROM is From, RCPT TO is To + Cc (+ Bcc). */
function assertAgrees(m: Received, bcc: string[] = []) {
	assert.deepEqual(headerAddresses(m.parsed.from), [m.from]);
	assert.deepEqual(
		[...headerAddresses(m.parsed.to), ...headerAddresses(m.parsed.cc), ...bcc],
		m.to,
	);
}

describe('Template Sender: addresses, as the SMTP server sees them', () => {
	it('From "Boss <ceo@bank.example> <support@example.com>" is refused, naming what it would send as', async () => {
		await assert.rejects(
			run([customerMail()], { from: 'Boss <ceo@bank.example> <support@example.com>' }),
			/From must be exactly one address.*<ceo@bank\.example>/,
		);
		await assert.rejects(
			run([customerMail()], { from: 'Boss <ceo@bank.example>' }),
			/may not send as "ceo@bank\.example"/,
		);
		const [sent, , failed] = await run(
			[customerMail()],
			{ from: '"X" <ceo@bank.example>, <support@example.com>' },
			{ continueOnFail: true },
		);
		assert.equal(sent.length, 0);
		const error = failed[0].json.error as IDataObject;
		assert.equal(error.code, 'CONFIG_INVALID');
		assert.match(String(error.message), /^From must be exactly one address.*2 addresses/);
		assert.equal(sink.messages.length, 0);
	});

	it('an allowed From with a display name ending in a backslash: header and envelope agree', async () => {
		const [sent] = await run([customerMail()], {
			from: '"Help Desk \\\\" <desk@help.example.com>',
		});
		assert.equal(sent.length, 1);
		const m = sink.messages[0];
		assertAgrees(m);
		assert.deepEqual(m.parsed.from?.value, [
			{ name: 'Help Desk \\', address: 'desk@help.example.com' },
		]);
		assert.equal((sent[0].json.sent as IDataObject).from, 'desk@help.example.com');
	});

	it('To "a@x>, <victim@y" is refused per item, nothing sent to either; the next item goes out', async () => {
		const [sent, notSent] = await run([{ n: 1 }, { n: 2 }], {
			operation: 'send',
			to: (i: number) => (i === 0 ? 'a@x.example>, <victim@y.example' : 'b@z.example'),
			cc: '',
			bcc: '',
		});
		assert.equal(sent.length, 1);
		const reason = notSent[0].json.notSent as IDataObject;
		assert.equal(reason.code, 'INVALID_RECIPIENT');
		assert.match(String(reason.reason), /To: "a@x\.example>"/);
		assert.deepEqual(notSent[0].pairedItem, { item: 0 });
		assert.deepEqual(
			sink.messages.map((m) => m.to),
			[['b@z.example']],
		);
	});

	it("a hostile Reply-To is refused, never replaced by the mail's From", async () => {
		const [sent, notSent] = await run([
			customerMail({ replyTo: [{ address: 'a@x.example>, <victim@y.example', name: '' }] }),
			customerMail({ replyTo: ['a@x.example\r\nBcc: victim@y.example'] }),
		]);
		assert.equal(sent.length, 0);
		assert.deepEqual(
			notSent.map((n) => (n.json.notSent as IDataObject).code),
			['INVALID_RECIPIENT', 'INVALID_RECIPIENT'],
		);
		assert.match(String((notSent[0].json.notSent as IDataObject).reason), /the mail's Reply-To/);
		assert.equal(sink.messages.length, 0);
	});

	it('any display name a customer sends reaches the wire quoted: header and envelope agree (property)', async () => {
		const names = fc.sample(
			fc.oneof(
				fc.string({ maxLength: 30 }),
				fc.constantFrom(
					'Ann \\',
					'Ann \\"',
					'"Evil" <ceo@bank.example>',
					'A, B; C: D',
					'x\r\nBcc: v@y.example',
					'Jörg \\',
				),
				fc
					.array(fc.constantFrom('\\', '"', ',', '<', '>', '@', ' ', 'a', ';', ':', '(', ')'), {
						maxLength: 12,
					})
					.map((a) => a.join('')),
			),
			{ numRuns: 60, seed: 11 },
		);
		const mails = names.map((name, k) =>
			customerMail({ from: { address: `p${k}@customer.example`, name } }),
		);
		const [sent, notSent, failed] = await run(mails, {
			cc: 'Audit \\ <audit@example.com>',
			bcc: 'log@example.com',
		});
		assert.equal(notSent.length + failed.length, 0);
		assert.equal(sent.length, names.length);
		assert.equal(sink.messages.length, names.length);
		for (const m of sink.messages) {
			assertAgrees(m, ['log@example.com']);
			const k = Number(/^p(\d+)@/.exec(m.to[0])?.[1]);
			assert.equal(m.to[0], `p${k}@customer.example`);
			// mailparser trims and folds white space; the rest of the name arrives as sent.
			assert.equal(
				(m.parsed.to as AddressObject).value[0].name.replace(/\s+/g, ' ').trim(),
				names[k].replace(/\s+/g, ' ').trim(),
			);
		}
	});

	it('an auto-reply to a mail whose Reply-To is our own address is not sent (loop guard)', async () => {
		const [sent, notSent] = await run(
			[customerMail({ replyTo: [{ address: 'Support@Example.com', name: '' }] })],
			{ operation: 'autoReply' },
		);
		assert.equal(sent.length, 0);
		assert.equal((notSent[0].json.notSent as IDataObject).code, 'LOOP_GUARD');
		assert.match(
			String((notSent[0].json.notSent as IDataObject).reason),
			/Reply-To is our own address support@example\.com/,
		);
		assert.equal(sink.messages.length, 0);
	});

	it('Our Addresses separated by spaces are all ours: no auto-reply to the second one', async () => {
		const [sent, notSent] = await run(
			[customerMail({ replyTo: [{ address: 'helpdesk@example.com', name: '' }] })],
			{
				operation: 'autoReply',
				options: {
					retryDelayMs: 10,
					rateLimit: 0,
					ownAddresses: 'desk@example.com helpdesk@example.com',
				},
			},
		);
		assert.equal(sent.length, 0);
		assert.match(
			String((notSent[0].json.notSent as IDataObject).reason),
			/Reply-To is our own address helpdesk@example\.com/,
		);
		assert.equal(sink.messages.length, 0);
	});
});
