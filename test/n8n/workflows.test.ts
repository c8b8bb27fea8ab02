/**
 * The shipped workflows in a real n8n: imported with credentials pointing at the test Dovecot and
 * SMTP server, activated, and driven from outside by appending mail to Dovecot.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';

import { closeChecklist, launchChromium, openWorkflow, signIn } from '../helpers/browser';
import { appendMails, Dovecot, makeMail } from '../helpers/dovecot';
import { waitFor } from '../helpers/intake';
import { ensureN8n, N8n } from '../helpers/n8n';
import { SmtpSink } from '../helpers/smtp';

const root = join(__dirname, '..', '..');
let dovecot: Dovecot;
let admin: ImapFlow;
let desk: ImapFlow;
let sink: SmtpSink;
let n8n: N8n;

interface WorkflowFile {
	id?: string;
	nodes: Array<{ type: string; credentials?: Record<string, { id: string; name: string }> }>;
}

/**
 * The shipped file, as n8n will load it here: our package comes from dist/ as custom extensions,
 * whose node types n8n prefixes `CUSTOM.`; credentials are the test ones (the only edit a user
 * makes is choosing credentials).
 */
function forCustomLoader(file: string, id: string, credentialSuffix: string): string {
	const wf = JSON.parse(readFileSync(join(root, 'workflows', file), 'utf8')) as WorkflowFile;
	wf.id = id;
	N8n.forCustomLoader(wf as WorkflowFile & Record<string, unknown>);
	for (const node of wf.nodes) {
		for (const ref of Object.values(node.credentials ?? {})) ref.id += credentialSuffix;
	}
	const out = join(n8n.userFolder, file);
	writeFileSync(out, JSON.stringify(wf));
	return out;
}

before(async () => {
	const bins = ensureN8n();
	// Two mailboxes, one per workflow: both are active at once.
	dovecot = new Dovecot([
		{ user: 'support', password: 'secret' },
		{ user: 'desk', password: 'secret2' },
	]);
	await dovecot.start();
	admin = await dovecot.client();
	desk = await dovecot.client(dovecot.users[1]);
	sink = await new SmtpSink().start();
	n8n = new N8n(bins);
	const creds = join(n8n.userFolder, 'credentials.json');
	writeFileSync(
		creds,
		JSON.stringify([
			{
				id: 'crmImapSupportA',
				name: 'Support mailbox (IMAP)',
				type: 'crmImapApi',
				data: { ...dovecot.credentials() },
			},
			{
				id: 'crmSmtpSupportA',
				name: 'Support mailbox (SMTP)',
				type: 'crmSmtpApi',
				data: sink.credentials(),
			},
			{
				id: 'crmImapSupportB',
				name: 'Desk mailbox (IMAP)',
				type: 'crmImapApi',
				data: { ...dovecot.credentials(dovecot.users[1]) },
			},
			{
				id: 'crmSmtpSupportB',
				name: 'Desk mailbox (SMTP)',
				type: 'crmSmtpApi',
				data: sink.credentials(),
			},
		]),
	);
	n8n.cli(['import:credentials', `--input=${creds}`]);
	// The shipped files exactly as workflows/README.md imports them (the editor test looks at
	// them too: their `n8n-nodes-crm-email.*` types are unknown to an n8n that loads the package
	// as custom extensions, so they show what an unknown node looks like).
	for (const file of ['email-to-case.json', 'auto-reply.json'])
		n8n.cli(['import:workflow', `--input=${join(root, 'workflows', file)}`]);
	n8n.cli([
		'import:workflow',
		`--input=${forCustomLoader('auto-reply.json', 'autoReplyWf00001', 'A')}`,
	]);
	n8n.cli([
		'import:workflow',
		`--input=${forCustomLoader('email-to-case.json', 'emailToCaseWf001', 'B')}`,
	]);
	n8n.cli(['publish:workflow', '--id=autoReplyWf00001']);
	n8n.cli(['publish:workflow', '--id=emailToCaseWf001']);
	await n8n.start(2);
});

after(async () => {
	await n8n?.destroy();
	await sink?.stop();
	await admin?.logout().catch(() => undefined);
	await desk?.logout().catch(() => undefined);
	await dovecot?.destroy();
});

describe('auto-reply.json in a real n8n', () => {
	it('answers a customer once, and not a mailing list', async () => {
		await appendMails(admin, 'INBOX', [
			makeMail({ from: 'Ann Smith <ann@acme.example>', subject: 'Help please' }),
			makeMail({
				from: 'News <news@list.example>',
				subject: 'Weekly',
				headers: { 'List-Id': '<weekly.list.example>' },
			}),
		]);
		await waitForN8n(() => sink.messages.length >= 1, 60_000, 'the auto-reply');
		await new Promise((r) => setTimeout(r, 3_000));
		assert.deepEqual(
			sink.messages.map((m) => m.to),
			[['ann@acme.example']],
		);
		assert.equal(sink.messages[0].parsed.subject, 'Re: Help please');
		assert.equal(sink.messages[0].parsed.headers.get('auto-submitted'), 'auto-replied');
	});
});

/** waitFor, with n8n's log when it times out. */
async function waitForN8n(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
	try {
		await waitFor(cond, timeoutMs, what);
	} catch (error) {
		throw new Error(`${(error as Error).message}; n8n said:\n${n8n.log.slice(-60).join('\n')}`);
	}
}

/** Messages of the current test only (both workflows share the SMTP server). */
let since = 0;
const repliesTo = (address: string) =>
	sink.messages.slice(since).filter((m) => m.to.includes(address));

