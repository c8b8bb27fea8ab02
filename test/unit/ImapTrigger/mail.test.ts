import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	looksLikeMail,
	normalizeMessageId,
	parseMail,
	structureAttachments,
	type FetchedMail,
} from '../../../nodes/ImapTrigger/core/mail';

function fetched(source: string | Buffer, over: Partial<FetchedMail> = {}): FetchedMail {
	const buf = Buffer.isBuffer(source) ? source : Buffer.from(source.replace(/\n/g, '\r\n'));
	return {
		account: 'support@imap.example.com',
		folder: 'INBOX',
		uid: 7,
		uidValidity: '42',
		internalDate: new Date('2026-02-01T08:00:00Z'),
		size: buf.length,
		flags: ['\\Seen'],
		source: buf,
		headersOnly: false,
		...over,
	};
}

const policy = { include: true, maxBytes: 1000 };

const MULTIPART = `From: "Doe, Jane" <Jane.Doe@Example.org>
To: support@example.com, Team: a@example.com, b@example.com;
Cc: boss@example.org
Reply-To: replies@example.org
Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?= {{constructor}} {Account.name}
Date: Sun, 01 Feb 2026 08:00:00 +0000
Message-ID: <abc@example.org>
In-Reply-To: <prev@example.com>
References: <root@example.com> <prev@example.com>
Auto-Submitted: auto-replied
Precedence: bulk
List-Id: <list.example.org>
X-Auto-Response-Suppress: DR, OOF, AutoReply
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe
--b1
Content-Type: application/pdf; name="small.pdf"
Content-Disposition: attachment; filename="small.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b1
Content-Type: application/octet-stream; name="../../big.bin"
Content-Disposition: attachment; filename="../../big.bin"
Content-Transfer-Encoding: base64

${Buffer.alloc(2000, 1).toString('base64')}
--b1--
`;

