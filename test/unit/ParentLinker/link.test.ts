import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { linkMail, wanted, type LinkOptions } from '../../../nodes/ParentLinker/core/link';
import { ObjectThreadMemory } from '../../../nodes/ParentLinker/core/memory';
import { companyFromDomain, splitName } from '../../../nodes/ParentLinker/core/person';
import {
	DEFAULT_MAPPING,
	normalizeAddress,
	indexRecords,
	parseTypeOrder,
} from '../../../nodes/ParentLinker/core/records';
import { generateMessageId, parseMessageId, threadKey } from '../../../nodes/shared/threadId';

const rows = [
	{ type: 'Account', id: 'acc1', name: 'Acme Ltd', emailAddress: 'office@acme.example' },
	{
		type: 'Contact',
		id: 'c1',
		name: 'Ann Smith',
		accountId: 'acc1',
		emailAddressData: [
			{ emailAddress: 'Ann@Acme.example' },
			{ emailAddress: 'ann.private@mail.example' },
		],
	},
	{ type: 'Contact', id: 'c2', name: 'Bob Solo', emails: ['bob@solo.example'] },
	{ type: 'lead', id: 'l1', name: 'Lea Lead', email: 'lea@prospect.example; office@acme.example' },
	{
		type: 'Leads',
		id: 'l2',
		name: 'Old Lead',
		email: 'converted@acme.example',
		status: 'Converted',
		createdAccountId: 'acc1',
		createdContactId: 'c1',
	},
	{ type: 'Case', id: 'case7', name: 'Printer broken', accountId: 'acc1' },
	{ type: 'Contact', id: 'c3', name: 'Ann Duplicate', emailAddress: 'ann@acme.example' },
	{ type: 'Pet', id: 'p1', emailAddress: 'dog@example.org' },
	{ type: 'Contact', emailAddress: 'noid@example.org' },
];
const { index, skipped } = indexRecords(rows, DEFAULT_MAPPING);
const key = threadKey({ secret: 's3cret' });

function opts(over: Partial<LinkOptions> = {}): LinkOptions {
	return {
		mode: 'b2b',
		typeOrder: ['Contact', 'Account', 'Lead'],
		parseOwnId: (id) => parseMessageId(id, key),
		memory: null,
		ignore: new Set(['support@example.com']),
		...over,
	};
}

const from = (address: string, name = '') => ({ from: { address, name } });

describe('records', () => {
	it('reads types, ids and addresses in every shape, and says what it skipped', () => {
		assert.equal(index.size, 7);
		assert.deepEqual(index.get('Contact', 'c1')?.emails, [
			'ann@acme.example',
			'ann.private@mail.example',
		]);
		assert.deepEqual(index.get('Lead', 'l1')?.emails, [
			'lea@prospect.example',
			'office@acme.example',
		]);
		assert.deepEqual(
			skipped.map((s) => s.index),
			[7, 8],
		);
		assert.match(skipped[1].reason, /id/);
	});

	it('normalizes addresses: case, display names, spaces, mailto', () => {
		assert.equal(normalizeAddress('  "Ann" <Ann@Acme.Example> '), 'ann@acme.example');
		assert.equal(normalizeAddress('mailto:X@Y.org'), 'x@y.org');
		assert.equal(normalizeAddress('not an address'), null);
	});

	it('type order is checked', () => {
		assert.deepEqual(parseTypeOrder('lead, contact'), ['Lead', 'Contact']);
		assert.throws(() => parseTypeOrder('Case'), /found only through the thread/);
		assert.throws(() => parseTypeOrder(''), /at least one/);
	});
});

