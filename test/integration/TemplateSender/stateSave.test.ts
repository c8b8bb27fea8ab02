/**
 * The Template Sender's node state against a failing disk, with a real SMTP server on loopback:
 * whatever save fails — before the mails go out or after — the retry of the failed execution
 * sends each mail exactly once, counted as the server received them. The disk is made full by a
 * symlink from the state's temp file to /dev/full (a real ENOSPC, also for root).
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { IDataObject } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { fakeExecute } from '../../../harness/fakeExecute';
import { SmtpSink, signingCredential } from '../../../harness/smtp';
import type { CrashJob } from './crashWorker';

const node = new CrmEmailTemplateSender();
const dir = mkdtempSync(join(tmpdir(), 'crm-email-sender-state-'));
let sink: SmtpSink;

before(async () => {
	process.env.CRM_EMAIL_STATE_DIR = dir;
	sink = await new SmtpSink().start();
});
after(async () => {
	delete process.env.CRM_EMAIL_STATE_DIR;
	rmSync(dir, { recursive: true, force: true });
	await sink.stop();
});
beforeEach(() => {
	sink.messages.length = 0;
	sink.refuse.clear();
	sink.onMessage = null;
});

/** The state file's temp file (fakeExecute's node id is "n1"; see nodes/shared/nodeState.ts). */
function tempFile(workflowId: string): string {
	const key = createHash('sha256').update('n1').digest('hex').slice(0, 16);
	return join(dir, `${workflowId}-${key}.json.${process.pid}.tmp`);
}

function diskFull(workflowId: string): () => void {
	const tmp = tempFile(workflowId);
	symlinkSync('/dev/full', tmp);
	return () => rmSync(tmp, { force: true });
}

function mail(name: string): IDataObject {
	return {
		messageId: `<${name}@customer.example>`,
		references: [],
		subject: `Question from ${name}`,
		from: { address: `${name}@customer.example`, name },
		replyTo: [],
		text: 'Hello',
		headers: {},
	};
}

const parameters = (options: unknown = {}, bodyText = 'Hello {Person.firstName}') => ({
	operation: 'autoReply',
	from: '',
	subject: 'We got your mail',
	bodyText,
	bodyHtml: '',
	appendToSent: false,
	options,
});
const credentials = () => ({
	crmSmtpApi: sink.credentials(),
	crmEmailSigningApi: signingCredential,
});

function execution(
	workflowId: string,
	mails: IDataObject[],
	options: unknown = {},
	bodyText = 'Hello {Person.firstName}',
) {
	const f = fakeExecute({
		description: node.description,
		parameters: parameters(options, bodyText),
		inputs: [mails.map((json) => ({ json }))],
		credentials: credentials(),
		mode: 'trigger',
		workflowId,
	});
	return node.execute.call(f.ctx);
}

const received = (address: string) => sink.messages.filter((m) => m.to.includes(address)).length;
const codes = (items: Array<{ json: IDataObject }>) =>
	items.map((i) => (i.json.notSent as IDataObject).code);

