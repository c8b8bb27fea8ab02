/**
 * The trigger's n8n glue with a fake trigger context, against a real Dovecot.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
	NodeOperationError,
	type IDataObject,
	type ICredentialTestFunctions,
	type ILoadOptionsFunctions,
	type INodeExecutionData,
	type IRun,
} from 'n8n-workflow';
import type { ImapFlow } from 'imapflow';

import { CrmEmailImapTrigger } from '../../../nodes/ImapTrigger/CrmEmailImapTrigger.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { appendMails, Dovecot, ensureFolder, makeMail } from '../../../harness/dovecot';
import { fakeTrigger } from '../../helpers/fakeTrigger';
import { waitFor } from '../../../harness/intake';

const node = new CrmEmailImapTrigger();
let dovecot: Dovecot;
let admin: ImapFlow;

before(async () => {
	dovecot = new Dovecot();
	await dovecot.start();
	admin = await dovecot.client();
});
after(async () => {
	await admin.logout().catch(() => undefined);
	await dovecot.destroy();
});

function params(folder: string, over: Record<string, unknown> = {}) {
	return {
		folders: [folder],
		fetchSince: '2000-01-01T00:00:00Z',
		afterFetch: 'nothing',
		batchSize: 2,
		options: { downloadAttachments: true, newMailDetection: 'poll', pollIntervalSeconds: 60 },
		...over,
	};
}

const ATTACHED = [
	'From: a@example.org',
	'To: support@example.com',
	'Subject: with file',
	'Message-ID: <file@example.org>',
	'MIME-Version: 1.0',
	'Content-Type: multipart/mixed; boundary=x',
	'',
	'--x',
	'Content-Type: text/plain',
	'',
	'see file',
	'--x',
	'Content-Type: text/csv; name=a.csv',
	'Content-Disposition: attachment; filename=a.csv',
	'',
	'a,b',
	'--x--',
	'',
].join('\r\n');

function triggerOn(folder: string, staticData: IDataObject) {
	return fakeTrigger({
		description: node.description,
		parameters: params(folder),
		credentials: dovecot.credentials(),
		staticData,
	});
}

describe('CRM Email IMAP Trigger node', () => {
	it('declares a trigger n8n accepts', () => {
		const d = node.description;
		assert.deepEqual(d.inputs, []);
		assert.match(d.name, /Trigger$/);
		assert.equal(d.credentials?.[0].name, 'crmImapApi');
		assert.equal(d.credentials?.[0].testedBy, 'crmImapConnectionTest');
	});

	it('emits mails in batches, with binaries, and never again after a re-activation', async () => {
		await ensureFolder(admin, 'N1');
		await appendMails(admin, 'N1', [
			ATTACHED,
			makeMail({ subject: 'two' }),
			makeMail({ subject: 'three' }),
		]);
		const staticData: IDataObject = {};
		const first = triggerOn('N1', staticData);
		const response = await node.trigger.call(first.ctx);
		await waitFor(() => first.emitted.flat().length === 3, 10_000, 'three mails');
		await response.closeFunction?.();
		assert.deepEqual(
			first.emitted.map((b) => b.length),
			[2, 1],
		);
		const [withFile] = first.emitted[0] as INodeExecutionData[];
		assert.equal(withFile.json.subject, 'with file');
		assert.equal(withFile.binary?.attachment_0.fileName, 'a.csv');
		assert.equal(Buffer.from(withFile.binary!.attachment_0.data, 'base64').toString(), 'a,b');
		assert.ok(
			JSON.stringify(staticData).includes('"lastUid":3'),
			'the watermark is in static data',
		);

		const second = triggerOn('N1', staticData);
		const r2 = await node.trigger.call(second.ctx);
		await appendMails(admin, 'N1', [makeMail({ subject: 'four' })]);
		// Poll interval is a minute; a restart of the trigger is what notices "four" here.
		await r2.closeFunction?.();
		const third = triggerOn('N1', staticData);
		const r3 = await node.trigger.call(third.ctx);
		await waitFor(() => [...second.emitted, ...third.emitted].length === 1, 10_000, 'mail four');
		await r3.closeFunction?.();
		assert.deepEqual(
			[...second.emitted, ...third.emitted].flat().map((i) => i.json.subject),
			['four'],
		);
		assert.equal(JSON.stringify(staticData).includes('hunter'), false);
	});

	it('shows the newest mails as test event without moving the watermark', async () => {
		await ensureFolder(admin, 'N2');
		await appendMails(
			admin,
			'N2',
			Array.from({ length: 7 }, (_, i) => ({
				raw: makeMail({ subject: `m${i}` }),
				date: new Date(Date.UTC(2026, 0, 1 + i)),
			})),
		);
		const staticData = {};
		const t = fakeTrigger({
			description: node.description,
			parameters: params('N2'),
			credentials: dovecot.credentials(),
			staticData,
			mode: 'manual',
		});
		const response = await node.trigger.call(t.ctx);
		await response.manualTriggerFunction?.();
		assert.deepEqual(
			t.emitted[0].map((i) => i.json.subject),
			['m6', 'm5', 'm4', 'm3', 'm2'],
		);
		assert.deepEqual(staticData, {});
	});

	it('fails activation with a clear error on a wrong password, without the password', async () => {
		const t = fakeTrigger({
			description: node.description,
			parameters: params('INBOX'),
			credentials: { ...dovecot.credentials(), password: 'wrong-pass-123' },
		});
		await assert.rejects(node.trigger.call(t.ctx), (e: Error) => {
			assert.match(e.message, /refused the login for user "support"/);
			assert.doesNotMatch(e.message, /wrong-pass-123/);
			return true;
		});
	});

	it('fails activation on a dropped connection with the server named and "Error code: …"', async () => {
		// A server that resets every connection: the message names it and the OS code, which
		// n8n would otherwise swap for a generic sentence.
		const server = createServer((socket) => socket.resetAndDestroy());
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		try {
			const { port } = server.address() as AddressInfo;
			const t = fakeTrigger({
				description: node.description,
				parameters: params('INBOX'),
				credentials: { ...dovecot.credentials(), host: '127.0.0.1', port },
			});
			await assert.rejects(node.trigger.call(t.ctx), (e: Error) => {
				assert.ok(e instanceof NodeOperationError);
				assert.equal(
					e.message,
					`The connection to the IMAP server 127.0.0.1:${port} was lost (ECONNRESET)`,
				);
				assert.equal(e.description, 'Error code: IMAP_CONNECTION_LOST');
				return true;
			});
		} finally {
			server.close();
		}
	});

	it('rejects a bad parameter naming it', async () => {
		const t = fakeTrigger({
			description: node.description,
			parameters: params('INBOX', { batchSize: 0 }),
			credentials: dovecot.credentials(),
		});
		await assert.rejects(node.trigger.call(t.ctx), /Max Mails per Execution/);
	});

	it('tests the credential: OK, wrong password, refused connection', async () => {
		const test = node.methods.credentialTest.crmImapConnectionTest;
		const run = (data: object) =>
			test.call(
				{} as ICredentialTestFunctions,
				{ id: '1', name: 'c', type: 'crmImapApi', data } as never,
			);
		assert.equal((await run(dovecot.credentials())).status, 'OK');
		const wrong = await run({ ...dovecot.credentials(), password: 'nope-nope' });
		assert.equal(wrong.status, 'Error');
		assert.match(wrong.message, /refused the login/);
		const refused = await run({ ...dovecot.credentials(), port: 1 });
		assert.equal(refused.status, 'Error');
		assert.match(refused.message, /refused the connection/);
		const tls = await run({ ...dovecot.credentials(), security: 'tls' });
		assert.equal(tls.status, 'Error');
		assert.match(tls.message, /TLS/);
	});

	it('lists folders for the folder picker', async () => {
		const ctx = {
			getCredentials: async () => dovecot.credentials(),
			getNode: () => ({}),
		} as unknown as ILoadOptionsFunctions;
		const folders = await node.methods.loadOptions.getFolders.call(ctx);
		assert.ok(folders.some((f) => f.value === 'INBOX'));
	});

	describe('an execution n8n lost (a queue-mode worker died)', () => {
		const lostRun = {
			status: 'crashed',
			data: {
				resultData: {
					error: {
						message:
							'This execution failed to be processed too many times and will no longer retry.',
					},
				},
			},
		} as unknown as IRun;

		it('fetches the batch again, and moves on once it is taken', async () => {
			await ensureFolder(admin, 'L1');
			await appendMails(admin, 'L1', [makeMail({ subject: 'one' }), makeMail({ subject: 'two' })]);
			let runs = 0;
			const t = fakeTrigger({
				description: node.description,
				parameters: params('L1', { options: { newMailDetection: 'idle' } }),
				credentials: dovecot.credentials(),
				staticData: {},
				execution: () => (++runs === 1 ? lostRun : undefined),
			});
			const response = await node.trigger.call(t.ctx);
			after(() => response.closeFunction?.());
			await waitFor(() => t.emitted.length === 2, 20_000, 'the batch fetched again');
			assert.deepEqual(
				t.emitted.map((batch) => batch.map((i) => i.json.subject)),
				[
					['one', 'two'],
					['one', 'two'],
				],
			);
			assert.match(
				t.failures[0].message,
				/fetched again: n8n lost the execution of 2 mails from L1:/,
			);
			await appendMails(admin, 'L1', [makeMail({ subject: 'three' })]);
			await waitFor(() => t.emitted.length === 3, 20_000, 'the next mail');
			await response.closeFunction?.();
			assert.deepEqual(
				t.emitted[2].map((i) => i.json.subject),
				['three'],
			);
		});

		it('gives a batch lost three times up, reported, so it blocks no mail behind it', async () => {
			await ensureFolder(admin, 'L2');
			await appendMails(admin, 'L2', [makeMail({ subject: 'poison' })]);
			const t = fakeTrigger({
				description: node.description,
				parameters: params('L2', { options: { newMailDetection: 'idle' } }),
				credentials: dovecot.credentials(),
				staticData: {},
				execution: (items) => (items[0].json.subject === 'poison' ? lostRun : undefined),
			});
			const response = await node.trigger.call(t.ctx);
			after(() => response.closeFunction?.());
			await waitFor(
				() => t.failures.some((f) => /3 times.*not fetched again/.test(f.message)),
				30_000,
				'the batch given up',
			);
			await appendMails(admin, 'L2', [makeMail({ subject: 'after' })]);
			await waitFor(() => t.emitted.some((b) => b[0].json.subject === 'after'), 20_000, 'the next');
			await response.closeFunction?.();
			assert.equal(t.emitted.filter((b) => b[0].json.subject === 'poison').length, 3);
		});
	});

	// Last: it stops the server for a while.
	it('records a failed execution when the server stays down, and carries on once it is back', async () => {
		await ensureFolder(admin, 'N3');
		const staticData: IDataObject = {};
		const t = triggerOn('N3', staticData);
		const response = await node.trigger.call(t.ctx);
		await admin.logout().catch(() => undefined);
		await dovecot.stop();
		await waitFor(() => t.failures.length > 0, 20_000, 'a failed execution');
		assert.match(t.failures[0].message, /refused the connection.*still retrying/);
		assert.equal(t.failures[0].constructor.name, 'NodeOperationError');
		await dovecot.start();
		admin = await dovecot.client();
		await appendMails(admin, 'N3', [makeMail({ subject: 'back' })]);
		await waitFor(() => t.emitted.length === 1, 30_000, 'the mail after the outage');
		await response.closeFunction?.();
		assert.equal(t.emitted[0][0].json.subject, 'back');
	});
});
