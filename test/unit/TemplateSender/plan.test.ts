/**
 * The Template Sender's decision per item (core/plan.ts): plain data in, one mail or one skip
 * out. Properties with fast-check on hostile items and recipient lists.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { parseAddresses } from '../../../nodes/shared/addresses';
import { isCrmEmailError } from '../../../nodes/shared/errors';
import type { SmtpCredentials } from '../../../nodes/shared/transport/smtp';
import {
	plan,
	refusal,
	type Operation,
	type Plan,
	type PlanContext,
	type SenderParameters,
} from '../../../nodes/TemplateSender/core/plan';

const creds: SmtpCredentials = {
	host: '127.0.0.1',
	port: 25,
	security: 'none',
	user: 'sender',
	password: 'secret',
	allowSelfSigned: false,
	allowedFrom: ['support@example.com', '*@help.example.com'],
	defaultFrom: 'Example Support <support@example.com>',
};
const NOW = Date.parse('2026-11-20T10:00:00Z');

function context(over: Partial<PlanContext> = {}): PlanContext {
	return {
		creds,
		key: Buffer.from('k'.repeat(32)),
		limit: { max: 2, windowMs: 3_600_000 },
		now: NOW,
		templates: new Map(),
		...over,
	};
}

const fixed = (text: string) => ({ text, literal: false });

function params(over: Partial<SenderParameters> = {}): SenderParameters {
	return {
		operation: 'reply',
		from: '',
		to: '',
		cc: '',
		bcc: '',
		subject: fixed('About {Account.name}'),
		bodyHtml: fixed('<p>Hello {Person.firstName}</p>'),
		bodyText: fixed('Hello {Person.firstName}'),
		options: {},
		...over,
	};
}

function mail(over: Record<string, unknown> = {}): Record<string, unknown> {
	return {
		messageId: '<m1@customer.example>',
		references: [],
		subject: 'Printer broken',
		from: { address: 'ann@customer.example', name: 'Ann Smith' },
		replyTo: [],
		text: 'It is broken.',
		headers: {},
		account: { name: 'Acme' },
		...over,
	};
}

function sendOf(r: Plan) {
	assert.ok('send' in r, `skipped: ${'skip' in r ? JSON.stringify(r.skip) : ''}`);
	return r.send;
}
function skipOf(r: Plan) {
	assert.ok('skip' in r, 'sent');
	return r.skip;
}

const arbClean = fc.oneof(
	fc.constantFrom(
		'',
		'ann@customer.example',
		'Ann <ann@customer.example>',
		'a@x.example, b@y.example',
	),
	fc
		.tuple(fc.stringMatching(/^[a-z0-9+_]{1,10}$/), fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/))
		.map(([l, d]) => `${l}@${d}.example`),
);

/** Strings an item or an admin may put where addresses go: mostly clean, some hostile or junk. */
const arbAddressText = fc.oneof(
	{ weight: 24, arbitrary: arbClean },
	{
		weight: 1,
		arbitrary: fc.constantFrom(
			'a@x.example b@y.example',
			'x\r\nBcc: victim@y.example',
			'"Evil\r\nBcc: v@y.example" <e@x.example>',
			'<>',
			'@',
			'a@[127.0.0.1]',
			'ünï@bücher.example',
			'undisclosed-recipients:;',
		),
	},
	{ weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

const arbAddressValue = fc.oneof(
	arbAddressText,
	fc.record({ address: arbAddressText, name: fc.string({ maxLength: 12 }) }),
	fc.constant(null),
	fc.integer(),
);

const arbItem = fc.record({
	messageId: fc.oneof(fc.constant('<m@c.example>'), fc.string({ maxLength: 20 }), fc.constant(7)),
	subject: fc.oneof(fc.string({ maxLength: 30 }), fc.constant(null)),
	from: arbAddressValue,
	replyTo: fc.oneof(fc.array(arbAddressValue, { maxLength: 3 }), arbAddressText),
	headers: fc.oneof(
		fc.constant({}),
		fc.constant({ 'auto-submitted': 'auto-replied' }),
		fc.constant({ 'list-id': '<l.example>' }),
		fc.constant(null),
	),
	case: fc.oneof(fc.constant(undefined), fc.record({ number: fc.integer(), id: fc.string() })),
});

const arbOperation = fc.constantFrom<Operation>('send', 'reply', 'autoReply');

describe('plan: one decision per item', () => {
	it('every item gets exactly one of send or skip; what is sent is parse-clean, to the envelope', () => {
		fc.assert(
			fc.property(
				arbItem,
				arbOperation,
				arbAddressText,
				arbAddressText,
				arbAddressText,
				(item, operation, to, cc, bcc) => {
					const r = plan(0, item, params({ operation, to, cc, bcc }), context());
					assert.notEqual('send' in r, 'skip' in r);
					if ('skip' in r) {
						assert.match(r.skip.code, /^[A-Z_]+$/);
						assert.ok(r.skip.reason.length > 0);
						return;
					}
					const m = r.send.mail;
					const all = [...m.to, ...m.cc, ...m.bcc];
					assert.ok(m.to.length > 0);
					for (const a of all) {
						const again = parseAddresses(a.address);
						assert.deepEqual(again.invalid, [], a.address);
						assert.deepEqual(
							again.mailboxes.map((x) => x.address),
							[a.address],
						);
						assert.doesNotMatch(a.address + a.name, /[\r\n]/);
					}
					assert.deepEqual(
						r.send.envelope.to,
						all.map((a) => a.address),
					);
					assert.equal(r.send.envelope.from, 'support@example.com');
					assert.doesNotMatch(m.subject, /[\r\n]/);
				},
			),
			{ numRuns: 400, seed: 15 },
		);
	});

	it('the send mark names the incoming mail, template and operation, not the position', () => {
		fc.assert(
			fc.property(arbItem, arbOperation, fc.nat(50), (item, operation, index) => {
				const p = params({ operation, to: 'x@y.example' });
				const a = plan(0, item, p, context());
				const b = plan(index, JSON.parse(JSON.stringify(item)) as typeof item, p, context());
				if ('send' in a && 'send' in b && typeof item.messageId === 'string' && item.messageId)
					assert.equal(a.send.marks.send, b.send.marks.send);
			}),
			{ numRuns: 200, seed: 15 },
		);
		const key = (i: number, m: Record<string, unknown>, p: SenderParameters) =>
			sendOf(plan(i, m, p, context())).marks.send;
		const base = key(0, mail(), params());
		assert.equal(key(7, mail({ subject: 'other text' }), params()), base, 'same Message-ID');
		assert.notEqual(key(0, mail({ messageId: '<m2@customer.example>' }), params()), base);
		assert.notEqual(key(0, mail(), params({ subject: fixed('Other template') })), base);
		assert.notEqual(key(0, mail(), params({ operation: 'autoReply' })), base);
		// Send: the same incoming mail to another person is another mail.
		const send = (to: string) => params({ operation: 'send', to });
		assert.notEqual(key(0, mail(), send('a@x.example')), key(0, mail(), send('b@x.example')));
		// No Message-ID: the item's position and data name it (a retry of the same execution).
		const bare = mail({ messageId: undefined });
		assert.equal(key(3, bare, params()), key(3, { ...bare }, params()));
		assert.notEqual(key(3, bare, params()), key(4, bare, params()));
	});

	it('a recipient list with one bad address is not sent to anyone', () => {
		const r = plan(
			0,
			mail(),
			params({ operation: 'send', to: 'a@x.example', cc: 'b@x.example, x\r\nBcc: v@y.example' }),
			context(),
		);
		const skip = skipOf(r);
		assert.equal(skip.code, 'INVALID_RECIPIENT');
		assert.match(skip.reason, /^not one clean address each: Cc: /);
	});

	it('no recipient: Send names To, the reply operations name the mail', () => {
		assert.equal(
			skipOf(plan(0, mail(), params({ operation: 'send' }), context())).reason,
			'To is empty',
		);
		assert.equal(
			skipOf(plan(0, mail({ from: null }), params({ operation: 'reply' }), context())).code,
			'NO_RECIPIENT',
		);
	});
});

describe('plan: the checks of each operation', () => {
	it('Auto-Reply runs the loop guard; Reply does not', () => {
		const list = mail({ headers: { 'list-id': '<l.example>' } });
		assert.equal(
			skipOf(plan(0, list, params({ operation: 'autoReply' }), context())).code,
			'LOOP_GUARD',
		);
		sendOf(plan(0, list, params({ operation: 'reply' }), context()));
		const ours = mail({ replyTo: [{ address: 'Desk@Help.example.com', name: '' }] });
		const own = params({
			operation: 'autoReply',
			options: { ownAddresses: 'desk@help.example.com' },
		});
		assert.match(skipOf(plan(0, ours, own, context())).reason, /Reply-To is our own address/);
	});

	it('Auto-Reply counts the person answered against the rate limit; Reply does not', () => {
		const ctx = context();
		const auto = sendOf(plan(0, mail(), params({ operation: 'autoReply' }), ctx));
		assert.equal(auto.marks.reply, 'ann@customer.example');
		assert.deepEqual(refusal({ mark: 'reply' }, auto.marks, ctx.limit), {
			code: 'RATE_LIMIT',
			reason: 'ann@customer.example already got 2 auto-replies in the last 1 h',
		});
		assert.equal(sendOf(plan(0, mail(), params({ operation: 'reply' }), ctx)).marks.reply, null);
		// 0: no limit, nothing counted.
		const unlimited = context({ limit: { max: 0, windowMs: 3_600_000 } });
		assert.equal(
			sendOf(plan(0, mail(), params({ operation: 'autoReply' }), unlimited)).marks.reply,
			null,
		);
	});

	it('opt-out list covers To, Cc and Bcc, case and list form alike', () => {
		const r = plan(
			0,
			mail(),
			params({ bcc: 'Gone@X.example', options: { optOutList: ['gone@x.example'] } }),
			context(),
		);
		assert.deepEqual(skipOf(r), { code: 'OPTED_OUT', reason: 'gone@x.example opted out' });
	});

	it('one-off: marked per template key and recipient; a refused mark names the recipient', () => {
		const ctx = context();
		const first = sendOf(plan(0, mail(), params({ options: { oneOff: true } }), ctx));
		assert.ok(first.marks.oneOff?.endsWith('|ann@customer.example'));
		const keyed = sendOf(
			plan(0, mail(), params({ options: { oneOff: true, oneOffKey: 'w' } }), ctx),
		);
		assert.equal(keyed.marks.oneOff, 'w|ann@customer.example');
		assert.deepEqual(refusal({ mark: 'oneOff' }, keyed.marks, ctx.limit), {
			code: 'ONE_OFF',
			reason: 'this one-off template was already sent to ann@customer.example',
		});
		assert.equal(sendOf(plan(0, mail(), params(), ctx)).marks.oneOff, null);
	});

	it('a refused send mark: sent before, being sent by a failed execution, or a twin item', () => {
		const { marks } = sendOf(plan(0, mail(), params(), context()));
		const code = (r: Parameters<typeof refusal>[0]) => refusal(r, marks, context().limit).code;
		assert.equal(code({ mark: 'send', state: 'sent' }), 'ALREADY_SENT');
		assert.equal(code({ mark: 'send', state: 'sending' }), 'SENT_BY_FAILED_EXECUTION');
		assert.match(
			refusal({ mark: 'send', state: 'twin', item: 3 }, marks, context().limit).reason,
			/^item 3 of this input is the same mail/,
		);
	});

	it('Reply To All Participants: Cc the case participants, not us, not the person answered', () => {
		const item = mail({
			from: { address: 'Ann@Customer.example', name: 'Ann Smith' },
			case: {
				number: 7,
				participants: [
					'ann@customer.example',
					'bob@customer.example',
					'support@example.com',
					'desk@help.example.com',
					'cid@partner.example',
					'Bob@Customer.example',
				],
			},
		});
		const p = params({
			cc: 'cid@partner.example',
			options: { replyToAll: true, ownAddresses: 'desk@help.example.com' },
		});
		const r = sendOf(plan(0, item, p, context()));
		assert.deepEqual(
			r.mail.to.map((a) => a.address),
			['Ann@customer.example'],
		);
		assert.deepEqual(
			r.mail.cc.map((a) => a.address),
			['cid@partner.example', 'bob@customer.example'],
		);
		assert.deepEqual(r.envelope.to, [
			'Ann@customer.example',
			'cid@partner.example',
			'bob@customer.example',
		]);
		// Off, or on Auto-Reply (Reply only), or without participants: the person answered alone.
		const alone = (q: SenderParameters, m = item) => sendOf(plan(0, m, q, context())).envelope.to;
		assert.deepEqual(alone(params()), ['Ann@customer.example']);
		assert.deepEqual(alone(params({ operation: 'autoReply', options: { replyToAll: true } })), [
			'Ann@customer.example',
		]);
		assert.deepEqual(alone(params({ options: { replyToAll: true } }), mail()), [
			'ann@customer.example',
		]);
	});

	it('Reply To All Participants: a participant that is not one clean address sends nothing', () => {
		fc.assert(
			fc.property(fc.array(arbAddressText, { maxLength: 4 }), (participants) => {
				const r = plan(
					0,
					mail({ case: { number: 7, participants } }),
					params({ options: { replyToAll: true } }),
					context(),
				);
				const bad = participants.some((x) => parseAddresses(x).invalid.length > 0);
				if (bad) assert.equal(skipOf(r).code, 'INVALID_RECIPIENT');
				else {
					const sent = sendOf(r);
					const cc = sent.mail.cc.map((a) => a.address.toLowerCase());
					assert.equal(new Set(cc).size, cc.length, 'no address twice');
					assert.ok(!cc.includes('ann@customer.example'), 'not the person answered');
					assert.ok(!cc.includes('support@example.com'), 'not us');
					for (const a of sent.mail.cc)
						assert.deepEqual(parseAddresses(a.address).mailboxes.length, 1);
				}
			}),
			{ numRuns: 300, seed: 16 },
		);
	});

	it('bulk and the unsubscribe link apply to Send only', () => {
		const options = { bulk: true, optOutBaseUrl: 'https://crm.example.com/unsub' };
		const read = context({ optedOut: new Map([['default', new Set<string>()]]) });
		const send = sendOf(
			plan(0, mail(), params({ operation: 'send', to: 'a@x.example', options }), read),
		);
		assert.equal(send.mail.headers.Precedence, 'bulk');
		assert.match(send.mail.listUnsubscribe?.url ?? '', /^https:\/\/crm\.example\.com\/unsub\?/);
		assert.match(send.mail.text, /Unsubscribe: https:/);
		const reply = sendOf(plan(0, mail(), params({ operation: 'reply', options }), context()));
		assert.equal(reply.mail.headers.Precedence, undefined);
		assert.equal(reply.mail.listUnsubscribe, null);
		assert.doesNotMatch(reply.mail.text, /Unsubscribe/);
	});

	it('bulk mail is not sent to an address on its named opt-out list; other mail is', () => {
		const options = { bulk: true, optOutBaseUrl: 'https://n8n.example/webhook/unsubscribe' };
		const ctx = context({ optedOut: new Map([['default', new Set(['gone@x.example'])]]) });
		const bulk = (o: object, cc = '') =>
			plan(0, mail(), params({ operation: 'send', to: 'Gone@X.example', cc, options: o }), ctx);
		assert.deepEqual(skipOf(bulk(options)), {
			code: 'OPTED_OUT',
			reason: 'gone@x.example opted out',
		});
		// Cc counts too; another list, or mail that is not bulk, does not look at this one.
		assert.equal(
			skipOf(
				plan(
					0,
					mail(),
					params({ operation: 'send', to: 'a@y.example', cc: 'gone@x.example', options }),
					ctx,
				),
			).code,
			'OPTED_OUT',
		);
		sendOf(bulk({ ...options, bulk: false }));
		const news = context({ optedOut: new Map([['news', new Set<string>()]]) });
		sendOf(
			plan(
				0,
				mail(),
				params({
					operation: 'send',
					to: 'gone@x.example',
					options: { ...options, optOutListName: 'News' },
				}),
				news,
			),
		);
		// A list the glue did not read is an error, never a send.
		assert.throws(
			() =>
				plan(0, mail(), params({ operation: 'send', to: 'gone@x.example', options }), context()),
			(e) => isCrmEmailError(e) && e.code === 'STATE_READ_FAILED',
		);
		// The link names the list the mail honours.
		const link = sendOf(
			plan(
				0,
				mail(),
				params({
					operation: 'send',
					to: 'a@y.example',
					options: { ...options, optOutListName: 'news' },
				}),
				news,
			),
		).mail.listUnsubscribe?.url;
		assert.match(new URL(link ?? '').searchParams.get('token') ?? '', /\.news\./);
	});

	it('replies answer the mail in its thread; Reply To Instead wins over Reply-To', () => {
		const m = mail({ replyTo: [{ address: 'team@customer.example', name: 'Team' }] });
		const r = sendOf(
			plan(0, m, params({ options: { toOverride: 'boss@customer.example' } }), context()),
		);
		assert.deepEqual(r.mail.to, [{ address: 'boss@customer.example', name: '' }]);
		assert.equal(r.mail.inReplyTo, '<m1@customer.example>');
		assert.equal(r.mail.subject, 'Re: About Acme');
		const plain = sendOf(plan(0, m, params(), context()));
		assert.deepEqual(plain.envelope.to, ['team@customer.example']);
	});
});

describe('plan: configuration errors are thrown, typed', () => {
	const code = (f: () => unknown) => {
		try {
			f();
		} catch (error) {
			assert.ok(isCrmEmailError(error));
			return error.code;
		}
		assert.fail('no error');
	};

	it('a From the credential does not allow, or no body at all', () => {
		assert.equal(
			code(() => plan(0, mail(), params({ from: 'ceo@evil.example' }), context())),
			'FROM_NOT_ALLOWED',
		);
		assert.equal(
			code(() => plan(0, mail(), params({ bodyHtml: fixed(''), bodyText: fixed('') }), context())),
			'CONFIG_INVALID',
		);
	});

	it('templates are compiled once per execution, literal text never compiled', () => {
		const ctx = context();
		for (let i = 0; i < 5; i++) plan(i, mail(), params(), ctx);
		assert.equal(ctx.templates.size, 1);
		const literal = sendOf(
			plan(
				0,
				mail(),
				params({ subject: { text: '{{#each this}}x{{/each}}', literal: true } }),
				ctx,
			),
		);
		assert.equal(literal.mail.subject, 'Re: {{#each this}}x{{/each}}');
		assert.equal(ctx.templates.size, 2);
	});
});
