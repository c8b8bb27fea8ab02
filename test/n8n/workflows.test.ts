/**
 * The shipped workflows in a real n8n, installed as an admin installs a community node: this
 * package packed with `npm pack` and installed with `npm install <tarball>` in n8n's nodes folder,
 * the workflow files imported unchanged with n8n's CLI, credentials under the ids the files
 * reference (pointing at the test Dovecot and SMTP server), both published at once, and driven
 * from outside by appending mail to Dovecot.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';

import { closeChecklist, launchChromium, openWorkflow, signIn } from '../../harness/browser';
import { appendMails, Dovecot, makeMail } from '../../harness/dovecot';
import { waitFor } from '../../harness/intake';
import { ensureN8n, N8n, packPackage } from '../../harness/n8n';
import { SmtpSink } from '../../harness/smtp';

const root = join(__dirname, '..', '..');
let dovecot: Dovecot;
let support: ImapFlow;
let info: ImapFlow;
let sink: SmtpSink;
let n8n: N8n;

interface WorkflowFile {
	id?: string;
	nodes: Array<{ name: string; type: string }>;
}

const shipped = (file: string) => join(root, 'workflows', file);
const readWorkflow = (file: string) =>
	JSON.parse(readFileSync(shipped(file), 'utf8')) as WorkflowFile & Record<string, unknown>;

/** The negative control of the editor test: email-to-case with one node type n8n cannot know. */
const CONTROL_ID = 'controlUnknown01';
const UNKNOWN_TYPE = 'n8n-nodes-crm-email.crmEmailFilterMissing';

before(async () => {
	const bins = ensureN8n();
	// Two mailboxes, one per workflow, as the files reference them: both are active at once.
	dovecot = new Dovecot([
		{ user: 'support', password: 'secret' },
		{ user: 'info', password: 'secret2' },
	]);
	await dovecot.start();
	support = await dovecot.client();
	info = await dovecot.client(dovecot.users[1]);
	sink = await new SmtpSink().start();
	n8n = new N8n(bins);
	const packDir = mkdtempSync(join(tmpdir(), 'crm-email-pack-'));
	try {
		n8n.installPackage(packPackage(packDir));
	} finally {
		rmSync(packDir, { recursive: true, force: true });
	}
	const creds = join(n8n.userFolder, 'credentials.json');
	writeFileSync(
		creds,
		JSON.stringify([
			{
				id: 'crmImapSupport',
				name: 'Support mailbox (IMAP)',
				type: 'crmImapApi',
				data: { ...dovecot.credentials() },
			},
			{
				id: 'crmSmtpSupport',
				name: 'Support mailbox (SMTP)',
				type: 'crmSmtpApi',
				// No signing credential anywhere: thread Message-IDs are signed with n8n's own key.
				data: { ...sink.credentials() },
			},
			{
				id: 'crmImapInfo',
				name: 'Info mailbox (IMAP)',
				type: 'crmImapApi',
				data: { ...dovecot.credentials(dovecot.users[1]) },
			},
			{
				id: 'crmSmtpInfo',
				name: 'Info mailbox (SMTP)',
				type: 'crmSmtpApi',
				data: sink.credentials({
					allowedFrom: 'info@example.com',
					defaultFrom: 'Example Info <info@example.com>',
				}),
			},
		]),
	);
	n8n.cli(['import:credentials', `--input=${creds}`]);
	// The shipped files exactly as workflows/README.md imports them.
	for (const file of ['email-to-case.json', 'auto-reply.json'])
		n8n.cli(['import:workflow', `--input=${shipped(file)}`]);
	const control = readWorkflow('email-to-case.json');
	control.id = CONTROL_ID;
	control.name = 'Negative control';
	control.nodes.find((n) => n.name === 'Email Filter')!.type = UNKNOWN_TYPE;
	writeFileSync(join(n8n.userFolder, 'control.json'), JSON.stringify(control));
	n8n.cli(['import:workflow', `--input=${join(n8n.userFolder, 'control.json')}`]);
	n8n.cli(['publish:workflow', '--id=crmAutoReply0001']);
	n8n.cli(['publish:workflow', '--id=crmEmailToCase01']);
	await n8n.start(2);
});