describe('email-to-case.json in a real n8n', () => {
	it('opens a case per customer mail with one auto-reply carrying [#N]; a reply joins the case; lists, auto-replies and bounces get nothing; a restart loses and repeats nothing', async () => {
		since = sink.messages.length;
		await appendMails(desk, 'INBOX', [
			makeMail({
				from: 'Ann Smith <ann@acme.example>',
				subject: 'Printer broken',
				messageId: 'ann1@acme.example',
			}),
			makeMail({
				from: 'Carla Diaz <carla@startup.example>',
				subject: 'Pricing question',
				messageId: 'carla1@startup.example',
			}),
			makeMail({
				from: 'Lists <weekly@list.example>',
				subject: 'Weekly digest',
				headers: { 'List-Id': '<weekly.list.example>' },
			}),
			makeMail({
				from: 'Bob Jones <bob@example.org>',
				subject: 'Out of office',
				headers: { 'Auto-Submitted': 'auto-replied' },
			}),
			makeMail({
				from: 'MAILER-DAEMON@mx.example',
				subject: 'Undelivered Mail Returned to Sender',
				headers: { 'Content-Type': 'multipart/report; report-type=delivery-status; boundary=x' },
			}),
		]);
		await waitForN8n(
			() =>
				repliesTo('ann@acme.example').length >= 1 && repliesTo('carla@startup.example').length >= 1,
			60_000,
			'two auto-replies',
		);
		const annReply = repliesTo('ann@acme.example')[0].parsed;
		const cases = [annReply.subject, repliesTo('carla@startup.example')[0].parsed.subject];
		assert.deepEqual(cases.map((s) => /^\[#(\d+)\] Re: /.exec(s ?? '')?.[1]).sort(), ['1', '2']);
		assert.match(annReply.text ?? '', /Hello Ann,[\s\S]*case \d/);

		// Ann answers the auto-reply; her client keeps the thread, drops the tag.
		await appendMails(desk, 'INBOX', [
			makeMail({
				from: 'Ann Smith <ann@acme.example>',
				subject: 'Re: Printer broken',
				messageId: 'ann2@acme.example',
				headers: {
					'In-Reply-To': String(annReply.messageId),
					References: `<ann1@acme.example> ${annReply.messageId}`,
				},
			}),
		]);
		// n8n stops while new mail arrives, and starts again.
		await new Promise((r) => setTimeout(r, 8_000));
		await n8n.stop();
		await appendMails(desk, 'INBOX', [
			makeMail({
				from: 'Dan New <dan@newco.example>',
				subject: 'Hello?',
				messageId: 'dan1@newco.example',
			}),
		]);
		await n8n.start(2);
		await waitForN8n(
			() => repliesTo('dan@newco.example').length >= 1,
			90_000,
			"Dan's auto-reply after the restart",
		);
		await new Promise((r) => setTimeout(r, 8_000));

		assert.equal(repliesTo('ann@acme.example').length, 1, 'no second auto-reply to the follow-up');
		assert.equal(repliesTo('carla@startup.example').length, 1);
		assert.equal(repliesTo('dan@newco.example').length, 1);
		assert.match(repliesTo('dan@newco.example')[0].parsed.subject ?? '', /^\[#3\] Re: Hello\?$/);
		for (const nobody of ['weekly@list.example', 'bob@example.org', 'MAILER-DAEMON@mx.example'])
			assert.equal(repliesTo(nobody).length, 0, nobody);
	});
});

describe('the editor, in headless Chromium', () => {
	const owner = {
		email: 'admin@example.com',
		password: 'Test-Pass-1',
		firstName: 'Test',
		lastName: 'Admin',
	};
	const artifacts = join(root, 'test-artifacts');
	const nodesOf = (file: string) =>
		(JSON.parse(readFileSync(join(root, 'workflows', file), 'utf8')) as WorkflowFile).nodes.filter(
			(n) => !n.type.endsWith('.stickyNote'),
		);

	it('shows both workflows with every node known and no node marked with issues; a screenshot of each is kept', async () => {
		assert.equal(await n8n.setupOwner(owner), 200);
		mkdirSync(artifacts, { recursive: true });
		const browser = await launchChromium();
		try {
			const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
			await signIn(page, n8n.url, owner);
			for (const [file, id] of [
				['email-to-case.json', 'emailToCaseWf001'],
				['auto-reply.json', 'autoReplyWf00001'],
			]) {
				const expected = nodesOf(file);
				const drawn = await openWorkflow(page, n8n.url, id, expected.length);
				await closeChecklist(page);
				await page.screenshot({ path: join(artifacts, `editor-${file.replace('.json', '')}.png`) });
				assert.equal(drawn.length, expected.length, `${file}: every node drawn`);
				assert.deepEqual(
					drawn.filter((n) => n.unknownType || n.issues),
					[],
					`${file}: nodes the editor does not know or marks with issues`,
				);
			}

			// The same check sees an unknown node: the shipped file as is, whose package name this
			// n8n (custom extensions) does not know, draws each of our nodes as "?".
			const raw = nodesOf('email-to-case.json');
			const drawn = await openWorkflow(page, n8n.url, 'crmEmailToCase01', raw.length);
			assert.deepEqual(
				drawn
					.filter((n) => n.unknownType)
					.map((n) => n.type)
					.sort(),
				raw
					.filter((n) => n.type.startsWith('n8n-nodes-crm-email.'))
					.map((n) => n.type)
					.sort(),
			);
		} finally {
			await browser.close();
		}
	});
});