describe('parseMail', () => {
	it('maps a multipart mail to the documented item', async () => {
		const { json, binaries } = await parseMail(fetched(MULTIPART), policy);
		assert.equal(json.messageId, '<abc@example.org>');
		assert.equal(json.inReplyTo, '<prev@example.com>');
		assert.deepEqual(json.references, ['<root@example.com>', '<prev@example.com>']);
		assert.equal(json.subject, 'Привет {{constructor}} {Account.name}');
		assert.deepEqual(json.from, { address: 'Jane.Doe@Example.org', name: 'Doe, Jane' });
		assert.deepEqual(
			json.to.map((a) => a.address),
			['support@example.com', 'a@example.com', 'b@example.com'],
		);
		assert.deepEqual(
			json.cc.map((a) => a.address),
			['boss@example.org'],
		);
		assert.deepEqual(
			json.replyTo.map((a) => a.address),
			['replies@example.org'],
		);
		assert.equal(json.text?.trim(), 'Grüße');
		assert.equal(json.date, '2026-02-01T08:00:00.000Z');
		assert.equal(json.internalDate, '2026-02-01T08:00:00.000Z');
		assert.equal(json.headers['auto-submitted'], 'auto-replied');
		assert.equal(json.headers.precedence, 'bulk');
		assert.equal(json.headers['list-id'], '<list.example.org>');
		assert.equal(json.headers['x-auto-response-suppress'], 'DR, OOF, AutoReply');
		assert.equal(json.folder, 'INBOX');
		assert.equal(json.uid, 7);
		assert.equal(json.uidValidity, '42');
		assert.deepEqual(json.flags, ['\\Seen']);
		assert.equal(json.account, 'support@imap.example.com');
		assert.equal(json.error, null);
		assert.equal(json.truncated, false);

		assert.equal(json.attachments.length, 2);
		const [small, big] = json.attachments;
		assert.equal(small.filename, 'small.pdf');
		assert.equal(small.binaryProperty, 'attachment_0');
		assert.equal(big.filename, '.._.._big.bin', 'path separators are not kept in file names');
		assert.equal(big.skipped, 'too-large');
		assert.equal(big.binaryProperty, null);
		assert.deepEqual(
			binaries.map((b) => b.property),
			['attachment_0'],
		);
	});

	it('gives every item the reply: the text without its quote and signature', async () => {
		const reply = `From: Ann <ann@acme.example>
To: support@example.com
Subject: Re: Printer
Message-ID: <r1@acme.example>
Content-Type: text/plain; charset=utf-8

It prints again, thanks.

--
Ann Smith

Am 04.03.2024 um 10:15 schrieb Support <support@example.com>:
> Bitte neu starten.
`;
		const { json } = await parseMail(fetched(reply), policy);
		assert.deepEqual(json.reply, {
			text: 'It prints again, thanks.',
			quoted: true,
			signature: '--\nAnn Smith',
			method: 'header-line',
		});
		assert.match(json.text ?? '', /Bitte neu starten/, 'the body itself is kept');
		// No body to read: an empty reply, never a missing field.
		const empty = { text: '', quoted: false, signature: null, method: 'none' };
		const head = MULTIPART.slice(0, MULTIPART.indexOf('\n\n') + 1);
		const truncated = await parseMail(fetched(head, { headersOnly: true }), policy);
		assert.deepEqual(truncated.json.reply, empty);
		const failed = await parseMail(fetched(Buffer.from([0xff, 0xfe, 0, 1])), policy);
		assert.deepEqual(failed.json.reply, empty);
	});

	it('marks a Content-ID image inline, also without Content-Disposition (multipart/related)', async () => {
		const png = Buffer.from('89504e470d0a1a0a', 'hex').toString('base64');
		const mail = `From: Ann <ann@acme.example>
To: support@example.com
Subject: Logo
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: multipart/related; boundary="r"

--r
Content-Type: text/html; charset=utf-8

<p>See <img src="cid:logo@acme"></p>
--r
Content-Type: image/png
Content-ID: <logo@acme>
Content-Transfer-Encoding: base64

${png}
--r--
--m
Content-Type: image/png; name="photo.png"
Content-Disposition: attachment; filename="photo.png"
Content-ID: <photo@acme>
Content-Transfer-Encoding: base64

${png}
--m
Content-Type: image/png; name="shown.png"
Content-Disposition: inline; filename="shown.png"
Content-Transfer-Encoding: base64

${png}
--m--
`;
		const { json, binaries } = await parseMail(fetched(mail), policy);
		assert.deepEqual(
			json.attachments.map((a) => [a.contentId, a.inline, a.binaryProperty]),
			[
				['logo@acme', true, 'attachment_0'],
				['photo@acme', false, 'attachment_1'],
				[null, true, 'attachment_2'],
			],
		);
		assert.equal(binaries.length, 3);
	});

	it('attaches nothing when attachments are off', async () => {
		const { json, binaries } = await parseMail(fetched(MULTIPART), {
			include: false,
			maxBytes: 1e9,
		});
		assert.deepEqual(
			json.attachments.map((a) => a.skipped),
			['disabled', 'disabled'],
		);
		assert.equal(binaries.length, 0);
	});

	it('parses a header block alone as a truncated mail', async () => {
		const head = MULTIPART.slice(0, MULTIPART.indexOf('\n\n') + 1);
		const { json } = await parseMail(
			fetched(head, { headersOnly: true, size: 99_000_000 }),
			policy,
		);
		assert.equal(json.truncated, true);
		assert.equal(json.text, null);
		assert.equal(json.html, null);
		assert.equal(json.messageId, '<abc@example.org>');
		assert.equal(json.size, 99_000_000);
	});

	it('turns a non-mail into an error item carrying the raw source', async () => {
		const raw = Buffer.from([0xff, 0xfe, 0, 1, 2, 3]);
		const { json, binaries } = await parseMail(fetched(raw), policy);
		assert.equal(json.error?.code, 'MAIL_PARSE_FAILED');
		assert.equal(binaries[0].property, 'raw');
		assert.deepEqual(binaries[0].content, raw);
		assert.equal(binaries[0].contentType, 'message/rfc822');
	});

	it('handles a mail with no Message-ID, no date and no subject', async () => {
		const { json } = await parseMail(fetched('From: a@b.c\n\nhello\n'), policy);
		assert.equal(json.messageId, null);
		assert.equal(json.date, null);
		assert.equal(json.subject, '');
		assert.equal(json.text?.trim(), 'hello');
	});
});