after(async () => {
	await n8n?.destroy();
	await sink?.stop();
	await support?.logout().catch(() => undefined);
	await info?.logout().catch(() => undefined);
	await dovecot?.destroy();
});

describe('the package in n8n, installed from its npm tarball', () => {
	it("sits in n8n's nodes folder without a second n8n-workflow, and every node type of the shipped files is known", () => {
		const installed = join(n8n.nodesFolder, 'node_modules');
		assert.ok(existsSync(join(installed, 'n8n-nodes-crm-email', 'package.json')));
		// n8n-workflow is an optional peer dependency: the nodes use n8n's own copy.
		assert.equal(existsSync(join(installed, 'n8n-workflow')), false, 'a second n8n-workflow');
		assert.deepEqual(
			n8n.log.filter((l) => /Unrecognized node type|cannot run on this instance/i.test(l)),
			[],
		);
	});
});

describe('auto-reply.json in a real n8n', () => {
	it('answers a customer once, and not a mailing list', async () => {
		await appendMails(info, 'INBOX', [
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
			sink.messages.map((m) => [m.parsed.from?.value[0]?.address, m.to]),
			[['info@example.com', ['ann@acme.example']]],
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
	it('opens a case per customer mail with one auto-reply carrying [#N] (and none from auto-reply.json, active beside it); a reply joins the case; lists, auto-replies and bounces get nothing; a restart loses and repeats nothing', async () => {
		since = sink.messages.length;
		await appendMails(support, 'INBOX', [
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
		await appendMails(support, 'INBOX', [
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
		await appendMails(support, 'INBOX', [
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

		// Who may join a case: Ann's colleague answering our (signed) auto-reply joins case 1;
		// a stranger quoting [#1] does not: a new case, with its own auto-reply.
		await appendMails(support, 'INBOX', [
			makeMail({
				from: 'Eve Acme <eve@acme-partner.example>',
				subject: 'Re: [#1] Re: Printer broken',
				messageId: 'eve1@acme-partner.example',
				headers: { 'In-Reply-To': String(annReply.messageId) },
			}),
			makeMail({
				from: 'Mallory <mallory@evil.example>',
				subject: 'Re: [#1] Re: Printer broken',
				messageId: 'mallory1@evil.example',
			}),
		]);
		await waitForN8n(
			() => repliesTo('mallory@evil.example').length >= 1,
			60_000,
			"the stranger's new case",
		);
		await new Promise((r) => setTimeout(r, 5_000));
		assert.match(repliesTo('mallory@evil.example')[0].parsed.subject ?? '', /^\[#4\] Re: /);
		assert.equal(repliesTo('eve@acme-partner.example').length, 0, 'a signed reply joins case 1');
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
		readWorkflow(file).nodes.filter((n) => !n.type.endsWith('.stickyNote'));

	it('shows both workflows with every node known and no node marked with issues; a screenshot of each is kept', async () => {
		assert.equal(await n8n.setupOwner(owner), 200);
		mkdirSync(artifacts, { recursive: true });
		const browser = await launchChromium();
		try {
			const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
			await signIn(page, n8n.url, owner);
			for (const [file, id] of [
				['email-to-case.json', 'crmEmailToCase01'],
				['auto-reply.json', 'crmAutoReply0001'],
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

			// The same check sees an unknown node: the copy with one type altered draws that node,
			// and only that one, as "?".
			const control = nodesOf('email-to-case.json');
			const drawn = await openWorkflow(page, n8n.url, CONTROL_ID, control.length);
			assert.deepEqual(
				drawn.filter((n) => n.unknownType).map((n) => n.type),
				[UNKNOWN_TYPE],
			);
		} finally {
			await browser.close();
		}
	});
});