describe('linkMail by address', () => {
	const cases: Array<
		[string, object, Partial<LinkOptions>, { type: string; id: string; via: string } | null]
	> = [
		[
			'B2B: a Contact with an Account links to the Account',
			from('ann@acme.example'),
			{},
			{ type: 'Account', id: 'acc1', via: 'from' },
		],
		[
			'B2C: the Contact itself',
			from('ann@acme.example'),
			{ mode: 'b2c' },
			{ type: 'Contact', id: 'c1', via: 'from' },
		],
		[
			'B2B: a Contact without Account',
			from('bob@solo.example'),
			{},
			{ type: 'Contact', id: 'c2', via: 'from' },
		],
		[
			'case and display name do not matter',
			{ from: { address: ' ANN@acme.EXAMPLE ', name: 'Someone' } },
			{ mode: 'b2c' },
			{ type: 'Contact', id: 'c1', via: 'from' },
		],
		[
			'Contact before Account before Lead',
			from('office@acme.example'),
			{},
			{ type: 'Account', id: 'acc1', via: 'from' },
		],
		[
			'type order: Lead first',
			from('office@acme.example'),
			{ typeOrder: ['Lead', 'Account'] },
			{ type: 'Lead', id: 'l1', via: 'from' },
		],
		['a Lead', from('lea@prospect.example'), {}, { type: 'Lead', id: 'l1', via: 'from' }],
		[
			'converted Lead, B2B: its Account',
			from('converted@acme.example'),
			{},
			{ type: 'Account', id: 'acc1', via: 'from' },
		],
		[
			'converted Lead, B2C: its Contact',
			from('converted@acme.example'),
			{ mode: 'b2c' },
			{ type: 'Contact', id: 'c1', via: 'from' },
		],
		[
			'Reply-To when From is unknown',
			{ ...from('x@unknown.example'), replyTo: [{ address: 'bob@solo.example', name: '' }] },
			{},
			{ type: 'Contact', id: 'c2', via: 'replyTo' },
		],
		[
			'To after Reply-To, our own address ignored',
			{
				...from('x@unknown.example'),
				to: [{ address: 'support@example.com' }, { address: 'lea@prospect.example' }],
			},
			{},
			{ type: 'Lead', id: 'l1', via: 'to' },
		],
		[
			'Cc last',
			{ ...from('x@unknown.example'), cc: ['Bob <bob@solo.example>'] },
			{},
			{ type: 'Contact', id: 'c2', via: 'cc' },
		],
		[
			'the first of two Contacts with one address wins (input order)',
			from('ann@acme.example'),
			{ mode: 'b2c' },
			{ type: 'Contact', id: 'c1', via: 'from' },
		],
		['nobody', from('x@unknown.example'), {}, null],
	];
	for (const [name, mail, o, expected] of cases)
		it(name, () => {
			const r = linkMail(mail, index, opts(o));
			assert.deepEqual(
				r.parent && { type: r.parent.type, id: r.parent.id, via: r.parent.via },
				expected,
			);
		});

	it('indexing only what the mails can reach gives the same links', () => {
		const mails = [
			from('ann@acme.example'),
			from('converted@acme.example'),
			from('x@unknown.example'),
		];
		const small = indexRecords(rows, DEFAULT_MAPPING, wanted(mails, opts())).index;
		for (const mode of ['b2b', 'b2c'] as const)
			for (const m of mails)
				assert.deepEqual(linkMail(m, small, opts({ mode })), linkMail(m, index, opts({ mode })));
		// Ann's two Contacts, the converted Lead, and the Account they point to; nothing else.
		assert.equal(small.size, 4);
	});

	it('fills account and contact next to the parent', () => {
		const r = linkMail(from('ann@acme.example'), index, opts());
		assert.deepEqual(r.account, { type: 'Account', id: 'acc1', name: 'Acme Ltd' });
		assert.deepEqual(r.contact, { type: 'Contact', id: 'c1', name: 'Ann Smith' });
		assert.equal(r.parent?.address, 'ann@acme.example');
	});
});

