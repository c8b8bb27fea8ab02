/**
 * The Template Sender's delivery (delivery.ts) on its own: the raw mail as built, retries with
 * backoff on temporary failures only, one pooled connection, and the Sent-folder copy. Real SMTP
 * server on loopback, real Dovecot.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';

import { isCrmEmailError } from '../../../nodes/shared/errors';
import { toImapCredentials } from '../../../nodes/shared/transport/imap';
import { toSmtpCredentials } from '../../../nodes/shared/transport/smtp';
import { buildRaw, Delivery, type OutgoingMail } from '../../../nodes/TemplateSender/delivery';
import { Dovecot, ensureFolder } from '../../../harness/dovecot';
import { SmtpSink } from '../../../harness/smtp';

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

function outgoing(over: Partial<OutgoingMail> = {}): OutgoingMail {
	return {
		from: { address: 'support@example.com', name: 'Support, "Desk"' },
		to: [{ address: 'ann@customer.example', name: 'Ann' }],
		cc: [{ address: 'audit@example.com', name: '' }],
		bcc: [{ address: 'log@example.com', name: '' }],
		subject: 'Re: Printer',
		html: '<p>Hi</p>',
		text: 'Hi',
		messageId: '<m1@example.com>',
		inReplyTo: '<c1@customer.example>',
		references: ['<root@customer.example>', '<c1@customer.example>'],
		headers: { 'Auto-Submitted': 'auto-replied' },
		listUnsubscribe: { url: 'https://crm.example.com/u?email=a', oneClick: true },
		attachments: [{ filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('data') }],
		...over,
	};
}

const envelope = (m: OutgoingMail) => ({
	from: m.from.address,
	to: [...m.to, ...m.cc, ...m.bcc].map((a) => a.address),
});

function delivery(retries: number, sleeps: number[] = []) {
	return new Delivery(toSmtpCredentials(sink.credentials()), {
		retries,
		retryDelayMs: 100,
		sleep: async (ms) => {
			sleeps.push(ms);
		},
	});
}

describe('buildRaw', () => {
	it('writes the headers as given, Bcc only in the envelope, List-Unsubscribe one-click', async () => {
		const raw = (await buildRaw(outgoing(), new Date('2026-11-20T10:00:00Z'))).toString();
		const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
		assert.match(head, /^From: "Support, \\"Desk\\"" <support@example\.com>$/m);
		assert.match(head, /^Cc: audit@example\.com$/m);
		assert.doesNotMatch(head, /^Bcc:/im);
		assert.match(head, /^Message-ID: <m1@example\.com>$/m);
		assert.match(head, /^In-Reply-To: <c1@customer\.example>$/m);
		assert.match(head, /^References: <root@customer\.example> <c1@customer\.example>$/m);
		assert.match(head, /^Auto-Submitted: auto-replied$/m);
		assert.match(head, /^List-Unsubscribe: <https:\/\/crm\.example\.com\/u\?email=a>$/m);
		assert.match(head, /^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
		assert.match(head, /^Date: Fri, 20 Nov 2026 10:00:00 \+0000$/m);
		assert.match(raw, /filename=a\.txt/);
	});
});

describe('Delivery', () => {
	it('sends over one pooled connection; the server gets the raw mail and the envelope', async () => {
		const d = delivery(0);
		const m = outgoing();
		const raw = await buildRaw(m);
		try {
			const results = await Promise.all([1, 2, 3].map(() => d.send(raw, envelope(m))));
			assert.deepEqual(
				results.map((r) => [r.attempts, r.rejected]),
				[
					[1, []],
					[1, []],
					[1, []],
				],
			);
			assert.deepEqual(results[0].accepted, envelope(m).to);
		} finally {
			await d.close();
		}
		assert.equal(sink.connections, 1);
		assert.equal(sink.messages.length, 3);
		assert.deepEqual(sink.messages[0].to, envelope(m).to);
		assert.equal(sink.messages[0].raw.toString(), raw.toString());
	});

	it('retries temporary failures with a doubling delay, up to Retries', async () => {
		sink.faults = [{ kind: 'reply', code: 451, message: '4.3.0 Busy' }, { kind: 'drop' }];
		const sleeps: number[] = [];
		const d = delivery(3, sleeps);
		try {
			const r = await d.send(await buildRaw(outgoing()), envelope(outgoing()));
			assert.equal(r.attempts, 3);
		} finally {
			await d.close();
		}
		assert.deepEqual(sleeps, [100, 200]);
		sink.faults = Array.from({ length: 3 }, () => ({
			kind: 'reply' as const,
			code: 421,
			message: '4.7.0 Later',
		}));
		const gaveUp: number[] = [];
		const e = delivery(2, gaveUp);
		try {
			await assert.rejects(
				e.send(await buildRaw(outgoing()), envelope(outgoing())),
				(error: unknown) =>
					isCrmEmailError(error) &&
					error.code === 'SMTP_TEMPORARY' &&
					/421|4\.7\.0 Later/.test(error.message),
			);
		} finally {
			await e.close();
		}
		assert.deepEqual(gaveUp, [100, 200]);
	});

	it('a permanent refusal is not retried and carries the server answer, no password', async () => {
		sink.refuse.add('ann@customer.example');
		const sleeps: number[] = [];
		const d = delivery(3, sleeps);
		const only = outgoing({ cc: [], bcc: [] });
		try {
			await assert.rejects(
				d.send(await buildRaw(only), envelope(only)),
				(error: unknown) =>
					isCrmEmailError(error) &&
					error.code === 'SMTP_REJECTED' &&
					/550 5\.1\.1 <ann@customer\.example>: Recipient address rejected/.test(error.message) &&
					!error.message.includes('smtp-secret'),
			);
			// Some recipients refused, others taken: the mail is sent, the refused ones listed.
			sink.refuse.clear();
			sink.refuse.add('log@example.com');
			const partly = await d.send(await buildRaw(outgoing()), envelope(outgoing()));
			assert.deepEqual(partly.rejected, ['log@example.com']);
			assert.deepEqual(partly.accepted, ['ann@customer.example', 'audit@example.com']);
		} finally {
			await d.close();
		}
		assert.deepEqual(sleeps, []);
		assert.equal(sink.messages.length, 1);
	});

	it('Sent-folder copies keep their order; a missing folder is an error naming it, the next copy still goes', async () => {
		await ensureFolder(admin, 'Sent');
		const imap = toImapCredentials(dovecot.credentials());
		const d = delivery(0);
		const ids = ['<s1@example.com>', '<s2@example.com>', '<s3@example.com>'];
		try {
			const raws = await Promise.all(ids.map((messageId) => buildRaw(outgoing({ messageId }))));
			await Promise.all([
				d.appendToSent(imap, 'Sent', raws[0]),
				assert.rejects(
					d.appendToSent(imap, 'No Such Folder', raws[1]),
					(error: unknown) =>
						isCrmEmailError(error) &&
						error.code.startsWith('IMAP_') &&
						error.message.includes('"No Such Folder"'),
				),
				d.appendToSent(imap, 'Sent', raws[2]),
			]);
		} finally {
			await d.close();
		}
		const lock = await admin.getMailboxLock('Sent');
		try {
			const got: string[] = [];
			for await (const m of admin.fetch('1:*', { envelope: true }))
				got.push(String(m.envelope?.messageId));
			assert.deepEqual(got.slice(-2), [ids[0], ids[2]]);
		} finally {
			lock.release();
		}
	});
});
