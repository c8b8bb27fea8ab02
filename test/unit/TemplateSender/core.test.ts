import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	compose,
	replySubject,
	withoutOtherCaseTags,
	type IncomingMail,
} from '../../../nodes/TemplateSender/core/compose';
import { loopGuard } from '../../../nodes/TemplateSender/core/loopGuard';
import { optOutUrl, verifyOptOutToken } from '../../../nodes/TemplateSender/core/optOut';
import {
	pruneState,
	recentReplies,
	recordReply,
	senderState,
} from '../../../nodes/TemplateSender/core/state';
import { compileTemplate } from '../../../nodes/TemplateSender/core/template';
import { isCrmEmailError } from '../../../nodes/shared/errors';

describe('loop guard', () => {
	const own = new Set(['support@example.com']);
	const cases: Array<[string, string | null, Record<string, string>, string | null]> = [
		['a person writing', 'ann@customer.example', {}, null],
		['Auto-Submitted: no is a person', 'ann@customer.example', { 'auto-submitted': 'no' }, null],
		[
			'Auto-Submitted: auto-replied',
			'ann@customer.example',
			{ 'auto-submitted': 'auto-replied' },
			'Auto-Submitted',
		],
		[
			'Auto-Submitted: auto-generated; with comment',
			'ann@customer.example',
			{ 'auto-submitted': 'auto-generated (cron)' },
			'Auto-Submitted',
		],
		['X-Autoreply', 'ann@customer.example', { 'x-autoreply': 'yes' }, 'X-Autoreply'],
		['X-Autorespond', 'ann@customer.example', { 'x-autorespond': '1' }, 'X-Autorespond'],
		['Precedence: bulk', 'ann@customer.example', { precedence: 'bulk' }, 'Precedence'],
		['Precedence: list', 'ann@customer.example', { precedence: 'List' }, 'Precedence'],
		['Precedence: junk', 'ann@customer.example', { precedence: 'junk' }, 'Precedence'],
		['List-Id', 'ann@customer.example', { 'list-id': '<users.lists.example>' }, 'List-Id'],
		[
			'List-Unsubscribe',
			'ann@customer.example',
			{ 'list-unsubscribe': '<mailto:u@x>' },
			'List-Unsubscribe',
		],
		[
			'Exchange: DR, OOF, AutoReply (contains)',
			'ann@customer.example',
			{ 'x-auto-response-suppress': 'DR, OOF, AutoReply' },
			'X-Auto-Response-Suppress',
		],
		[
			'X-Auto-Response-Suppress: All',
			'ann@customer.example',
			{ 'x-auto-response-suppress': 'All' },
			'X-Auto-Response-Suppress',
		],
		[
			'X-Auto-Response-Suppress: DR only is fine',
			'ann@customer.example',
			{ 'x-auto-response-suppress': 'DR, RN' },
			null,
		],
		[
			'bounce: multipart/report',
			'someone@mx.example',
			{ 'content-type': 'multipart/report; report-type=delivery-status' },
			'multipart/report',
		],
		['bounce: MAILER-DAEMON', 'MAILER-DAEMON@mx.example', {}, 'no-reply or system'],
		['bounce: postmaster', 'postmaster@mx.example', {}, 'no-reply or system'],
		['bounce: empty Return-Path', 'x@mx.example', { 'return-path': '<>' }, 'bounce'],
		['no-reply sender', 'no-reply@shop.example', {}, 'no-reply'],
		['noreply+tag sender', 'noreply+abc@shop.example', {}, 'no-reply'],
		['do-not-reply sender', 'do-not-reply@bank.example', {}, 'no-reply'],
		['our own address', 'Support@Example.com', {}, 'our own address'],
		['Reply-To is our own address', 'ann@customer.example', {}, 'Reply-To is our own'],
		[
			'our own loop marker',
			'ann@customer.example',
			{ 'x-crm-email-loop': 'auto-reply' },
			'loop marker',
		],
		['no sender', null, {}, 'no sender'],
	];
	for (const [name, from, headers, reason] of cases)
		it(name, () => {
			const replyTo = name.startsWith('Reply-To')
				? ['x@elsewhere.example', 'SUPPORT@example.com']
				: [];
			const v = loopGuard({ from, replyTo, headers, own });
			if (reason === null) assert.deepEqual(v, { reply: true, reason: null });
			else {
				assert.equal(v.reply, false);
				assert.match(v.reason ?? '', new RegExp(reason.replace(/[-/]/g, '\\$&'), 'i'));
			}
		});
});

