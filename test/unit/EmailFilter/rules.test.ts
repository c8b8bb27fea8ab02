import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { globMatch } from '../../../nodes/shared/glob';
import { htmlToText } from '../../../nodes/shared/html';
import {
	compileRules,
	evaluate,
	type Condition,
	type Rule,
} from '../../../nodes/EmailFilter/core/rules';
import { isCrmEmailError } from '../../../nodes/shared/errors';

const mail = {
	account: 'support@imap.example.com',
	subject: 'Re: Invoice 42 overdue',
	from: { address: 'Billing@Vendor.example', name: 'Vendor Billing' },
	to: [
		{ address: 'support@example.com', name: '' },
		{ address: 'sales@example.com', name: 'Sales Team' },
	],
	cc: [],
	replyTo: [{ address: 'noreply@vendor.example', name: '' }],
	text: 'Dear customer,\nplease pay.',
	html: '<p>Dear <b>customer</b>,</p><style>p{color:red}</style><p>please&nbsp;pay &amp; smile</p>',
	headers: { 'list-id': '<news.vendor.example>', precedence: 'bulk' },
};
const opts = { regexTimeoutMs: 100 };

function one(condition: Condition, m: object = mail): boolean {
	const rules = compileRules([{ name: 'r', action: 'skip', conditions: [condition] }]);
	return evaluate(rules, m, opts).skipped;
}

describe('conditions', () => {
	const cases: Array<[string, Condition, boolean]> = [
		[
			'from contains, any case',
			{ field: 'from', operator: 'contains', value: 'billing@vendor' },
			true,
		],
		[
			'from equals ignores case and spaces',
			{ field: 'from', operator: 'equals', value: ' billing@vendor.example ' },
			true,
		],
		[
			'from equals is not contains',
			{ field: 'from', operator: 'equals', value: 'vendor.example' },
			false,
		],
		['from display name', { field: 'from', operator: 'contains', value: 'vendor billing' }, true],
		[
			'to: any address matches',
			{ field: 'to', operator: 'equals', value: 'sales@example.com' },
			true,
		],
		['to: no address', { field: 'to', operator: 'equals', value: 'ceo@example.com' }, false],
		[
			'to: does not contain means no address contains',
			{ field: 'to', operator: 'notContains', value: 'sales@' },
			false,
		],
		[
			'to: does not contain, none has it',
			{ field: 'to', operator: 'notContains', value: 'ceo@' },
			true,
		],
		['empty cc: does not equal holds', { field: 'cc', operator: 'notEquals', value: 'x@y' }, true],
		['empty cc: contains fails', { field: 'cc', operator: 'contains', value: '' }, false],
		['reply-to begins with', { field: 'replyTo', operator: 'beginsWith', value: 'NOREPLY@' }, true],
		['subject begins with', { field: 'subject', operator: 'beginsWith', value: 're:' }, true],
		[
			'subject case-insensitive by default (Espo trap)',
			{ field: 'subject', operator: 'contains', value: 'INVOICE' },
			true,
		],
		[
			'subject case-sensitive on request',
			{ field: 'subject', operator: 'contains', value: 'INVOICE', caseSensitive: true },
			false,
		],
		['subject ends with', { field: 'subject', operator: 'endsWith', value: 'OVERDUE' }, true],
		[
			'subject equals',
			{ field: 'subject', operator: 'equals', value: 're: invoice 42 overdue' },
			true,
		],
		['subject does not equal', { field: 'subject', operator: 'notEquals', value: 'hello' }, true],
		['subject glob', { field: 'subject', operator: 'glob', value: 're:*invoice ??*' }, true],
		['glob is whole-string', { field: 'subject', operator: 'glob', value: 'invoice*' }, false],
		[
			'subject regex',
			{ field: 'subject', operator: 'regex', value: '^(re|aw):\\s*invoice \\d+' },
			true,
		],
		['regex literal with flags', { field: 'subject', operator: 'regex', value: '/INVOICE/' }, true],
		[
			'regex case-sensitive',
			{ field: 'subject', operator: 'regex', value: 'INVOICE', caseSensitive: true },
			false,
		],
		['body plain', { field: 'body', operator: 'contains', value: 'please pay' }, true],
		[
			'body HTML without tags and entities',
			{ field: 'body', operator: 'contains', value: 'pay & smile' },
			true,
		],
		[
			'body: style contents are not text',
			{ field: 'body', operator: 'contains', value: 'color:red' },
			false,
		],
		[
			'header by name, any case',
			{ field: 'header', header: 'List-ID', operator: 'contains', value: 'news.' },
			true,
		],
		[
			'missing header does not contain',
			{ field: 'header', header: 'X-Spam', operator: 'notContains', value: 'yes' },
			true,
		],
		[
			'missing header equals nothing',
			{ field: 'header', header: 'X-Spam', operator: 'equals', value: '' },
			false,
		],
	];
	for (const [name, condition, expected] of cases)
		it(name, () => assert.equal(one(condition), expected));

	it('reads mails from any source: strings for addresses, missing fields', () => {
		assert.equal(
			one({ field: 'from', operator: 'equals', value: 'a@b.c' }, { from: 'A@B.C' }),
			true,
		);
		assert.equal(one({ field: 'body', operator: 'contains', value: 'x' }, {}), false);
		assert.equal(one({ field: 'to', operator: 'contains', value: 'x' }, { to: null }), false);
	});
});

