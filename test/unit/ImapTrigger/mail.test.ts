import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	looksLikeMail,
	normalizeMessageId,
	parseMail,
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
