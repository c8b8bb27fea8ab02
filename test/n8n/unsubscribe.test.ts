/**
 * workflows/unsubscribe.json in a real n8n, installed from the npm tarball, with the other
 * shipped files imported beside it: a bulk mail goes out through a Template Sender workflow to
 * the SMTP sink, its List-Unsubscribe URL is called as a mail client and a recipient would
 * (POST one-click, GET), and the next bulk mail to that address is Not Sent with OPTED_OUT.
 * Forged and altered links answer 400 and add nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { freePort } from '../../harness/dovecot';
import { waitFor } from '../../harness/intake';
import { ensureN8n, N8n, packPackage } from '../../harness/n8n';
import { SmtpSink } from '../../harness/smtp';

const root = join(__dirname, '..', '..');
const shipped = (file: string) => join(root, 'workflows', file);
let sink: SmtpSink;
let n8n: N8n;

/** A Sender workflow an admin might build: bulk mail to the address posted to it. */
function bulkWorkflow(port: number) {
	const respond = (name: string, y: number) => ({
		parameters: { respondWith: 'firstIncomingItem', options: {} },
		id: `d4000000-0000-4000-8000-00000000001${y}`,
		name,
		type: 'n8n-nodes-base.respondToWebhook',
		typeVersion: 1.1,
		position: [520, y * 100],
	});
	return {
		id: 'testBulkSender01',
		name: 'Newsletter (test)',
		nodes: [
			{
				parameters: {
					httpMethod: 'POST',
					path: 'newsletter',
					responseMode: 'responseNode',
					options: {},
				},
				id: 'd4000000-0000-4000-8000-000000000001',
				name: 'Send newsletter',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2.1,
				position: [0, 300],
				webhookId: 'd4000000-0000-4000-8000-0000000000a1',
			},
			{
				parameters: {
					operation: 'send',
					to: '={{ $json.body.to }}',
					subject: 'News for {Person.firstName}',
					bodyHtml: '<p>Our news</p>',
					bodyText: 'Our news',
					options: {
						bulk: true,
						optOutBaseUrl: `http://127.0.0.1:${port}/webhook/unsubscribe`,
					},
				},
				id: 'd4000000-0000-4000-8000-000000000002',
				name: 'Newsletter',
				type: 'n8n-nodes-crm-email.crmEmailTemplateSender',
				typeVersion: 1,
				position: [260, 300],
				credentials: { crmSmtpApi: { id: 'crmSmtpSupport', name: 'Support mailbox (SMTP)' } },
			},
			respond('Sent', 2),
			respond('Not sent', 4),
		],
		connections: {
			'Send newsletter': { main: [[{ node: 'Newsletter', type: 'main', index: 0 }]] },
			Newsletter: {
				main: [
					[{ node: 'Sent', type: 'main', index: 0 }],
					[{ node: 'Not sent', type: 'main', index: 0 }],
					[],
				],
			},
		},
		settings: { executionOrder: 'v1' },
		active: false,
		pinData: {},
		tags: [],
	};
}

before(async () => {
	const bins = ensureN8n();
	sink = await new SmtpSink().start();
	n8n = new N8n(bins);
	n8n.port = await freePort();
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
				id: 'crmSmtpSupport',
				name: 'Support mailbox (SMTP)',
				type: 'crmSmtpApi',
				// No signing credential: the Sender and the Opt-Out node both sign with n8n's key.
				data: { ...sink.credentials() },
			},
		]),
	);
	n8n.cli(['import:credentials', `--input=${creds}`]);
	// The three shipped files, unchanged; only the unsubscribe workflow is published here (the
	// other two watch mailboxes, which workflows.test.ts covers).
	for (const file of ['email-to-case.json', 'auto-reply.json', 'unsubscribe.json'])
		n8n.cli(['import:workflow', `--input=${shipped(file)}`]);
	const bulk = join(n8n.userFolder, 'bulk.json');
	writeFileSync(bulk, JSON.stringify(bulkWorkflow(n8n.port)));
	n8n.cli(['import:workflow', `--input=${bulk}`]);
	n8n.cli(['publish:workflow', '--id=crmUnsubscribe01']);
	n8n.cli(['publish:workflow', '--id=testBulkSender01']);
	await n8n.start(0);
	// n8n says its editor is up before it has registered the published workflows' webhooks.
	await waitForWebhook('GET', 'unsubscribe');
	await waitForWebhook('POST', 'newsletter', '{}');
});