describe('rules', () => {
	const noReply: Rule = {
		name: 'No-reply',
		match: 'any',
		action: 'skip',
		conditions: [
			{ field: 'from', operator: 'glob', value: 'noreply@*' },
			{ field: 'replyTo', operator: 'glob', value: 'noreply@*' },
		],
	};
	const invoices: Rule = {
		name: 'Invoices',
		action: 'folder',
		folder: 'Billing',
		markAsRead: true,
		conditions: [
			{ field: 'subject', operator: 'contains', value: 'invoice' },
			{ field: 'from', operator: 'endsWith', value: '@vendor.example' },
		],
	};

	it('first matching rule decides and says why', () => {
		const d = evaluate(compileRules([invoices, noReply]), mail, opts);
		assert.equal(d.rule, 'Invoices');
		assert.equal(d.skipped, false);
		assert.equal(d.folder, 'Billing');
		assert.equal(d.markAsRead, true);
		assert.deepEqual(d.hits, [
			{
				rule: 'Invoices',
				action: 'folder',
				reasons: [
					{
						field: 'subject',
						operator: 'contains',
						value: 'invoice',
						actual: 're: invoice 42 overdue',
					},
					{
						field: 'from',
						operator: 'endsWith',
						value: '@vendor.example',
						actual: 'billing@vendor.example',
					},
				],
			},
		]);
	});

	it('"any" reports the condition that matched', () => {
		const d = evaluate(compileRules([noReply]), mail, opts);
		assert.equal(d.skipped, true);
		assert.equal(d.hits[0].reasons[0].field, 'replyTo');
	});

	it('"all" needs every condition', () => {
		const d = evaluate(
			compileRules([
				{
					...invoices,
					conditions: [...invoices.conditions, { field: 'cc', operator: 'contains', value: 'x' }],
				},
			]),
			mail,
			opts,
		);
		assert.equal(d.rule, null);
		assert.equal(d.folder, null);
	});

	it('continue lets later rules add their actions', () => {
		const d = evaluate(compileRules([{ ...invoices, continue: true }, noReply]), mail, opts);
		assert.deepEqual(
			d.hits.map((h) => h.rule),
			['Invoices', 'No-reply'],
		);
		assert.equal(d.rule, 'Invoices');
		assert.equal(d.skipped, true);
		assert.equal(d.folder, 'Billing');
	});

	it('account scope limits a rule to one account', () => {
		const scoped = { ...noReply, account: 'SALES@imap.example.com' };
		assert.equal(evaluate(compileRules([scoped]), mail, opts).skipped, false);
		assert.equal(
			evaluate(compileRules([{ ...scoped, account: 'Support@IMAP.example.com' }]), mail, opts)
				.skipped,
			true,
		);
	});

	it('a rule without conditions is a catch-all', () => {
		const d = evaluate(
			compileRules([
				{ name: 'Everything else', action: 'none', skipNotification: true, conditions: [] },
			]),
			mail,
			opts,
		);
		assert.equal(d.rule, 'Everything else');
		assert.equal(d.skipNotification, true);
	});

	it('no rule: kept, untagged', () => {
		const d = evaluate(compileRules([]), mail, opts);
		assert.deepEqual(d, {
			skipped: false,
			rule: null,
			hits: [],
			folder: null,
			markAsRead: false,
			skipNotification: false,
			warnings: [],
		});
	});
});

