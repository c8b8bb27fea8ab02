/**
 * Email-to-case on real servers: mails fetched from Dovecot by the trigger's intake, through the
 * Parent Linker, the Case Router and the Template Sender (auto-reply to a real SMTP server); the
 * customer's reply to that auto-reply, appended to Dovecot, lands on the first case and gets no
 * second auto-reply. As installed by default: no Signing credential, n8n's instance key signs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { CrmEmailCaseRouter } from '../../../nodes/CaseRouter/CrmEmailCaseRouter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { CrmEmailParentLinker } from '../../../nodes/ParentLinker/CrmEmailParentLinker.node.ts';
import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts';
import { appendMails, Dovecot, ensureFolder, makeMail } from '../../../harness/dovecot';
import { fakeExecute, items } from '../../../harness/fakeExecute';
import { Harness, MemoryStore, options } from '../../../harness/intake';
import { SmtpSink } from '../../../harness/smtp';

let dovecot: Dovecot;
let admin: ImapFlow;
let sink: SmtpSink;

before(async () => {
	process.env.N8N_ENCRYPTION_KEY = 'instance-key-of-this-n8n';
	dovecot = new Dovecot();
	await dovecot.start();
	admin = await dovecot.client();
	sink = await new SmtpSink().start();
});
after(async () => {
	await sink.stop();
	await admin.logout().catch(() => undefined);
	await dovecot.destroy();
});

const records = items(
	{ type: 'Account', id: 'acc1', name: 'Acme' },
	{
		type: 'Contact',
		id: 'c1',
		name: 'Ann Smith',
		emailAddress: 'ann@acme.example',
		accountId: 'acc1',
	},
);

/** One pass of the workflow over what the trigger delivers; state persists across passes. */
async function workflow(
	mails: INodeExecutionData[],
	state: { linker: IDataObject; router: IDataObject; sender: IDataObject },
) {
	const linker = new CrmEmailParentLinker();
	const lx = fakeExecute({
		description: linker.description,
		parameters: {
			mode: 'b2b',
			recordType: 'field',
			typeField: 'type',
			recordFields: {},
			threadIds: 'verify',
			options: {},
		},
		inputs: [mails, records],
		staticData: state.linker,
	});
	const [linked, unknown] = await linker.execute.call(lx.ctx);

	const router = new CrmEmailCaseRouter();
	const rx = fakeExecute({
		description: router.description,
		parameters: {
			operation: 'route',
			team: 'Support',
			assignment: 'roundRobin',
			membersSource: 'list',
			members: { member: [{ id: 'u1' }, { id: 'u2' }] },
			role: '',
			threadIds: 'verify',
			options: { ownAddresses: 'support@example.com' },
		},
		inputs: [[...linked, ...unknown]],
		staticData: state.router,
	});
	const [created, followUps, ignored] = await router.execute.call(rx.ctx);

	const sender = new CrmEmailTemplateSender();
	const sx = fakeExecute({
		description: sender.description,
		parameters: {
			operation: 'autoReply',
			from: '',
			subject: '',
			bodyHtml: '<p>Dear {Person.firstName}, we opened case {Case.number} for {Account.name}.</p>',
			bodyText: 'Dear {Person.firstName}, we opened case {Case.number} for {Account.name}.',
			appendToSent: false,
			options: { retryDelayMs: 10 },
		},
		inputs: [created],
		credentials: { crmSmtpApi: sink.credentials() },
		staticData: state.sender,
	});
	const [sent, notSent] = await sender.execute.call(sx.ctx);
	return { linked, unknown, created, followUps, ignored, sent, notSent };
}

describe('email-to-case on Dovecot and a real SMTP server', () => {
	it("opens one case per new thread, auto-replies once with [#N], and the customer's reply joins the case", async () => {
		await ensureFolder(admin, 'Support');
		await appendMails(admin, 'Support', [
			makeMail({
				from: 'Ann Smith <ann@acme.example>',
				subject: 'Printer broken',
				messageId: 'p1@acme.example',
			}),
			makeMail({
				from: 'Newcomer <new@startup.example>',
				subject: 'Pricing?',
				messageId: 'p2@startup.example',
			}),
			makeMail({
				from: 'Ann Smith <ann@acme.example>',
				subject: 'Out of office',
				headers: { 'Auto-Submitted': 'auto-replied' },
			}),
			makeMail({
				from: 'MAILER-DAEMON@mx.example',
				subject: 'Undelivered Mail Returned to Sender',
			}),
		]);
		const store = new MemoryStore();
		const state = { linker: {}, router: {}, sender: {} };
		const h = new Harness(options(dovecot, { folders: ['Support'] }), store);
		await h.run();
		await h.intake.stop();
		const first = await workflow(
			h.mails.map((m) => ({ json: m.json as unknown as IDataObject })),
			state,
		);

		assert.deepEqual(
			first.created.map((i) => [
				i.json.subject,
				(i.json.case as IDataObject).number,
				(i.json.case as IDataObject).assignee,
			]),
			[
				['Printer broken', 1, 'u1'],
				['Pricing?', 2, 'u2'],
			],
		);
		assert.equal(first.ignored.length, 2);
		assert.equal(first.sent.length, 2);
		const reply = sink.messages.find((m) => m.to.includes('ann@acme.example'));
		assert.ok(reply);
		assert.equal(reply.parsed.subject, '[#1] Re: Printer broken');
		assert.equal(reply.parsed.text?.trim(), 'Dear Ann, we opened case 1 for Acme.');

		// The customer answers the auto-reply; her mail client keeps the thread headers (but not the tag).
		await appendMails(admin, 'Support', [
			makeMail({
				from: 'Ann Smith <ann@acme.example>',
				subject: 'Re: Printer broken',
				messageId: 'p3@acme.example',
				headers: {
					'In-Reply-To': String(reply.parsed.messageId),
					References: `<p1@acme.example> ${reply.parsed.messageId}`,
				},
			}),
		]);
		const h2 = new Harness(options(dovecot, { folders: ['Support'] }), store);
		await h2.run();
		await h2.intake.stop();
		assert.deepEqual(h2.subjects, ['Re: Printer broken']);
		const second = await workflow(
			h2.mails.map((m) => ({ json: m.json as unknown as IDataObject })),
			state,
		);
		assert.equal(second.created.length, 0);
		assert.equal(second.followUps.length, 1);
		assert.equal((second.followUps[0].json.case as IDataObject).number, 1);
		assert.equal((second.linked[0].json.parent as IDataObject).type, 'Case');
		assert.equal(second.sent.length, 0);
		assert.equal(sink.messages.length, 2);
	});
});
