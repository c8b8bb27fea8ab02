/**
 * Property-based tests over the header grammar of hostile mail (test/helpers/hostileMail.ts):
 * the Date reader, the mail → item mapping and the thread reader never throw, and what they
 * return always has the documented shape.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { parseMail, type MailItem } from '../../../nodes/ImapTrigger/core/mail';
import { parseMailDate } from '../../../nodes/ImapTrigger/core/mailDate';
import {
	arbDateHeader,
	arbHostileSpec,
	arbInReplyTo,
	renderHostile,
	type HostileSpec,
} from '../../helpers/hostileMail';

const ID = /^<[^<>\s]+>$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function assertItemShape(json: MailItem): void {
	assert.ok(json.date === null || (ISO.test(json.date) && !Number.isNaN(Date.parse(json.date))));
	assert.ok(json.messageId === null || ID.test(json.messageId), `messageId ${json.messageId}`);
	assert.ok(json.inReplyTo === null || ID.test(json.inReplyTo), `inReplyTo ${json.inReplyTo}`);
	for (const r of json.references) assert.match(r, ID);
	assert.equal(new Set(json.references).size, json.references.length);
	assert.equal(typeof json.subject, 'string');
	assert.ok(Array.isArray(json.to) && Array.isArray(json.attachments));
	assert.ok(Array.isArray(json.warnings));
	for (const [k, v] of Object.entries(json.headers)) {
		assert.equal(typeof v, 'string', k);
		assert.ok(v.length <= 8192, k);
	}
}

function expectedMessageId(spec: HostileSpec, id: string): string | null {
	return spec.messageId === 'missing' || spec.messageId === 'empty' ? null : id;
}

describe('hostile mail: Date header', () => {
	it('reads every obsolete form to the instant it names, and garbage to null', () => {
		fc.assert(
			fc.property(arbDateHeader, ({ text, expected }) => {
				const got = parseMailDate(text.replace(/\r\n/g, ''));
				assert.equal(got?.toISOString() ?? null, expected?.toISOString() ?? null, text);
			}),
			{ numRuns: 2000 },
		);
	});

	it('never throws and never returns an invalid date on any string', () => {
		fc.assert(
			fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
				const got = parseMailDate(text);
				assert.ok(got === null || ISO.test(got.toISOString()));
			}),
			{ numRuns: 2000 },
		);
	});
});

describe('hostile mail: mail → item', () => {
	it('maps every hostile mail to a valid item with the ids and date it carries', async () => {
		let n = 0;
		await fc.assert(
			fc.asyncProperty(arbHostileSpec, async (spec) => {
				n += 1;
				const id = `<p${n}.x@corpus.example>`;
				const raw = renderHostile(spec, `p${n}`, id);
				const { json } = await parseMail(
					{
						account: 'a',
						folder: 'INBOX',
						uid: n,
						uidValidity: '1',
						internalDate: new Date(0),
						size: raw.length,
						flags: [],
						source: raw,
						headersOnly: false,
					},
					{ include: true, maxBytes: 1e6 },
				);
				assertItemShape(json);
				assert.equal(json.error, null);
				assert.equal(json.messageId, expectedMessageId(spec, id));
				assert.equal(json.inReplyTo, spec.inReplyTo?.ids[0] ?? null);
				const refs = spec.references?.ids ?? [];
				for (const r of refs) assert.ok(json.references.includes(r), `${r} in References`);
				const expectedDate = spec.date?.expected?.toISOString() ?? null;
				assert.equal(json.date, expectedDate, spec.date?.text);
				const unparsable = spec.date !== null && spec.date.expected === null;
				assert.equal(
					json.warnings.some((w) => w.code === 'DATE_UNPARSABLE'),
					unparsable,
				);
				if (spec.date) assert.equal(json.headers.date, spec.date.text.replace(/\r\n/g, '').trim());
			}),
			{ numRuns: 400 },
		);
	});
});

describe('hostile mail: thread reader', () => {
	it('takes the Message-IDs of every obs-in-reply-to form, in order', async () => {
		const { threadMessageIds } = await import('../../../nodes/shared/threadId');
		fc.assert(
			fc.property(arbInReplyTo, ({ text, ids }) => {
				assert.deepEqual(threadMessageIds({ inReplyTo: text }), [...new Set(ids)]);
			}),
		);
	});

	it('never throws and returns only bracketed ids without spaces, each once', async () => {
		const { normalizeMessageId, threadMessageIds } = await import('../../../nodes/shared/threadId');
		const value = fc.oneof(
			fc.string({ unit: 'binary', maxLength: 100 }),
			fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 5 }),
			fc.anything(),
		);
		fc.assert(
			fc.property(value, value, (inReplyTo, references) => {
				const ids = threadMessageIds({ inReplyTo, references });
				for (const id of ids) assert.match(id, ID);
				assert.equal(new Set(ids).size, ids.length);
				if (typeof inReplyTo === 'string') {
					const one = normalizeMessageId(inReplyTo);
					assert.ok(one === null || ID.test(one), one ?? '');
				}
			}),
			{ numRuns: 1000 },
		);
	});
});