describe('configuration errors name the rule', () => {
	const cases: Array<[string, unknown, RegExp]> = [
		['not a list', { name: 'x' }, /must be a list/],
		[
			'invalid regex',
			[
				{
					name: 'Bad one',
					conditions: [{ field: 'subject', operator: 'regex', value: '(unclosed' }],
				},
			],
			/Rule "Bad one", condition 1: invalid regular expression \(unclosed/,
		],
		[
			'unknown field',
			[{ name: 'F', conditions: [{ field: 'bcc', operator: 'contains', value: 'x' }] }],
			/Rule "F": field "bcc" is not one of/,
		],
		[
			'unknown operator',
			[{ name: 'O', conditions: [{ field: 'to', operator: 'like', value: 'x' }] }],
			/operator "like"/,
		],
		[
			'header without name',
			[{ name: 'H', conditions: [{ field: 'header', operator: 'contains', value: 'x' }] }],
			/needs the header name/,
		],
		[
			'folder action without folder',
			[{ name: 'M', action: 'folder', conditions: [] }],
			/Rule "M": action "put in folder" needs a folder name/,
		],
		['unknown action', [{ name: 'A', action: 'delete', conditions: [] }], /action "delete"/],
	];
	for (const [name, input, message] of cases)
		it(name, () =>
			assert.throws(
				() => compileRules(input),
				(e: unknown) =>
					isCrmEmailError(e) && e.code === 'CONFIG_INVALID' && message.test(e.message),
			),
		);
});

describe('hostile input', () => {
	it('a catastrophic regex on a crafted 1 MB body is stopped, the mail kept with a warning', () => {
		const body = 'a'.repeat(1_000_000) + '!';
		const rules = compileRules([
			{
				name: 'Evil',
				action: 'skip',
				conditions: [{ field: 'body', operator: 'regex', value: '^(a+)+$' }],
			},
		]);
		const started = Date.now();
		const d = evaluate(rules, { text: body }, { regexTimeoutMs: 50 });
		// Generous bound: without the limit this runs for longer than the universe exists.
		assert.ok(Date.now() - started < 5_000);
		assert.equal(d.skipped, false);
		assert.match(
			d.warnings[0],
			/Rule "Evil": regex \^\(a\+\)\+\$ on body stopped at the mail's regex time budget of 50 ms/,
		);
	});

	it('twenty slow regexes share one time budget per mail, not one limit each', () => {
		const body = 'a'.repeat(1_000_000) + '!';
		const rules = compileRules(
			Array.from({ length: 20 }, (_, k) => ({
				name: `Evil ${k + 1}`,
				continue: true,
				conditions: [{ field: 'body', operator: 'regex', value: '^(a+)+$' }],
			})),
		);
		const d = evaluate(rules, { text: body }, { regexTimeoutMs: 30 });
		assert.equal(d.rule, null);
		assert.equal(d.warnings.length, 20);
		// The first test uses up the budget; the other 19 are not run at all.
		assert.match(
			d.warnings[0],
			/Rule "Evil 1": .* stopped at the mail's regex time budget of 30 ms/,
		);
		for (const w of d.warnings.slice(1))
			assert.match(w, /not run, the mail's regex time budget of 30 ms is used up/);
	});

	it('glob with many stars on a 1 MB body stays linear-ish', () => {
		const text = 'ab'.repeat(500_000);
		assert.equal(globMatch('*a*b*a*b*c*', text), false);
		assert.equal(globMatch('*a*b*a*b*', text), true);
	});

	it('HTML stripping is linear on unclosed script tags and stray brackets', () => {
		const html = '<script'.repeat(100_000) + '<'.repeat(100_000) + 'x';
		assert.equal(typeof htmlToText(html), 'string');
		assert.equal(htmlToText('a<!-- hidden -->b<script>x()</script>c'), 'a b c');
		assert.equal(htmlToText('&#65;&#x42;&lt;&unknown;'), 'AB<&unknown;');
	});
});

describe('globMatch', () => {
	const cases: Array<[string, string, boolean]> = [
		['*', '', true],
		['', '', true],
		['a?c', 'abc', true],
		['a?c', 'ac', false],
		['*@example.com', 'x@example.com', true],
		['*@example.com', 'x@example.com.evil', false],
		['a*b*c', 'aXXbYYc', true],
		['a*b*c', 'aXXcYYb', false],
	];
	for (const [p, t, expected] of cases)
		it(`${p} ~ ${t}`, () => assert.equal(globMatch(p, t), expected));
});