describe('templates', () => {
	const ctx = {
		subject: 'Hello {{constructor.constructor}} {Account.name} <b>',
		Account: { name: 'Acme & Sons <Ltd>' },
		Contact: { name: 'Ann', account: { name: 'Acme & Sons <Ltd>' } },
		Person: { firstName: 'Ann' },
		Case: { number: 42 },
		today: '2026-11-23',
	};

	it('renders EspoCRM placeholders, one link level, and Handlebars', () => {
		const t = compileTemplate(
			'Dear {Person.firstName}, {Contact.account.name} case {Case.number} on {today}. {{Account.name}}',
			{ where: 'Text Body', html: false, unknown: 'keep' },
		);
		assert.equal(
			t.render(ctx),
			'Dear Ann, Acme & Sons <Ltd> case 42 on 2026-11-23. Acme & Sons <Ltd>',
		);
	});

	it('escapes values in HTML, placeholders and Handlebars alike', () => {
		const t = compileTemplate('<p>{Account.name} / {{Account.name}}</p>', {
			where: 'HTML Body',
			html: true,
			unknown: 'keep',
		});
		assert.equal(t.render(ctx), '<p>Acme &amp; Sons &lt;Ltd&gt; / Acme &amp; Sons &lt;Ltd&gt;</p>');
	});

	it('text from the mail is data, never template code', () => {
		const t = compileTemplate('Re: {{subject}}', {
			where: 'Subject',
			html: false,
			unknown: 'keep',
		});
		assert.equal(t.render(ctx), 'Re: Hello {{constructor.constructor}} {Account.name} <b>');
	});

	it('no prototype access', () => {
		const t = compileTemplate(
			'[{{constructor.name}}][{{__proto__}}][{Account.constructor}][{{lookup this "constructor"}}]',
			{ where: 'Subject', html: false, unknown: 'keep' },
		);
		assert.equal(t.render(ctx), '[][][{Account.constructor}][]');
	});

	it('unknown placeholders stay, or fail naming the parameter', () => {
		assert.equal(
			compileTemplate('{Lead.name}!', { where: 'Subject', html: false, unknown: 'keep' }).render(
				ctx,
			),
			'{Lead.name}!',
		);
		assert.throws(
			() =>
				compileTemplate('{Lead.name}!', { where: 'Subject', html: false, unknown: 'fail' }).render(
					ctx,
				),
			(e: unknown) =>
				isCrmEmailError(e) && /Subject: the placeholder \{Lead.name\} has no value/.test(e.message),
		);
	});

	it('a template syntax error names the parameter', () => {
		assert.throws(
			() =>
				compileTemplate('{{#if x}}never closed', {
					where: 'HTML Body',
					html: true,
					unknown: 'keep',
				}),
			(e: unknown) =>
				isCrmEmailError(e) &&
				e.code === 'CONFIG_INVALID' &&
				/^HTML Body: the template is invalid/.test(e.message),
		);
	});

	it('CSS and JSON braces are not placeholders', () => {
		const t = compileTemplate('p {color: red} {"a": 1} {Account.name}', {
			where: 'HTML Body',
			html: true,
			unknown: 'keep',
		});
		assert.equal(t.render(ctx), 'p {color: red} {"a": 1} Acme &amp; Sons &lt;Ltd&gt;');
	});
});

