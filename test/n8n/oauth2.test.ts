/**
 * OAuth2 sign-in (issue #13) in a real n8n: an OAuth2 credential imported with its token data
 * (as n8n stores it after a sign-in), an IMAP trigger and a Template Sender both using it, the
 * local authorization server issuing 10 s access tokens that Dovecot and the SMTP server check at
 * its introspection endpoint. Mail arrives before and after the first token expired: every mail
 * gets its reply, and the token n8n refreshed is the one saved on the credential.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { appendMails, Dovecot, makeMail } from '../../harness/dovecot';
import { waitFor } from '../../harness/intake';
import { ensureN8n, N8n, packPackage } from '../../harness/n8n';
import { n8nTokenData, OAuth2Server } from '../../harness/oauth2Server';
import { SmtpSink } from '../../harness/smtp';

const USER = 'support@example.com';
const TTL = 10;
const CREDENTIAL = { id: 'crmOAuth2Support', name: 'Support mailbox (OAuth2)' };

let as: OAuth2Server;
let dovecot: Dovecot;
let sink: SmtpSink;
let n8n: N8n;
let firstToken: Record<string, unknown>;

before(async () => {
	const bins = ensureN8n();
	as = await new OAuth2Server({ accessTokenTtl: TTL }).start();
	const oauth2 = { introspectionUrl: as.introspectionUrlWithClient() };
	dovecot = new Dovecot([{ user: USER, password: 'admin-secret' }], { oauth2 });
	await dovecot.start();
	sink = await new SmtpSink({ user: USER, password: 'unused-password' }, true, { oauth2 }).start();
	n8n = new N8n(bins);
	const packDir = mkdtempSync(join(tmpdir(), 'crm-email-pack-'));
	try {
		n8n.installPackage(packPackage(packDir));
	} finally {
		rmSync(packDir, { recursive: true, force: true });
	}
	firstToken = n8nTokenData(await as.signIn(USER));
	const creds = join(n8n.userFolder, 'credentials.json');
	writeFileSync(
		creds,
		JSON.stringify([
			{
				...CREDENTIAL,
				type: 'crmOAuth2Api',
				data: {
					grantType: 'authorizationCode',
					authUrl: as.authorizeUrl,
					accessTokenUrl: as.tokenUrl,
					clientId: as.client.clientId,
					clientSecret: as.client.clientSecret,
					scope: 'mail',
					authQueryParameters: `login_hint=${USER}`,
					authentication: 'header',
					user: USER,
					imapHost: dovecot.host,
					imapPort: dovecot.port,
					imapSecurity: 'none',
					smtpHost: '127.0.0.1',
					smtpPort: sink.port,
					smtpSecurity: 'none',
					allowedFrom: USER,
					defaultFrom: `Example Support <${USER}>`,
					oauthTokenData: firstToken,
				},
			},
		]),
	);
	n8n.cli(['import:credentials', `--input=${creds}`]);
	const credentials = { crmOAuth2Api: CREDENTIAL };
	const workflow = {
		id: 'crmOAuth2Reply01',
		name: 'OAuth2 auto-reply',
		active: false,
		settings: { executionOrder: 'v1' },
		connections: { Mailbox: { main: [[{ node: 'Reply', type: 'main', index: 0 }]] } },
		nodes: [
			{
				id: 'c3000000-0000-4000-8000-000000000001',
				name: 'Mailbox',
				type: 'n8n-nodes-crm-email.crmEmailImapTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: { authentication: 'oAuth2', folders: ['INBOX'], fetchSince: '' },
				credentials,
			},
			{
				id: 'c3000000-0000-4000-8000-000000000002',
				name: 'Reply',
				type: 'n8n-nodes-crm-email.crmEmailTemplateSender',
				typeVersion: 1,
				position: [260, 0],
				// The defaults otherwise: an auto-reply in the thread, from the credential's address.
				parameters: {
					authentication: 'oAuth2',
					subject: '',
					bodyHtml: '<p>Thanks</p>',
					bodyText: 'Thanks',
				},
				credentials,
			},
		],
	};
	const file = join(n8n.userFolder, 'workflow.json');
	writeFileSync(file, JSON.stringify(workflow));
	n8n.cli(['import:workflow', `--input=${file}`]);
	n8n.cli(['publish:workflow', `--id=${workflow.id}`]);
	await n8n.start(1);
});

after(async () => {
	await n8n?.destroy();
	await sink?.stop();
	await dovecot?.destroy();
	await as?.stop();
});

async function waitForN8n(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
	try {
		await waitFor(cond, timeoutMs, what);
	} catch (error) {
		throw new Error(`${(error as Error).message}; n8n said:\n${n8n.log.slice(-60).join('\n')}`);
	}
}

async function customers(from: number, count: number): Promise<void> {
	const admin = await dovecot.client();
	try {
		await appendMails(
			admin,
			'INBOX',
			Array.from({ length: count }, (_, i) =>
				makeMail({ from: `Customer ${from + i} <c${from + i}@customer.example>` }),
			),
		);
	} finally {
		await admin.logout();
	}
}

/** The credential as n8n has it stored now. */
function storedTokenData(): Record<string, unknown> {
	const out = join(n8n.userFolder, 'exported.json');
	n8n.cli(['export:credentials', `--id=${CREDENTIAL.id}`, '--decrypted', `--output=${out}`]);
	const [credential] = JSON.parse(readFileSync(out, 'utf8')) as Array<{
		data: { oauthTokenData: Record<string, unknown> };
	}>;
	rmSync(out);
	return credential.data.oauthTokenData;
}

describe('OAuth2 in a real n8n', () => {
	it('the trigger and the sender run across token expiries; n8n saves the refreshed token', async () => {
		await customers(0, 3);
		await waitForN8n(() => sink.messages.length >= 3, 90_000, 'three replies');
		// Past the first token's life: the next sign-ins need a refreshed one.
		await new Promise((r) => setTimeout(r, TTL * 1000 + 2000));
		await customers(3, 3);
		await waitForN8n(() => sink.messages.length >= 6, 90_000, 'three more replies');
		await new Promise((r) => setTimeout(r, 2000));
		assert.deepEqual(
			sink.messages.map((m) => m.to[0]).sort(),
			Array.from({ length: 6 }, (_, i) => `c${i}@customer.example`).sort(),
			'each customer answered once',
		);
		assert.ok(as.counts.refreshGrants >= 1, 'n8n ran refresh grants');
		const stored = storedTokenData();
		assert.notEqual(stored.access_token, firstToken.access_token, 'the refreshed token is saved');
		assert.equal(stored.refresh_token, firstToken.refresh_token);
		assert.ok(Number(stored.n8n_expires_at) > Number(firstToken.n8n_expires_at));
		// The trigger's IDLE session is renewed with n8n's refreshed tokens (every 7.5 s here).
		const oauthLogins = () =>
			(
				readFileSync(join(dovecot.dir, 'dovecot.log'), 'utf8').match(
					/Login: user=<support@example\.com>, method=(OAUTHBEARER|XOAUTH2),/g,
				) ?? []
			).length;
		await waitForN8n(() => oauthLogins() >= 3, 30_000, 'two renewals of the IMAP session');
		assert.deepEqual(
			n8n.log.filter((l) =>
				/needs to be reconnected|Refreshing the access token|refused the OAuth2|IMAP connection closed/.test(
					l,
				),
			),
			[],
		);
	});
});
