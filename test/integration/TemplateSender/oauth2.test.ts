/**
 * The Template Sender signed in with OAuth2 (issue #13), against real servers: the SMTP test
 * server accepts XOAUTH2 and Dovecot's oauth2 passdb takes the Sent copies, both checking each
 * token at the local authorization server (3 s tokens). The credential is refreshed as n8n does
 * it (harness N8nOAuth2Credential). Proves: sending across an expiry fails nothing; a token the
 * server refuses is refreshed once and the mail still goes out; a revoked grant fails the items
 * with an error naming the credential.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IDataObject } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { Dovecot, ensureFolder } from '../../../harness/dovecot';
import { fakeExecute } from '../../../harness/fakeExecute';
import { N8nOAuth2Credential, OAuth2Server } from '../../../harness/oauth2Server';
import { SmtpSink, signingCredential } from '../../../harness/smtp';

const USER = 'support@example.com';
const TTL = 3;

const node = new CrmEmailTemplateSender();
let as: OAuth2Server;
let dovecot: Dovecot;
let sink: SmtpSink;

before(async () => {
	as = await new OAuth2Server({ accessTokenTtl: TTL }).start();
	const oauth2 = { introspectionUrl: as.introspectionUrlWithClient() };
	dovecot = new Dovecot([{ user: USER, password: 'admin-secret' }], { oauth2 });
	await dovecot.start();
	sink = await new SmtpSink({ user: USER, password: 'unused-password' }, true, { oauth2 }).start();
});
after(async () => {
	await sink.stop();
	await dovecot.destroy();
	await as.stop();
});

async function credential(): Promise<N8nOAuth2Credential> {
	const cred = new N8nOAuth2Credential(
		as,
		{
			user: USER,
			imapHost: dovecot.host,
			imapPort: dovecot.port,
			imapSecurity: 'none',
			smtpHost: '127.0.0.1',
			smtpPort: sink.port,
			smtpSecurity: 'none',
			allowedFrom: USER,
			defaultFrom: `Example Support <${USER}>`,
		},
		'crmOAuth2Api',
	);
	await cred.connect(USER);
	return cred;
}

let seq = 0;
function customerMail(): IDataObject {
	seq++;
	return {
		messageId: `<oc${seq}@customer.example>`,
		subject: `Question ${seq}`,
		from: { address: `ann${seq}@customer.example`, name: 'Ann' },
		replyTo: [],
		to: [{ address: USER, name: '' }],
		text: 'Hello',
		headers: {},
	};
}

async function send(cred: N8nOAuth2Credential, count: number, continueOnFail = false) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			authentication: 'oAuth2',
			operation: 'reply',
			from: '',
			subject: 'Re: your question',
			bodyHtml: '<p>Thanks</p>',
			bodyText: 'Thanks',
			appendToSent: true,
			options: { retryDelayMs: 10, sentFolder: 'Sent' },
		},
		inputs: [Array.from({ length: count }, () => ({ json: customerMail() }))],
		credentials: { crmOAuth2Api: cred.data, crmEmailSigningApi: signingCredential },
		continueOnFail,
	});
	Object.assign(f.ctx.helpers, { refreshOAuth2Token: cred.refreshOAuth2Token });
	return await node.execute.call(f.ctx);
}

async function sentCopies(): Promise<number> {
	const admin = await dovecot.client();
	try {
		await ensureFolder(admin, 'Sent');
		const status = await admin.status('Sent', { messages: true });
		return status ? (status.messages ?? 0) : 0;
	} finally {
		await admin.logout();
	}
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe(
	'Template Sender with OAuth2 against real SMTP and IMAP servers',
	{ concurrency: 1 },
	() => {
		it('sends across a token expiry, and puts the Sent copies in with the same sign-in: 0 failed', async () => {
			const cred = await credential();
			const copies = await sentCopies();
			const received = sink.messages.length;
			const [first, , failedFirst] = await send(cred, 10);
			assert.equal(first.length, 10);
			assert.deepEqual(failedFirst, []);
			await sleep(TTL * 1000 + 500);
			// The stored token has expired: it is refreshed before the sign-in, not after a refusal.
			const refusedBefore = as.counts.introspections - as.counts.activeIntrospections;
			const [second, , failedSecond] = await send(cred, 20);
			assert.deepEqual(failedSecond, []);
			assert.equal(second.length, 20);
			assert.equal(sink.messages.length - received, 30);
			assert.equal((await sentCopies()) - copies, 30);
			assert.ok(cred.refreshes >= 1);
			assert.equal(as.counts.introspections - as.counts.activeIntrospections, refusedBefore);
			assert.ok(sink.logins.every((u) => u === USER));
		});

		it('a token the server refuses (its expiry unknown) is refreshed once; the mails still go out', async () => {
			const cred = await credential();
			// A provider that sends no expires_in: n8n records no expiry, so only a refusal tells.
			delete cred.tokenData.n8n_expires_at;
			await sleep(TTL * 1000 + 500);
			const [sent, , failed] = await send(cred, 3);
			assert.deepEqual(failed, []);
			assert.equal(sent.length, 3);
			assert.equal(cred.refreshes, 1, 'SMTP refused, refreshed; IMAP used the refreshed token');
			assert.deepEqual(
				sent.map((s) => (s.json.sent as IDataObject).sentFolder),
				Array(3).fill({ folder: 'Sent', appended: true }),
			);
		});

		it('a revoked grant: the execution fails naming the credential and saying to reconnect it; nothing is sent', async () => {
			const cred = await credential();
			await as.revoke(String(cred.tokenData.refresh_token));
			await sleep(TTL * 1000 + 500);
			const received = sink.messages.length;
			await assert.rejects(send(cred, 2, true), (error: Error & { description?: string }) => {
				assert.equal(error.constructor.name, 'NodeOperationError');
				assert.match(error.message, /OAuth2 credential "crmOAuth2Api" needs to be reconnected/);
				assert.match(String(error.description), /OAUTH_RECONNECT/);
				return true;
			});
			assert.equal(sink.messages.length, received);
		});

		it('a grant revoked while its access token still lives: the refused mails go to Failed, saying to reconnect', async () => {
			const cred = await credential();
			// Revoking ends the access tokens too: the SMTP server refuses, the refresh is refused.
			await as.revoke(String(cred.tokenData.refresh_token));
			const received = sink.messages.length;
			const [sent, , failed] = await send(cred, 2, true);
			assert.deepEqual(sent, []);
			assert.equal(failed.length, 2);
			for (const f of failed) {
				const error = f.json.error as IDataObject;
				assert.equal(error.code, 'OAUTH_RECONNECT');
				assert.match(String(error.message), /credential "crmOAuth2Api" needs to be reconnected/);
				assert.doesNotMatch(String(error.message), new RegExp(String(cred.tokenData.access_token)));
			}
			assert.equal(sink.messages.length, received);
		});
	},
);
