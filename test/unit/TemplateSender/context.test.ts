/**
 * The Template Sender's view of an item (core/context.ts): the mail it answers, read from fields
 * of any type, and the data a template sees, with EspoCRM's names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { asAddress, incoming, templateContext } from '../../../nodes/TemplateSender/core/context';
import { compileTemplate } from '../../../nodes/TemplateSender/core/template';

describe('asAddress', () => {
	it('one clean address is parsed; anything else is kept as given, to be refused later', () => {
		assert.deepEqual(asAddress('Ann Smith <ann@x.example>'), {
			address: 'ann@x.example',
			name: 'Ann Smith',
		});
		// Two addresses are not one: kept whole, so sending to it fails instead of picking one.
		assert.deepEqual(asAddress(' a@x.example b@y.example '), {
			address: 'a@x.example b@y.example',
			name: '',
		});
		assert.deepEqual(asAddress({ address: 'a@x.example', name: 7 }), {
			address: 'a@x.example',
			name: '',
		});
		for (const v of ['', '  ', null, undefined, 7, {}, { address: 1 }, []])
			assert.equal(asAddress(v), null, JSON.stringify(v));
	});
});

describe('incoming', () => {
	it('reads fields of any type without throwing; wrong types become empty', () => {
		fc.assert(
			fc.property(
				fc.dictionary(
					fc.constantFrom('messageId', 'references', 'subject', 'from', 'replyTo', 'date', 'text'),
					fc.anything(),
				),
				(json) => {
					const m = incoming(json);
					assert.ok(m.messageId === null || typeof m.messageId === 'string');
					assert.ok(m.references.every((r) => typeof r === 'string'));
					assert.equal(typeof m.subject, 'string');
					assert.ok(m.replyTo.every((a) => typeof a.address === 'string'));
				},
			),
			{ numRuns: 300, seed: 15 },
		);
	});

	it('takes Reply-To entries in order, dropping what is no address', () => {
		const m = incoming({
			replyTo: [null, 'Team <team@x.example>', { address: 'b@x.example', name: 'B' }],
			references: ['<a@x>', 3, '<b@x>'],
		});
		assert.deepEqual(
			m.replyTo.map((a) => a.address),
			['team@x.example', 'b@x.example'],
		);
		assert.deepEqual(m.references, ['<a@x>', '<b@x>']);
	});

	it('quotes what the sender wrote: the reply, without the thread quoted below it', () => {
		const text =
			'Still broken, see attached.\n\nOn Mon, 2 Mar 2026 at 10:00, Support <s@x.example> wrote:\n> Did a restart help?\n';
		assert.equal(incoming({ text }).text, 'Still broken, see attached.');
		// The trigger's reply wins; an HTML-only mail is quoted too.
		assert.equal(incoming({ text, reply: { text: 'Given' } }).text, 'Given');
		assert.equal(incoming({ html: '<p>Only <b>HTML</b></p>' }).text, 'Only HTML');
		assert.equal(incoming({}).text, null);
	});
});

describe('templateContext', () => {
	const now = new Date(2026, 0, 5, 9, 7);
	const recipient = { address: 'ann@x.example', name: 'Ann Maria Smith' };
	const sender = { address: 'support@example.com', name: 'Support' };

	it("maps EspoCRM's names: Person from the recipient, overridden by the contact; dates", () => {
		const c = templateContext(
			{
				contact: { firstName: 'Annie' },
				account: { name: 'Acme' },
				subject: 'Hi',
				from: 'Bob <b@y.example>',
			},
			recipient,
			sender,
			null,
			false,
			now,
		);
		assert.deepEqual(c.Person, {
			name: 'Ann Maria Smith',
			firstName: 'Annie',
			lastName: 'Maria Smith',
			emailAddress: 'ann@x.example',
		});
		assert.deepEqual(c.Contact, { firstName: 'Annie', account: { name: 'Acme' } });
		assert.deepEqual(c.User, { name: 'Support', emailAddress: 'support@example.com' });
		assert.deepEqual(c.Email, {
			subject: 'Hi',
			fromAddress: 'b@y.example',
			fromName: 'Bob',
			body: undefined,
			dateSent: undefined,
		});
		assert.equal(c.today, '2026-01-05');
		assert.equal(c.now, '2026-01-05 09:07');
		assert.equal(c.currentYear, '2026');
		assert.equal(c.optOutLink, undefined);
	});

	it('a one-word name is the last name; the opt-out link is HTML in HTML bodies only', () => {
		const url = 'https://crm.example.com/u?email=a&token=t"x';
		const single = { address: 'x@y.example', name: 'Cher' };
		const html = templateContext({}, single, sender, url, true, now);
		assert.deepEqual(
			[
				(html.Person as { firstName: string }).firstName,
				(html.Person as { lastName: string }).lastName,
			],
			['', 'Cher'],
		);
		const t = compileTemplate('{optOutLink}', { where: 'HTML Body', html: true, unknown: 'keep' });
		assert.equal(
			t.render(html),
			'<a href="https://crm.example.com/u?email=a&#38;token=t&#34;x">Unsubscribe</a>',
		);
		const text = templateContext({}, single, sender, url, false, now);
		assert.equal(text.optOutLink, url);
	});
});