describe('Template Sender: a failed state save never causes a second send', () => {
	it('the save after sending fails (ENOSPC): the retry sends nothing twice, and what failed once', async () => {
		const mails = [mail('ann'), mail('bob')];
		sink.refuse.add('bob@customer.example'); // bob's mail fails this time: it must go out on retry
		let restore = () => undefined as void;
		sink.onMessage = () => {
			sink.onMessage = null;
			restore = diskFull('wfAfter');
		};
		const error = await execution('wfAfter', mails).catch((e: Error) => e);
		assert.equal(received('ann@customer.example'), 1);

		restore(); // the admin frees space, then retries the execution
		sink.refuse.clear();
		const [sent, notSent] = await execution('wfAfter', mails);
		assert.equal(received('ann@customer.example'), 1, 'ann got the same mail twice');
		assert.equal(received('bob@customer.example'), 1);
		assert.deepEqual(
			sent.map((s) => s.pairedItem),
			[{ item: 1 }],
		);
		// This process kept the unsaved state (ann's mail marked sent); the file has it "being sent",
		// from the save before sending: another process would say SENT_BY_FAILED_EXECUTION.
		assert.deepEqual(codes(notSent), ['ALREADY_SENT']);
		assert.deepEqual(notSent[0].pairedItem, { item: 0 });

		assert.ok(error instanceof Error);
		assert.match(error.message, /^Cannot save the node state file .*wfAfter-.*\.json: ENOSPC/);
	});

	it('the save before sending fails: nothing is sent; the retry sends once', async () => {
		const restore = diskFull('wfBefore');
		await assert.rejects(execution('wfBefore', [mail('cid')]), /ENOSPC/);
		assert.equal(received('cid@customer.example'), 0);
		restore();
		const [sent] = await execution('wfBefore', [mail('cid')]);
		assert.equal(sent.length, 1);
		assert.equal(received('cid@customer.example'), 1);
	});

	it('an item that fails the node after others went out: the retry sends only the rest', async () => {
		const mails = Array.from({ length: 100 }, (_, i) => mail(`m${i}`));
		// Item 90 names a binary property it does not have: the node fails there.
		await assert.rejects(
			execution('wfItem', mails, (i: number) => ({ attachments: i === 90 ? 'file' : '' })),
			/No binary property/,
		);
		const first = sink.messages.length;
		assert.ok(first > 0 && first < 100);
		const [sent, notSent] = await execution('wfItem', mails);
		assert.equal(sent.length + notSent.length, 100);
		assert.equal(sink.messages.length, 100);
		for (let i = 0; i < 100; i++) assert.equal(received(`m${i}@customer.example`), 1, `m${i}`);
		assert.equal(notSent.length, first);
	});

	it('a Retry or rerun of the same incoming mails sends none again, also after completing', async () => {
		const mails = [mail('dee'), mail('eve')];
		const [first] = await execution('wfTwice', mails);
		assert.equal(first.length, 2);
		const [sent, notSent] = await execution('wfTwice', [mails[1], mails[0]]);
		assert.equal(sent.length, 0);
		assert.deepEqual(codes(notSent), ['ALREADY_SENT', 'ALREADY_SENT']);
		assert.equal(received('dee@customer.example'), 1);
		assert.equal(received('eve@customer.example'), 1);
		// Another template is another mail.
		const [other] = await execution('wfTwice', [mails[0]], {}, 'Second template');
		assert.equal(other.length, 1);
	});

	it('a worker killed while sending: its rerun in another process sends nothing twice', async () => {
		const mails = ['gil', 'hua', 'ida'].map(mail);
		const worker = fork(join(__dirname, 'crashWorker.ts'), [], {
			execArgv: ['--import', 'tsx'],
			env: { ...process.env, CRM_EMAIL_STATE_DIR: dir },
			stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
		});
		await new Promise((resolve) => worker.once('message', resolve));
		const exited = new Promise((resolve) => worker.once('exit', resolve));
		// Killed when the server has the first mail, before it answers: the worker never learns.
		sink.onMessage = () => {
			sink.onMessage = null;
			worker.kill('SIGKILL');
		};
		const job: CrashJob = {
			parameters: parameters(),
			credentials: credentials(),
			workflowId: 'wfCrash',
			mails,
		};
		worker.send(job);
		await exited;
		const before = sink.messages.length;
		assert.ok(before >= 1);
		const [sent, notSent] = await execution('wfCrash', mails);
		assert.equal(sent.length, 0);
		// Claimed and saved before any went out: each may have been sent, none is sent again.
		assert.deepEqual(codes(notSent), [
			'SENT_BY_FAILED_EXECUTION',
			'SENT_BY_FAILED_EXECUTION',
			'SENT_BY_FAILED_EXECUTION',
		]);
		assert.equal(sink.messages.length, before);
	});
});