/** Calls a webhook until n8n knows it (a request that mails nobody: no address, no token). */
async function waitForWebhook(method: string, path: string, body?: string): Promise<void> {
	const deadline = Date.now() + 60_000;
	for (;;) {
		const r = await fetch(`${n8n.url}/webhook/${path}`, {
			method,
			headers: { 'content-type': 'application/json' },
			body,
		});
		await r.text();
		if (r.status !== 404) return;
		if (Date.now() > deadline)
			throw new Error(
				`n8n never registered ${method} /webhook/${path}:\n${n8n.log.slice(-30).join('\n')}`,
			);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}

after(async () => {
	await n8n?.destroy();
	await sink?.stop();
});

async function newsletter(to: string): Promise<Record<string, unknown>> {
	const r = await fetch(`${n8n.url}/webhook/newsletter`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ to }),
	});
	const text = await r.text();
	assert.equal(r.status, 200, `newsletter webhook: ${text}\n${n8n.log.slice(-30).join('\n')}`);
	return JSON.parse(text) as Record<string, unknown>;
}

const listFile = () => join(n8n.userFolder, '.n8n', 'crm-email-state', 'opt-out-default.json');
const listed = () =>
	existsSync(listFile())
		? Object.keys((JSON.parse(readFileSync(listFile(), 'utf8')) as { addresses: object }).addresses)
		: [];
const to = (address: string) => sink.messages.filter((m) => m.to.includes(address));

describe('unsubscribe.json in a real n8n', () => {
	it('a bulk mail carries a one-click List-Unsubscribe link; calling it (POST, then GET) stops the next bulk mail to that address with OPTED_OUT; forged links are refused', async () => {
		const first = await newsletter('Ann Reader <ann@news.example>');
		assert.ok(first.sent, JSON.stringify(first));
		await waitFor(() => to('ann@news.example').length === 1, 30_000, 'the first newsletter');
		// Headers unfolded: a long one may go on over several lines.
		const raw = to('ann@news.example')[0]
			.raw.toString()
			.replace(/\r?\n[ \t]+/g, ' ');
		assert.match(raw, /^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/m);
		const link = /^List-Unsubscribe: <([^>]+)>/m.exec(raw)?.[1];
		assert.ok(link?.startsWith(`http://127.0.0.1:${n8n.port}/webhook/unsubscribe?`), raw);
		const url = new URL(link ?? '');
		assert.equal(url.searchParams.get('email'), 'ann@news.example');

		// Forged: Ann's token for another address; altered: one character of it changed; junk.
		const forged = new URL(url);
		forged.searchParams.set('email', 'bob@news.example');
		const altered = new URL(url);
		const token = url.searchParams.get('token') ?? '';
		altered.searchParams.set('token', token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'));
		const junk = new URL(url);
		junk.searchParams.set('token', '<script>');
		for (const bad of [forged, altered, junk]) {
			const r = await fetch(bad);
			const body = await r.text();
			assert.equal(r.status, 400, `${bad}: ${body}`);
			assert.match(body, /does not work/);
			assert.doesNotMatch(body, /<script>/);
		}
		assert.deepEqual(listed(), [], 'a refused link adds nothing');

		// RFC 8058: the mail client POSTs the one-click body; the recipient may click too.
		const oneClick = await fetch(url, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded' },
			body: 'List-Unsubscribe=One-Click',
		});
		assert.equal(oneClick.status, 200, await oneClick.text());
		const click = await fetch(url);
		assert.equal(click.status, 200);
		assert.match(await click.text(), /You are unsubscribed/);
		assert.deepEqual(listed(), ['ann@news.example']);

		const second = await newsletter('Ann Reader <ann@news.example>');
		assert.equal((second.notSent as { code?: string } | undefined)?.code, 'OPTED_OUT');
		const other = await newsletter('bob@news.example');
		assert.ok(other.sent, JSON.stringify(other));
		await waitFor(() => to('bob@news.example').length === 1, 30_000, "Bob's newsletter");
		assert.equal(to('ann@news.example').length, 1, 'no second newsletter to Ann');
	});
});