describe('linkMail through the thread', () => {
	const ours = generateMessageId(
		{ parentType: 'Case', parentId: 'case7', caseNumber: 7 },
		{ key, domain: 'example.com' },
	);

	it('our signed Message-ID in References wins over From, and brings the case number', () => {
		const r = linkMail(
			{ ...from('bob@solo.example'), references: ['<other@x>', ours] },
			index,
			opts(),
		);
		assert.deepEqual(
			r.parent && { type: r.parent.type, id: r.parent.id, via: r.parent.via, name: r.parent.name },
			{
				type: 'Case',
				id: 'case7',
				via: 'thread',
				name: 'Printer broken',
			},
		);
		assert.equal(r.caseNumber, 7);
		assert.equal(r.account?.id, 'acc1');
	});

	it('In-Reply-To alone is enough, with or without angle brackets', () => {
		const r = linkMail({ inReplyTo: ours.slice(1, -1) }, index, opts());
		assert.equal(r.parent?.id, 'case7');
	});

	it('a forged or damaged Message-ID is not trusted', () => {
		const forged = ours.replace('case7', 'case8');
		assert.equal(linkMail({ references: [forged] }, index, opts()).parent, null);
		const otherKey = generateMessageId(
			{ parentType: 'Case', parentId: 'case8', caseNumber: 8 },
			{ key: threadKey({ secret: 'other' }), domain: 'evil.example' },
		);
		assert.equal(linkMail({ references: [otherKey] }, index, opts()).parent, null);
	});

	it('verification off: our ids are ignored', () => {
		assert.equal(linkMail({ references: [ours] }, index, opts({ parseOwnId: null })).parent, null);
	});

	it('mails linked earlier are remembered, bounded', () => {
		const data: Record<string, string> = {};
		const memory = new ObjectThreadMemory(data, 2);
		memory.set('<a@x>', { parentType: 'Contact', parentId: 'c2', caseNumber: null });
		memory.set('<b@x>', { parentType: 'Opportunity', parentId: 'o|1', caseNumber: 3 });
		memory.set('<c@x>', { parentType: 'Lead', parentId: 'l1', caseNumber: null });
		memory.trim();
		assert.deepEqual(Object.keys(data), ['<b@x>', '<c@x>']);
		const r = linkMail(
			{ inReplyTo: '<b@x>', ...from('ann@acme.example') },
			index,
			opts({ memory }),
		);
		assert.deepEqual(r.parent && [r.parent.type, r.parent.id, r.caseNumber], [
			'Opportunity',
			'o|1',
			3,
		]);
		assert.equal(linkMail({ inReplyTo: '<a@x>' }, index, opts({ memory })).parent, null);
	});
});

describe('thread Message-IDs', () => {
	it('round-trip any id, and are valid Message-IDs', () => {
		for (const ref of [
			{ parentType: 'Contact', parentId: '5f1a-b2', caseNumber: null },
			{ parentType: 'Account', parentId: 'with space/slash@at', caseNumber: 12 },
			{ parentType: null, parentId: null, caseNumber: 99 },
			{ parentType: 'CustomThing', parentId: '-', caseNumber: null },
		]) {
			const id = generateMessageId(ref, { key, domain: 'mail.example.com' });
			assert.match(id, /^<[A-Za-z0-9.~_-]+@mail\.example\.com>$/);
			assert.deepEqual(parseMessageId(id, key), ref);
		}
	});
});

describe('unknown sender', () => {
	it('gives fields to create a Contact or Lead', () => {
		const r = linkMail(
			{ from: { address: 'John.Doe@Big-Corp.co.uk', name: 'Doe, John' } },
			index,
			opts(),
		);
		assert.deepEqual(r.unknownSender, {
			address: 'john.doe@big-corp.co.uk',
			name: 'Doe, John',
			firstName: 'John',
			lastName: 'Doe',
			domain: 'big-corp.co.uk',
			company: 'Big Corp',
			publicProvider: false,
		});
	});

	const names: Array<[string, string, string, string]> = [
		['Ann Marie Smith', 'x@y.z', 'Ann Marie', 'Smith'],
		['Cher', 'x@y.z', '', 'Cher'],
		['', 'john.doe+tag@y.z', 'John', 'Doe'],
		['"x@y.z"', 'info@y.z', '', 'Info'],
	];
	for (const [display, address, first, last] of names)
		it(`splits "${display}" <${address}>`, () =>
			assert.deepEqual(splitName(display, address), { firstName: first, lastName: last }));

	it('no company for public mailbox providers', () => {
		assert.equal(companyFromDomain('gmail.com'), null);
		assert.equal(companyFromDomain('mail.ru'), null);
		assert.equal(companyFromDomain('support.acme.com'), 'Acme');
	});
});
