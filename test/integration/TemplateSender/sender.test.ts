/**
 * The Template Sender against a real SMTP server on loopback (smtp-server), and the Sent-folder
 * copy against the test Dovecot. Messages are asserted as the server received them.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';
import type { ICredentialTestFunctions, IDataObject } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { parseMessageId, threadKey } from '../../../nodes/shared/threadId';
import { Dovecot, ensureFolder } from '../../../harness/dovecot';
import { fakeExecute } from '../../../harness/fakeExecute';
import { SmtpSink, signingCredential } from '../../../harness/smtp';

const node = new CrmEmailTemplateSender();
let sink: SmtpSink;
let dovecot: Dovecot;
let admin: ImapFlow;

before(async () => {
	sink = await new SmtpSink().start();
	dovecot = new Dovecot();
	await dovecot.start();
	admin = await dovecot.client();
});
after(async () => {
	await sink.stop();
	await admin.logout().catch(() => undefined);
	await dovecot.destroy();
});
beforeEach(() => {
	sink.messages.length = 0;
	sink.faults = [];
	sink.refuse.clear();
	sink.connections = 0;
});

let seq = 0;
function customerMail(over: IDataObject = {}): IDataObject {
	seq++;
	return {
		messageId: `<c${seq}@customer.example>`,
		references: ['<root@customer.example>'],
		subject: `Printer broken ${seq}`,
		from: { address: `ann${seq}@customer.example`, name: 'Ann Smith' },
		replyTo: [],
		to: [{ address: 'support@example.com', name: '' }],
		date: '2026-11-20T10:00:00.000Z',
		text: 'It is broken.',
		headers: {},
		account: { type: 'Account', id: 'acc1', name: 'Acme & Sons' },
		case: { number: 42, id: 'case-42' },
		...over,
	};
}

function run(
	mails: IDataObject[],
	parameters: Record<string, unknown> = {},
	o: { staticData?: IDataObject; continueOnFail?: boolean; smtp?: Record<string, unknown> } = {},
) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'autoReply',
			from: '',
			subject: 'We got your mail',
			bodyHtml: '<p>Hello {Person.firstName}, case {Case.number} for {Account.name}.</p>',
			bodyText: 'Hello {Person.firstName}, case {Case.number} for {Account.name}.',
			appendToSent: false,
			options: { retryDelayMs: 10 },
			...parameters,
		},
		inputs: [mails.map((json) => ({ json }))],
		credentials: {
			crmSmtpApi: sink.credentials(o.smtp),
			crmEmailSigningApi: signingCredential,
			crmImapApi: { ...dovecot.credentials() },
		},
		staticData: o.staticData,
		continueOnFail: o.continueOnFail,
	});
	return node.execute.call(f.ctx);
}

describe('Template Sender against a real SMTP server', () => {
	it('auto-replies in the thread, marked, templated, over one pooled connection', async () => {
		const mails = [customerMail(), customerMail(), customerMail()];
		const [sent, notSent, failed] = await run(mails);
		assert.equal(sent.length, 3);
		assert.equal(notSent.length + failed.length, 0);
		assert.equal(sink.connections, 1);
		const got = sink.messages[0];
		assert.deepEqual(got.to, [(mails[0].from as IDataObject).address]);
		assert.equal(got.from, 'support@example.com');
		const p = got.parsed;
		assert.equal(p.subject, `[#42] Re: We got your mail`);
		assert.equal(p.inReplyTo, mails[0].messageId);
		assert.deepEqual(p.references, ['<root@customer.example>', mails[0].messageId]);
		assert.equal(p.headers.get('auto-submitted'), 'auto-replied');
		assert.equal(p.headers.get('x-auto-response-suppress'), 'All');
		assert.equal(p.text?.trim(), 'Hello Ann, case 42 for Acme & Sons.');
		assert.match(String(p.html), /Hello Ann, case 42 for Acme &amp; Sons\./);
		// The Message-ID carries the case, signed: the linker and router recognise replies to it.
		const ref = parseMessageId(
			String(p.messageId),
			threadKey({ secret: signingCredential.secret }),
		);
		assert.deepEqual(ref, { parentType: 'Case', parentId: 'case-42', caseNumber: 42 });
		const info = sent[0].json.sent as IDataObject;
		assert.equal(info.messageId, p.messageId);
		assert.match(String(info.response), /^250/);
		assert.deepEqual(
			sent.map((s) => s.pairedItem),
			[{ item: 0 }, { item: 1 }, { item: 2 }],
		);
	});

	it('the loop guard sends lists, auto-replies and bounces to Not Sent, with the reason', async () => {
		const [sent, notSent] = await run([
			customerMail({ headers: { 'list-id': '<l.example>' } }),
			customerMail({ headers: { 'auto-submitted': 'auto-replied' } }),
			customerMail({
				from: { address: 'MAILER-DAEMON@mx.example', name: '' },
				headers: { 'content-type': 'multipart/report; report-type=delivery-status' },
			}),
			customerMail(),
		]);
		assert.equal(sent.length, 1);
		assert.deepEqual(
			notSent.map((n) => (n.json.notSent as IDataObject).code),
			['LOOP_GUARD', 'LOOP_GUARD', 'LOOP_GUARD'],
		);
		assert.match(String((notSent[0].json.notSent as IDataObject).reason), /List-Id/);
		assert.deepEqual(
			notSent.map((n) => n.pairedItem),
			[{ item: 0 }, { item: 1 }, { item: 2 }],
		);
		assert.equal(sink.messages.length, 1);
	});

	it('Reply To All Participants: To the person answered, Cc the case participants but us', async () => {
		const m = customerMail({
			from: { address: 'ann@customer.example', name: 'Ann Smith' },
			case: {
				number: 42,
				id: 'case-42',
				participants: [
					'ann@customer.example',
					'bob@customer.example',
					'support@example.com',
					'desk@help.example.com',
					'cid@partner.example',
				],
			},
		});
		const parameters = {
			operation: 'reply',
			options: { replyToAll: true, ownAddresses: 'desk@help.example.com', retryDelayMs: 10 },
		};
		const [sent] = await run([m], parameters);
		assert.equal(sent.length, 1);
		const got = sink.messages[0];
		assert.deepEqual(got.to, [
			'ann@customer.example',
			'bob@customer.example',
			'cid@partner.example',
		]);
		assert.deepEqual(
			(got.parsed.to as { value: Array<{ address: string }> }).value.map((a) => a.address),
			['ann@customer.example'],
		);
		assert.deepEqual(
			(got.parsed.cc as { value: Array<{ address: string }> }).value.map((a) => a.address),
			['bob@customer.example', 'cid@partner.example'],
		);
		assert.deepEqual((sent[0].json.sent as IDataObject).cc, [
			'bob@customer.example',
			'cid@partner.example',
		]);
	});

	it('rate limit per sender is remembered across executions', async () => {
		const staticData: IDataObject = {};
		const same = () => customerMail({ from: { address: 'loop@customer.example', name: '' } });
		const first = await run(
			[same(), same(), same()],
			{ options: { rateLimit: 4, retryDelayMs: 10 } },
			{ staticData },
		);
		const second = await run(
			[same(), same()],
			{ options: { rateLimit: 4, retryDelayMs: 10 } },
			{ staticData },
		);
		assert.equal(first[0].length, 3);
		assert.equal(second[0].length, 1);
		assert.equal((second[1][0].json.notSent as IDataObject).code, 'RATE_LIMIT');
	});

	it('retries 451 and 421 with backoff, then delivers', async () => {
		sink.faults = [
			{ kind: 'reply', code: 451, message: '4.3.0 Temporary local problem' },
			{ kind: 'reply', code: 421, message: '4.7.0 Try again later' },
		];
		const [sent, , failed] = await run([customerMail()]);
		assert.equal(failed.length, 0);
		assert.equal((sent[0].json.sent as IDataObject).attempts, 3);
		assert.equal(sink.messages.length, 1);
	});

	it('a dropped connection mid-send is retried on a new connection', async () => {
		sink.faults = [{ kind: 'drop' }];
		const [sent, , failed] = await run([customerMail(), customerMail()]);
		assert.equal(failed.length, 0, JSON.stringify(failed.map((f) => f.json.error)));
		assert.equal(sent.length, 2);
		assert.equal((sent[0].json.sent as IDataObject).attempts, 2);
		assert.equal(sink.messages.length, 2);
	});

	it('Continue On Fail: a permanent 5xx goes to Failed with the server answer; the rest is sent', async () => {
		sink.refuse.add('ann.refused@customer.example');
		const [sent, , failed] = await run(
			[
				customerMail({ from: { address: 'ann.refused@customer.example', name: '' } }),
				customerMail(),
			],
			{},
			{ continueOnFail: true },
		);
		assert.equal(sent.length, 1);
		assert.equal(failed.length, 1);
		const error = failed[0].json.error as IDataObject;
		assert.equal(error.code, 'SMTP_REJECTED');
		assert.match(String(error.message), /Recipient address rejected/);
		assert.deepEqual(failed[0].pairedItem, { item: 0 });
	});

	it('Continue On Fail: retries give up on a server that keeps answering 4xx: Failed, never silently dropped', async () => {
		sink.faults = Array.from({ length: 4 }, () => ({
			kind: 'reply' as const,
			code: 451,
			message: '4.3.0 Busy',
		}));
		const [sent, , failed] = await run(
			[customerMail()],
			{ options: { retries: 3, retryDelayMs: 5 } },
			{ continueOnFail: true },
		);
		assert.equal(sent.length, 0);
		assert.equal((failed[0].json.error as IDataObject).code, 'SMTP_TEMPORARY');
	});

	it('From must be allowed by the credential; the error names the address and the list', async () => {
		await assert.rejects(
			run([customerMail()], { from: 'ceo@evil.example' }),
			/may not send as "ceo@evil\.example": allowed are support@example\.com, \*@help\.example\.com/,
		);
		const [sent] = await run([customerMail()], { from: 'Help <desk@help.example.com>' });
		assert.equal(sent.length, 1);
		assert.equal(sink.messages.at(-1)?.from, 'desk@help.example.com');
	});

	it('send mode: to/cc/bcc, opt-out list, bulk headers and a signed unsubscribe link, one-off', async () => {
		const staticData: IDataObject = {};
		const params = {
			operation: 'send',
			to: '={{$json.email}}',
			cc: '',
			bcc: 'audit@example.com',
			subject: 'News for {Account.name}',
			bodyHtml: '<p>Hi</p>',
			bodyText: 'Hi',
			options: {
				bulk: true,
				optOutBaseUrl: 'https://crm.example.com/unsub',
				// Separated by a space, as an admin may paste it: every address counts.
				optOutList: 'left@c.example gone@c.example',
				oneOff: true,
				retryDelayMs: 10,
			},
		};
		const mails = [{ email: 'a@c.example', account: { name: 'A' } }, { email: 'gone@c.example' }];
		const runWith = (m: IDataObject[]) =>
			run(m, { ...params, to: (i: number) => m[i].email }, { staticData });
		const [sent, notSent] = await runWith(mails);
		assert.equal(sent.length, 1);
		assert.equal((notSent[0].json.notSent as IDataObject).code, 'OPTED_OUT');
		const p = sink.messages[0].parsed;
		assert.deepEqual(sink.messages[0].to, ['a@c.example', 'audit@example.com']);
		assert.equal(p.headers.get('bcc'), undefined);
		assert.equal(p.headers.get('precedence'), 'bulk');
		const raw = sink.messages[0].raw.toString().replace(/\r\n[ \t]+/g, ' '); // unfolded
		assert.match(
			raw,
			/\r\nList-Unsubscribe: <https:\/\/crm\.example\.com\/unsub\?email=a%40c\.example&token=[\w.-]+>/,
		);
		assert.match(raw, /\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n/);
		assert.match(
			String(p.html),
			/href="https:\/\/crm\.example\.com\/unsub\?email=a%40c\.example&#38;token=[\w.-]+"/,
		);
		// The same item again is the same mail; another item to the same person meets the one-off.
		const again = await runWith([mails[0]]);
		assert.equal((again[1][0].json.notSent as IDataObject).code, 'ALREADY_SENT');
		const other = await runWith([{ ...mails[0], account: { name: 'B' } }]);
		assert.equal((other[1][0].json.notSent as IDataObject).code, 'ONE_OFF');
	});

	it('attaches binary properties of the item', async () => {
		const f = fakeExecute({
			description: node.description,
			parameters: {
				operation: 'send',
				from: '',
				to: 'x@c.example',
				cc: '',
				bcc: '',
				subject: 'Your invoice',
				bodyHtml: '',
				bodyText: 'Attached.',
				appendToSent: false,
				options: { attachments: 'invoice, missing' },
			},
			inputs: [
				[
					{
						json: {},
						binary: {
							invoice: {
								data: Buffer.from('%PDF-1.4 test').toString('base64'),
								mimeType: 'application/pdf',
								fileName: 'invoice-7.pdf',
							},
						},
					},
				],
			],
			credentials: { crmSmtpApi: sink.credentials(), crmEmailSigningApi: signingCredential },
			continueOnFail: true,
		});
		const [sent, , failed] = await node.execute.call(f.ctx);
		// A missing binary property is an error naming it, not a mail without its attachment.
		assert.equal(sent.length, 0);
		assert.match(String((failed[0].json.error as IDataObject).message), /missing/);
		const g = fakeExecute({
			description: node.description,
			parameters: {
				operation: 'send',
				from: '',
				to: 'x@c.example',
				cc: '',
				bcc: '',
				subject: 'Your invoice',
				bodyHtml: '',
				bodyText: 'Attached.',
				appendToSent: false,
				options: { attachments: 'invoice' },
			},
			inputs: [
				[
					{
						json: {},
						binary: {
							invoice: {
								data: Buffer.from('%PDF-1.4 test').toString('base64'),
								mimeType: 'application/pdf',
								fileName: 'invoice-7.pdf',
							},
						},
					},
				],
			],
			credentials: { crmSmtpApi: sink.credentials(), crmEmailSigningApi: signingCredential },
		});
		const [ok] = await node.execute.call(g.ctx);
		assert.equal(ok.length, 1);
		const a = sink.messages.at(-1)?.parsed.attachments[0];
		assert.deepEqual(
			[a?.filename, a?.contentType, a?.content.toString()],
			['invoice-7.pdf', 'application/pdf', '%PDF-1.4 test'],
		);
	});

	it('appends the very mail sent to the IMAP Sent folder', async () => {
		await ensureFolder(admin, 'Sent');
		const [sent] = await run([customerMail()], { appendToSent: true });
		const info = sent[0].json.sent as IDataObject;
		assert.deepEqual(info.sentFolder, { folder: 'Sent', appended: true });
		const lock = await admin.getMailboxLock('Sent');
		try {
			const found = await admin.search({ header: { 'message-id': String(info.messageId) } });
			assert.equal((found || []).length, 1);
		} finally {
			lock.release();
		}
	});

	it('credential test: wrong password is an auth error without the password', async () => {
		const test = node.methods.credentialTest.crmSmtpConnectionTest;
		const ok = await test.call({} as ICredentialTestFunctions, {
			id: '1',
			name: 's',
			type: 'crmSmtpApi',
			data: sink.credentials(),
		});
		assert.equal(ok.status, 'OK');
		const bad = await test.call({} as ICredentialTestFunctions, {
			id: '1',
			name: 's',
			type: 'crmSmtpApi',
			data: sink.credentials({ password: 'wrong-pass-123' }),
		});
		assert.equal(bad.status, 'Error');
		assert.match(bad.message, /refused the login for user "sender"/);
		assert.ok(!bad.message.includes('wrong-pass-123'));
	});
});