describe('parseMail on headers as old clients wrote them (issue #11)', () => {
	it('reads mail with a byte-order mark, blank lines before the headers, or `Name :`', async () => {
		for (const raw of [
			Buffer.concat([
				Buffer.from([0xef, 0xbb, 0xbf]),
				Buffer.from('From: a@b.c\r\nSubject: bom\r\n\r\nhi\r\n'),
			]),
			'\n\nFrom: a@b.c\nSubject: blank lines\n\nhi\n',
			'Received : from old.example by mx\nFrom: a@b.c\nSubject: obs colon\n\nhi\n',
		]) {
			const { json } = await parseMail(fetched(raw), policy);
			assert.equal(json.error, null, String(raw));
			assert.equal(json.from?.address, 'a@b.c');
			assert.ok(json.subject);
		}
	});

	it('an INTERNALDATE the server sent unreadable gives the epoch, not a stalled folder', async () => {
		const { json } = await parseMail(
			fetched('From: a@b.c\n\nhi\n', { internalDate: new Date('garbage') }),
			policy,
		);
		assert.equal(json.internalDate, '1970-01-01T00:00:00.000Z');
		const failed = await parseMail(
			fetched('no header here', { internalDate: new Date('garbage') }),
			policy,
		);
		assert.equal(failed.json.error?.code, 'MAIL_PARSE_FAILED');
	});

	it('reads a Date JavaScript cannot parse (`+-0500`) instead of failing', async () => {
		const { json } = await parseMail(
			fetched('From: a@b.c\nDate: Thu, 29 Aug 2002 15:36:58 +-0500\n\nhi\n'),
			policy,
		);
		assert.equal(json.error, null);
		assert.equal(json.date, '2002-08-29T20:36:58.000Z');
		assert.deepEqual(json.warnings, []);
	});

	it('gives date null, the raw header and a warning for a Date that names no date', async () => {
		const { json } = await parseMail(
			fetched('From: a@b.c\nDate: the day after tomorrow\n\nhi\n'),
			policy,
		);
		assert.equal(json.error, null);
		assert.equal(json.date, null, 'not the time of parsing');
		assert.equal(json.headers.date, 'the day after tomorrow');
		assert.deepEqual(
			json.warnings.map((w) => w.code),
			['DATE_UNPARSABLE'],
		);
	});

	const replies: Array<[string, string | null]> = [
		[
			"noglider's message of Tue, 10 Sep 2002 <20020910142926.C5DF2A7@whatexit.org>",
			'<20020910142926.C5DF2A7@whatexit.org>',
		],
		[
			'Your message of "Tue, 10 Sep 2002 13:21:44 EDT."\n  <200209101721.g8AHLiF12345@x.org>',
			'<200209101721.g8AHLiF12345@x.org>',
		],
		['<a@x> (comment)', '<a@x>'],
		['(comment) <a@x>', '<a@x>'],
		['bare@x', '<bare@x>'],
		['Your message of Tue, 10 Sep 2002', null],
	];
	for (const [header, expected] of replies) {
		it(`takes ${expected} from In-Reply-To: ${header.split('\n')[0]}`, async () => {
			const { json } = await parseMail(
				fetched(`From: a@b.c\nIn-Reply-To: ${header}\n\nhi\n`),
				policy,
			);
			assert.equal(json.inReplyTo, expected);
		});
	}

	it('takes only bracketed ids from References, with comments and folding', async () => {
		const { json } = await parseMail(
			fetched(
				'From: a@b.c\nReferences: <a@b> (comment) <c@d>\n\tfoo <e@f>\nIn-Reply-To: <x@y> <z@y>\n\nhi\n',
			),
			policy,
		);
		assert.deepEqual(json.references, ['<a@b>', '<c@d>', '<e@f>', '<z@y>']);
		assert.equal(json.inReplyTo, '<x@y>');
	});

	it('keeps the Message-ID without its comment', async () => {
		const { json } = await parseMail(fetched('From: a@b.c\nMessage-ID: <x@y> (c)\n\nhi\n'), policy);
		assert.equal(json.messageId, '<x@y>');
	});

	it('lists the attachments of an over-size mail from its BODYSTRUCTURE', async () => {
		const head = 'From: a@b.c\nSubject: big\n\n';
		const { json } = await parseMail(
			fetched(head, {
				headersOnly: true,
				size: 80_000_000,
				structure: {
					type: 'multipart/mixed',
					childNodes: [
						{ type: 'text/plain', size: 10 },
						{ type: 'text/html', size: 20 },
						{
							type: 'application/pdf',
							encoding: 'base64',
							size: 4000,
							disposition: 'attachment',
							dispositionParameters: { filename: 'a/b.pdf' },
						},
						{
							type: 'image/png',
							id: '<img1>',
							disposition: 'inline',
							parameters: { name: 'x.png' },
							size: 8,
						},
					],
				},
			}),
			policy,
		);
		assert.equal(json.truncated, true);
		assert.deepEqual(
			json.attachments.map((a) => [a.filename, a.contentType, a.size, a.skipped, a.inline]),
			[
				['a_b.pdf', 'application/pdf', 3000, 'mail-too-large', false],
				['x.png', 'image/png', 8, 'mail-too-large', true],
			],
		);
	});

	it('reads a deeply nested BODYSTRUCTURE without recursing forever', () => {
		let part = { type: 'application/zip', size: 1 } as Parameters<typeof structureAttachments>[0];
		for (let i = 0; i < 10_000; i++) part = { type: 'multipart/mixed', childNodes: [part] };
		// Below 50 levels the rest is listed as one part rather than walked.
		assert.deepEqual(
			structureAttachments(part).map((a) => a.contentType),
			['multipart/mixed'],
		);
	});
});

describe('helpers', () => {
	it('normalizes Message-IDs to one pair of angle brackets', () => {
		assert.equal(normalizeMessageId('abc@x'), '<abc@x>');
		assert.equal(normalizeMessageId(' <<abc@x>> '), '<abc@x>');
		assert.equal(normalizeMessageId(''), null);
	});
	it('recognises a header section', () => {
		assert.equal(looksLikeMail(Buffer.from('Received: from x\r\n')), true);
		assert.equal(looksLikeMail(Buffer.from('From someone Mon Jan 1\r\n')), true);
		assert.equal(looksLikeMail(Buffer.from('\r\n\r\nbody only')), false);
	});
});
