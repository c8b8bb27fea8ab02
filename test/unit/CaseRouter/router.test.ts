import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	eligible,
	leastBusy,
	parseMembers,
	roundRobin,
} from '../../../nodes/CaseRouter/core/assign';
import {
	caseName,
	ignoreReason,
	routeMail,
	updateCase,
	type RouterConfig,
} from '../../../nodes/CaseRouter/core/router';
import { ObjectCaseStore } from '../../../nodes/CaseRouter/core/store';
import { generateMessageId, parseMessageId, threadKey } from '../../../nodes/shared/threadId';

const key = threadKey({ secret: 'k' });
const TAG = /\[#(\d+)\]/;

function config(over: Partial<RouterConfig> = {}): RouterConfig {
	return {
		tagPattern: TAG,
		unknownTag: 'newCase',
		joinPolicy: 'participants',
		reopenOnReply: true,
		closed: new Set(['closed', 'rejected', 'duplicate']),
		own: new Set(['support@example.com']),
		team: 'Support',
		strategy: { kind: 'roundRobin', members: [{ id: 'u1' }, { id: 'u2' }, { id: 'u3' }] },
		openCounts: null,
		parseOwnId: (id) => parseMessageId(id, key),
		now: 1_000,
		...over,
	};
}

const mail = (over: Record<string, unknown> = {}) => ({
	messageId: `<${Math.random().toString(36).slice(2)}@customer.example>`,
	subject: 'Printer broken',
	text: 'It does not print.',
	from: { address: 'ann@customer.example', name: 'Ann' },
	headers: {},
	...over,
});

describe('threading', () => {
	it('first mail opens a case, a reply by References chain joins it', async () => {
		const store = new ObjectCaseStore({});
		const first = mail({ messageId: '<m1@c>' });
		const a = await routeMail(first, store, config());
		assert.equal(a.route, 'newCase');
		assert.deepEqual(
			[
				a.case?.number,
				a.case?.name,
				a.case?.status,
				a.case?.assignee,
				a.case?.team,
				a.case?.description,
			],
			[1, 'Printer broken', 'Assigned', 'u1', 'Support', 'It does not print.'],
		);
		const b = await routeMail(
			mail({ references: ['<m1@c>', '<other@c>'], subject: 'Re: Printer broken' }),
			store,
			config(),
		);
		assert.equal(b.route, 'followUp');
		assert.equal(b.case?.number, 1);
		assert.match(b.reason, /thread/);
	});

	it('In-Reply-To only', async () => {
		const store = new ObjectCaseStore({});
		await routeMail(mail({ messageId: '<x1@c>' }), store, config());
		assert.equal((await routeMail(mail({ inReplyTo: 'x1@c' }), store, config())).case?.number, 1);
	});

	it('subject tag only (a reply with a stripped thread), of a known case', async () => {
		const store = new ObjectCaseStore({});
		await routeMail(mail(), store, config());
		const r = await routeMail(mail({ subject: 'Printer broken [#1]' }), store, config());
		assert.deepEqual([r.route, r.case?.number], ['followUp', 1]);
	});

	it('a forwarded mail with our tag joins the case; a reply whose "Re:" was stripped still threads', async () => {
		const store = new ObjectCaseStore({});
		await routeMail(mail({ messageId: '<root@c>', account: { id: 'a1' } }), store, config());
		assert.equal(
			(
				await routeMail(
					mail({
						subject: 'Fwd: [#1] Printer broken',
						from: { address: 'boss@customer.example' },
						account: { id: 'a1' },
					}),
					store,
					config(),
				)
			).case?.number,
			1,
		);
		assert.equal(
			(
				await routeMail(
					mail({ subject: 'Printer broken', references: ['<root@c>'] }),
					store,
					config(),
				)
			).route,
			'followUp',
		);
	});

	it("our signed Message-ID finds the case with no stored state; a forged one doesn't", async () => {
		const store = new ObjectCaseStore({});
		const ours = generateMessageId(
			{ parentType: 'Case', parentId: 'case-7', caseNumber: 7 },
			{ key, domain: 'example.com' },
		);
		const r = await routeMail(mail({ references: [ours] }), store, config());
		assert.deepEqual([r.route, r.case?.number], ['followUp', 7]);
		const forged = ours.replace('c7', 'c8');
		assert.equal(
			(await routeMail(mail({ references: [forged] }), store, config())).route,
			'newCase',
		);
	});

	it('the Parent Linker found a Case', async () => {
		const store = new ObjectCaseStore({});
		await routeMail(mail(), store, config());
		const r = await routeMail(
			mail({ parent: { type: 'Case', id: 'case-1', caseNumber: 1 } }),
			store,
			config(),
		);
		assert.equal(r.route, 'followUp');
	});

	it('two mails of one new thread in the same batch make one case', async () => {
		const store = new ObjectCaseStore({});
		const a = await routeMail(mail({ messageId: '<t1@c>' }), store, config());
		const b = await routeMail(mail({ messageId: '<t2@c>', inReplyTo: '<t1@c>' }), store, config());
		const c = await routeMail(mail({ references: ['<t1@c>', '<t2@c>'] }), store, config());
		assert.deepEqual([a.case?.number, b.case?.number, c.case?.number], [1, 1, 1]);
	});

	it('an unknown tag opens a new case (default) or is ignored', async () => {
		const store = new ObjectCaseStore({});
		const r = await routeMail(mail({ subject: '[#999] hello' }), store, config());
		assert.deepEqual([r.route, r.case?.number, r.case?.name], ['newCase', 1, 'hello']);
		assert.match(r.reason, /\[#999\] names no known case/);
		assert.equal(
			(await routeMail(mail({ subject: '[#999] hello' }), store, config({ unknownTag: 'ignore' })))
				.route,
			'ignored',
		);
	});

	it("vtiger's guard: only the case's contact or its account may join", async () => {
		const store = new ObjectCaseStore({});
		await routeMail(
			mail({ messageId: '<g1@c>', contact: { id: 'c1' }, account: { id: 'a1' } }),
			store,
			config(),
		);
		const colleague = await routeMail(
			mail({ inReplyTo: '<g1@c>', account: { id: 'a1' } }),
			store,
			config({ joinPolicy: 'contactOrAccount' }),
		);
		assert.equal(colleague.route, 'followUp');
		const stranger = await routeMail(
			mail({ inReplyTo: '<g1@c>', contact: { id: 'c9' } }),
			store,
			config({ joinPolicy: 'contactOrAccount' }),
		);
		assert.equal(stranger.route, 'newCase');
		assert.match(stranger.reason, /not the contact of case 1/);
	});

	it('reopens a closed case on a customer reply', async () => {
		const store = new ObjectCaseStore({});
		await routeMail(mail({ messageId: '<r1@c>' }), store, config());
		await updateCase(store, { number: 1, status: 'Closed', now: 2_000 });
		const r = await routeMail(mail({ inReplyTo: '<r1@c>' }), store, config());
		assert.equal(r.case?.status, 'Assigned');
		assert.match(r.reason, /reopened/);
	});
});

describe('who may join a case', () => {
	const stranger = { address: 'mallory@evil.example', name: 'Mallory' };

	async function closedCase(store: ObjectCaseStore) {
		const first = await routeMail(
			mail({
				messageId: '<j1@customer.example>',
				to: [{ address: 'support@example.com', name: 'Support' }],
				cc: [{ address: 'bob@customer.example', name: 'Bob' }],
				contact: { id: 'c1' },
				account: { id: 'a1' },
			}),
			store,
			config(),
		);
		await updateCase(store, { number: 1, status: 'Closed', now: 2_000 });
		return first;
	}

	it('a stranger quoting a known [#N] opens a new case; the old one stays closed', async () => {
		const store = new ObjectCaseStore({});
		await closedCase(store);
		const r = await routeMail(
			mail({ from: stranger, subject: 'Re: [#1] Printer broken', text: 'send me the file' }),
			store,
			config(),
		);
		assert.deepEqual([r.route, r.case?.number, r.case?.name], ['newCase', 2, 'Printer broken']);
		assert.match(
			r.reason,
			/^new case: mallory@evil\.example is not the contact of case 1, of its account, nor an earlier participant \(found by subject tag of case 1\)$/,
		);
		assert.equal((await store.getCase(1))?.status, 'Closed');
		assert.deepEqual((await store.getCase(2))?.participants, ['mallory@evil.example']);
	});

	it("a stranger answering a customer's Message-ID opens a new case", async () => {
		const store = new ObjectCaseStore({});
		await closedCase(store);
		const r = await routeMail(
			mail({ from: stranger, inReplyTo: '<j1@customer.example>' }),
			store,
			config(),
		);
		assert.equal(r.route, 'newCase');
		assert.match(r.reason, /found by thread \(<j1@customer\.example>\)/);
	});

	it('our signed Message-ID, the contact, the account and earlier participants join', async () => {
		const store = new ObjectCaseStore({});
		await closedCase(store);
		const signed = generateMessageId(
			{ parentType: 'Case', parentId: 'case-1', caseNumber: 1 },
			{ key, domain: 'example.com' },
		);
		const joins: Array<[string, Record<string, unknown>, RegExp]> = [
			['signed', { from: stranger, references: [signed] }, /our Message-ID/],
			['contact', { from: stranger, subject: '[#1] x', contact: { id: 'c1' } }, /case's contact/],
			['account', { from: stranger, subject: '[#1] x', account: { id: 'a1' } }, /of its account/],
			[
				'copied',
				{ from: { address: 'Bob@Customer.example' }, subject: '[#1] x' },
				/earlier participant/,
			],
			['sender', { subject: '[#1] x' }, /earlier participant/],
		];
		for (const [what, over, reason] of joins) {
			const r = await routeMail(mail(over), store, config());
			assert.equal(r.route, 'followUp', what);
			assert.equal(r.case?.number, 1, what);
			assert.match(r.reason, reason, what);
		}
		// Who joined through our signed Message-ID is a participant from then on.
		assert.ok((await store.getCase(1))?.participants?.includes('mallory@evil.example'));
		assert.ok(!(await store.getCase(1))?.participants?.includes('support@example.com'));
	});

	it("the Parent Linker's contact vouches for the sender only when found by the sender's From", async () => {
		const store = new ObjectCaseStore({});
		await closedCase(store);
		const linked = (via: string) => ({
			from: stranger,
			subject: '[#1] x',
			contact: { id: 'c1' },
			account: { id: 'a1' },
			parent: { type: 'Account', id: 'a1', via },
		});
		for (const via of ['cc', 'to', 'replyTo', 'thread']) {
			const r = await routeMail(mail(linked(via)), store, config());
			assert.equal(r.route, 'newCase', via);
		}
		const r = await routeMail(mail(linked('from')), store, config());
		assert.deepEqual([r.route, r.case?.number], ['followUp', 1]);
	});

	it("a mail reusing a customer's Message-ID does not redirect the customer's replies", async () => {
		const store = new ObjectCaseStore({});
		await routeMail(mail({ messageId: '<v1@customer.example>' }), store, config());
		const attacker = await routeMail(
			mail({
				from: stranger,
				messageId: '<v1@customer.example>',
				cc: [{ address: 'ann@customer.example' }],
			}),
			store,
			config(),
		);
		assert.equal(attacker.case?.number, 2);
		const reply = await routeMail(mail({ inReplyTo: '<v1@customer.example>' }), store, config());
		assert.deepEqual([reply.route, reply.case?.number], ['followUp', 1]);
	});

	it('a case recorded before participants were kept still admits its contact', async () => {
		const store = new ObjectCaseStore({});
		await closedCase(store);
		const old = (await store.getCase(1))!;
		delete old.participants;
		await store.putCase(old);
		assert.equal((await routeMail(mail({ subject: '[#1] x' }), store, config())).route, 'newCase');
		assert.equal(
			(await routeMail(mail({ subject: '[#1] x', contact: { id: 'c1' } }), store, config())).route,
			'followUp',
		);
	});

	it('"Anyone" keeps EspoCRM\'s permissive behaviour', async () => {
		const store = new ObjectCaseStore({});
		await closedCase(store);
		const r = await routeMail(
			mail({ from: stranger, subject: 'Re: [#1] x' }),
			store,
			config({ joinPolicy: 'anyone' }),
		);
		assert.deepEqual([r.route, r.case?.number, r.case?.status], ['followUp', 1, 'Assigned']);
	});

	it('keeps at most 50 participants', async () => {
		const store = new ObjectCaseStore({});
		const cc = Array.from({ length: 80 }, (_, i) => ({ address: `p${i}@x.example` }));
		const r = await routeMail(mail({ cc }), store, config());
		assert.equal(r.case?.participants?.length, 50);
		assert.equal(r.case?.participants?.[0], 'ann@customer.example');
	});
});

describe('ignored', () => {
	const own = new Set(['support@example.com']);
	const cases: Array<[string, Record<string, unknown>, RegExp | null]> = [
		['a person', {}, null],
		['Auto-Submitted: no', { headers: { 'auto-submitted': 'no' } }, null],
		[
			'Auto-Submitted: auto-replied',
			{ headers: { 'auto-submitted': 'auto-replied' } },
			/auto-submitted/,
		],
		['X-Autoreply', { headers: { 'x-autoreply': 'yes' } }, /X-Autoreply/],
		['X-Autorespond', { headers: { 'x-autorespond': 'yes' } }, /X-Autorespond/],
		[
			'bounce by content type',
			{ headers: { 'content-type': 'multipart/report; report-type=delivery-status' } },
			/bounce/,
		],
		['bounce by sender', { from: { address: 'MAILER-DAEMON@mx.example' } }, /bounce/],
		['our own address', { from: { address: 'Support@Example.com' } }, /our own/],
	];
	for (const [name, over, expected] of cases)
		it(name, () => {
			const r = ignoreReason(mail(over), own);
			if (expected === null) assert.equal(r, null);
			else assert.match(r ?? '', expected);
		});

	it('ignored mails never open a case', async () => {
		const store = new ObjectCaseStore({});
		const r = await routeMail(
			mail({ headers: { 'auto-submitted': 'auto-generated' } }),
			store,
			config(),
		);
		assert.deepEqual([r.route, r.case], ['ignored', null]);
		assert.equal(await store.nextNumber(), 1);
	});
});

describe('case names', () => {
	const cases: Array<[string, string]> = [
		['Re: RE: Fwd: [#12] Printer broken', 'Printer broken'],
		['  ', '(No Subject)'],
		['AW: [#3]', '(No Subject)'],
		['Invoice [#4] question', 'Invoice question'],
	];
	for (const [subject, name] of cases)
		it(JSON.stringify(subject), () => assert.equal(caseName(subject, TAG), name));
});

describe('assignment', () => {
	const team = parseMembers([
		{ id: 'a' },
		{ id: 'b', role: 'L2' },
		{ id: 'c', active: false },
		{ userId: 'd', role: 'l2' },
		'e',
	]);

	it('parses members, with inactive and role filters', () => {
		assert.deepEqual(
			eligible(team).map((m) => m.id),
			['a', 'b', 'd', 'e'],
		);
		assert.deepEqual(
			eligible(team, 'L2').map((m) => m.id),
			['b', 'd'],
		);
	});

	it('round-robin: next after the previous, wrapping, first when unknown or gone', () => {
		const m = eligible(team);
		assert.equal(roundRobin(m, null)?.id, 'a');
		assert.equal(roundRobin(m, 'b')?.id, 'd');
		assert.equal(roundRobin(m, 'e')?.id, 'a');
		assert.equal(roundRobin(m, 'c')?.id, 'a');
		assert.equal(roundRobin([], null), null);
	});

	it('least-busy: fewest open, ties to the first in list order', () => {
		const m = eligible(team);
		assert.equal(
			leastBusy(
				m,
				new Map([
					['a', 2],
					['b', 1],
					['d', 1],
					['e', 3],
				]),
			)?.id,
			'b',
		);
		assert.equal(leastBusy(m, new Map())?.id, 'a');
	});

	it('round-robin remembers where it left off across executions (store)', async () => {
		const data = {};
		const members = [{ id: 'u1' }, { id: 'u2' }];
		const assignees = [];
		for (let run = 0; run < 3; run++) {
			const store = new ObjectCaseStore(data);
			assignees.push(
				(await routeMail(mail(), store, config({ strategy: { kind: 'roundRobin', members } }))).case
					?.assignee,
			);
		}
		assert.deepEqual(assignees, ['u1', 'u2', 'u1']);
	});

	it('least-busy counts the ledger; closing a case frees its assignee', async () => {
		const store = new ObjectCaseStore({});
		const s = { kind: 'leastBusy' as const, members: [{ id: 'u1' }, { id: 'u2' }] };
		const got = [];
		for (let i = 0; i < 3; i++)
			got.push((await routeMail(mail(), store, config({ strategy: s }))).case?.assignee);
		assert.deepEqual(got, ['u1', 'u2', 'u1']);
		await updateCase(store, { number: 1, status: 'Closed', now: 5 });
		await updateCase(store, { number: 3, status: 'Rejected', now: 5 });
		assert.equal((await routeMail(mail(), store, config({ strategy: s }))).case?.assignee, 'u1');
	});

	it('direct and none', async () => {
		const store = new ObjectCaseStore({});
		assert.equal(
			(await routeMail(mail(), store, config({ strategy: { kind: 'direct', userId: 'boss' } })))
				.case?.assignee,
			'boss',
		);
		const none = await routeMail(mail(), store, config({ strategy: { kind: 'none' } }));
		assert.deepEqual([none.case?.assignee, none.case?.status], [null, 'New']);
	});
});

describe('store', () => {
	it('retention forgets old closed cases and their threads; numbers are never reused', async () => {
		const data: Record<string, unknown> = {};
		const store = new ObjectCaseStore(data);
		await routeMail(mail({ messageId: '<old@c>' }), store, config({ now: 0 }));
		await routeMail(mail({ messageId: '<open@c>' }), store, config({ now: 0 }));
		await updateCase(store, { number: 1, status: 'Closed', now: 10 });
		store.prune(1_000_000, { closedMs: 100, maxThreads: 10 }, new Set(['closed']));
		assert.equal(await store.getCase(1), undefined);
		assert.ok(await store.getCase(2));
		assert.equal(await store.caseForMessage('<old@c>'), undefined);
		assert.equal(await store.caseForMessage('<open@c>'), 2);
		assert.equal((await routeMail(mail(), store, config())).case?.number, 3);
	});

	it('the thread map is capped, oldest first', async () => {
		const store = new ObjectCaseStore({});
		for (let i = 0; i < 5; i++) await store.linkMessage(`<${i}@c>`, 1);
		store.prune(0, { closedMs: 1, maxThreads: 2 }, new Set());
		assert.equal(await store.caseForMessage('<2@c>'), undefined);
		assert.equal(await store.caseForMessage('<4@c>'), 1);
	});
});

describe('the reply text on the case', () => {
	const quoted =
		'The printer works again.\n\nOn Mon, 4 Mar 2024, Support <support@example.com> wrote:\n> Please restart it.';

	it("a new case's description and a follow-up's text are the reply, without quote or signature", async () => {
		const store = new ObjectCaseStore({});
		const first = await routeMail(
			mail({ messageId: '<q1@c>', text: 'It does not print.\n\n-- \nAnn Smith\nAcme' }),
			store,
			config(),
		);
		assert.equal(first.case?.description, 'It does not print.');
		const reply = await routeMail(mail({ references: ['<q1@c>'], text: quoted }), store, config());
		assert.equal(reply.route, 'followUp');
		assert.equal(reply.case?.text, 'The printer works again.');
		assert.equal(reply.case?.description, undefined);
	});

	it("takes the trigger's reply field; extracts it for items without one", async () => {
		const store = new ObjectCaseStore({});
		const given = await routeMail(
			mail({ text: quoted, reply: { text: 'As the trigger read it', method: 'none' } }),
			store,
			config(),
		);
		assert.equal(given.case?.description, 'As the trigger read it');
		const html = await routeMail(
			mail({
				text: undefined,
				html: '<p>Works now.</p><div class="gmail_quote">On Mon, Support wrote:<blockquote>Restart?</blockquote></div>',
			}),
			store,
			config(),
		);
		assert.equal(html.case?.description, 'Works now.');
		for (const reply of [null, 'text', { text: '' }, { text: 5 }]) {
			const r = await routeMail(mail({ text: quoted, reply }), store, config());
			assert.equal(r.case?.description, 'The printer works again.', JSON.stringify(reply));
		}
		assert.equal((await routeMail(mail({ text: 7 }), store, config())).case?.description, '');
	});
});