describe('compose', () => {
	const mail: IncomingMail = {
		messageId: '<m3@c.example>',
		references: ['<m1@c.example>', '<m2@c.example>'],
		subject: 'RE: Re: Printer broken',
		from: { address: 'ann@c.example', name: 'Ann' },
		replyTo: [],
		date: '2026-11-20T10:00:00.000Z',
		text: 'It is broken.\nHelp!',
	};
	const base = {
		mail,
		subject: '',
		html: '<p>On it.</p>',
		text: 'On it.',
		caseNumber: 42,
		caseTag: '[#{number}]',
		quoteOriginal: false,
		signature: null,
	};

	it('Re: once and the case tag added once', () => {
		assert.equal(replySubject('Re: RE: AW: hi', null), 'Re: hi');
		assert.equal(replySubject('[#42] Re: hi', '[#42]'), 'Re: [#42] Re: hi');
		// A new case opened by a mail quoting another case's tag names only its own case.
		assert.equal(
			withoutOtherCaseTags('[#4] Re: [#1] Re: hi [#4]', '[#{number}]', '[#4]'),
			'[#4] Re: Re: hi [#4]',
		);
		assert.equal(
			withoutOtherCaseTags('(Case 7) x (Case 8)', '(Case {number})', '(Case 8)'),
			'x (Case 8)',
		);
		const c = compose({ ...base, mode: 'reply' });
		assert.equal(c.subject, '[#42] Re: Printer broken');
		assert.equal(
			compose({ ...base, mode: 'reply', mail: { ...mail, subject: 'Re: [#42] Printer broken' } })
				.subject,
			'Re: [#42] Printer broken',
		);
		assert.equal(
			compose({
				...base,
				mode: 'autoReply',
				mail: { ...mail, subject: 'Re: [#1] Re: Printer broken' },
			}).subject,
			'[#42] Re: Printer broken',
		);
	});

	it('threads: In-Reply-To and the full References chain', () => {
		const c = compose({ ...base, mode: 'reply' });
		assert.equal(c.inReplyTo, '<m3@c.example>');
		assert.deepEqual(c.references, ['<m1@c.example>', '<m2@c.example>', '<m3@c.example>']);
		assert.deepEqual(c.headers, {});
	});

	it('auto-replies are marked (RFC 3834) and carry our loop marker', () => {
		assert.deepEqual(compose({ ...base, mode: 'autoReply' }).headers, {
			'Auto-Submitted': 'auto-replied',
			'X-Auto-Response-Suppress': 'All',
			Precedence: 'auto_reply',
			'x-crm-email-loop': 'auto-reply',
		});
	});

	it('quotes the original (escaped in HTML) with the signature above or below', () => {
		const sig = { html: '<p>-- Support</p>', text: 'Support', placement: 'aboveQuote' as const };
		const c = compose({
			...base,
			mode: 'reply',
			quoteOriginal: true,
			signature: sig,
			mail: { ...mail, text: '<script>x</script>' },
		});
		assert.ok(c.html.indexOf('-- Support') < c.html.indexOf('blockquote'));
		assert.ok(c.html.includes('&#60;script&#62;x&#60;/script&#62;'));
		assert.match(
			c.text,
			/On it\.\n\n-- \nSupport\n\nOn Fri, 20 Nov 2026 10:00:00 GMT, Ann <ann@c\.example> wrote:\n> <script>x<\/script>/,
		);
		const below = compose({
			...base,
			mode: 'reply',
			quoteOriginal: true,
			signature: { ...sig, placement: 'below' },
		});
		assert.ok(below.text.indexOf('wrote:') < below.text.indexOf('Support'));
	});

	it('send mode: no threading headers, tag on the subject when a case is known', () => {
		const c = compose({ ...base, mode: 'send', subject: 'Your case' });
		assert.equal(c.subject, '[#42] Your case');
		assert.equal(c.inReplyTo, null);
		assert.deepEqual(c.references, []);
	});
});

describe('opt-out links and sender state', () => {
	it('tokens are per address and cannot be forged', () => {
		const key = Buffer.from('k');
		const now = Date.parse('2026-11-20T10:00:00Z');
		const url = new URL(
			optOutUrl('https://crm.example.com/unsub?list=7', key, 'Ann@C.example', 'news', now),
		);
		assert.equal(url.searchParams.get('list'), '7');
		assert.equal(url.searchParams.get('email'), 'ann@c.example');
		const token = url.searchParams.get('token') ?? '';
		assert.equal(verifyOptOutToken(key, 'ann@c.example', token, now).ok, true);
		assert.equal(verifyOptOutToken(key, 'bob@c.example', token, now).ok, false);
	});

	it('rate window forgets old replies', () => {
		const state = senderState({});
		const limit = { max: 2, windowMs: 1000 };
		recordReply(state, 'a@x', 0);
		recordReply(state, 'a@x', 500);
		assert.equal(recentReplies(state, 'a@x', limit, 900), 2);
		assert.equal(recentReplies(state, 'a@x', limit, 1200), 1);
		pruneState(state, limit, 5000);
		assert.deepEqual(state.replies, {});
	});
});
