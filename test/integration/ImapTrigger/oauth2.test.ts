/**
 * The IMAP trigger signed in with OAuth2 (issue #13), against real servers: Dovecot's oauth2
 * passdb checks every login at the local authorization server, which issues 6 s access tokens.
 * The credential is refreshed as n8n does it (harness N8nOAuth2Credential). Proves: intake of
 * hundreds of mails across several expiries and a session ended by the server, none lost or
 * repeated; a revoked grant is a failed execution naming the credential, the trigger keeps
 * retrying and carries on once the credential is reconnected.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { CrmEmailImapTrigger } from '../../../nodes/ImapTrigger/CrmEmailImapTrigger.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { appendMails, Dovecot, ensureFolder, makeMail } from '../../../harness/dovecot';
import { waitFor } from '../../../harness/intake';
import { N8nOAuth2Credential, OAuth2Server } from '../../../harness/oauth2Server';
import { fakeTrigger } from '../../helpers/fakeTrigger';

const USER = 'agent@example.com';
const CREDENTIAL = 'Support mailbox (OAuth2)';
const TTL = 6;

const node = new CrmEmailImapTrigger();
let as: OAuth2Server;
let dovecot: Dovecot;

before(async () => {
	as = await new OAuth2Server({ accessTokenTtl: TTL }).start();
	dovecot = new Dovecot([{ user: USER, password: 'admin-secret' }], {
		oauth2: { introspectionUrl: as.introspectionUrlWithClient() },
	});
	await dovecot.start();
});
after(async () => {
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
		},
		CREDENTIAL,
	);
	await cred.connect(USER);
	return cred;
}

function oauthTrigger(
	cred: N8nOAuth2Credential,
	folder: string,
	execution?: (items: INodeExecutionData[]) => Promise<void>,
) {
	const t = fakeTrigger({
		description: node.description,
		parameters: {
			authentication: 'oAuth2',
			folders: [folder],
			fetchSince: '2000-01-01T00:00:00Z',
			afterFetch: 'nothing',
			batchSize: 25,
			options: { newMailDetection: 'idle', pollIntervalSeconds: 60 },
		},
		credentials: cred.data,
		staticData: {} as IDataObject,
		execution,
	});
	// As n8n: the node's credential by type, and n8n's refresh helper.
	Object.assign(t.ctx.getNode(), { credentials: { crmOAuth2Api: { id: '7', name: CREDENTIAL } } });
	Object.assign(t.ctx.helpers, { refreshOAuth2Token: cred.refreshOAuth2Token });
	return t;
}

/** Ends the user's sessions, as Exchange Online does once a session's token expired. */
function kick(): void {
	const r = spawnSync('doveadm', ['-c', dovecot.configPath, 'kick', USER]);
	assert.equal(r.status, 0, String(r.stderr));
}

function oauthLogins(): number {
	const log = readFileSync(join(dovecot.dir, 'dovecot.log'), 'utf8');
	return [...log.matchAll(/Login: user=<agent@example\.com>, method=(OAUTHBEARER|XOAUTH2),/g)]
		.length;
}

/** A session of its own each time: kicking the user ends the admin's sessions too. */
async function append(folder: string, mails: string[]): Promise<void> {
	const admin = await dovecot.client();
	try {
		await ensureFolder(admin, folder);
		await appendMails(admin, folder, mails);
	} finally {
		await admin.logout().catch(() => undefined);
	}
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('IMAP trigger with OAuth2 against Dovecot and a real authorization server', () => {
	it('300 mails over several token lifetimes and a session ended by the server: none lost, none twice', async () => {
		await append('Bulk', []);
		const cred = await credential();
		const t = oauthTrigger(cred, 'Bulk', async () => await sleep(100));
		const loginsBefore = oauthLogins();
		const response = await node.trigger.call(t.ctx);
		try {
			const sent: string[] = [];
			for (let round = 0; round < 10; round++) {
				const mails = Array.from({ length: 30 }, (_, i) => {
					const id = `bulk-${round}-${i}@example.org`;
					sent.push(`<${id}>`);
					return makeMail({ messageId: id });
				});
				await append('Bulk', mails);
				if (round === 6) kick();
				await sleep(2000);
			}
			const emitted = () => t.emitted.flat();
			await waitFor(() => emitted().length >= sent.length, 60_000, 'all 300 mails');
			await sleep(1000);
			const ids = emitted().map((i) => String(i.json.messageId));
			assert.equal(ids.length, 300, 'each mail once');
			assert.deepEqual([...new Set(ids)].sort(), [...sent].sort());
			assert.deepEqual(t.failures, []);
			// 20 s of intake with 6 s tokens: the session was renewed with fresh tokens.
			assert.ok(cred.refreshes >= 3, `refreshes: ${cred.refreshes}`);
			assert.ok(oauthLogins() - loginsBefore >= 4, 'new sessions signed in with new tokens');
		} finally {
			await response.closeFunction?.();
		}
	});

	it('an expired token of unknown expiry: the refused sign-in is refreshed once and the trigger starts', async () => {
		await append('Unknown', [makeMail({ messageId: 'unknown-expiry@example.org' })]);
		const cred = await credential();
		// A provider that sends no expires_in: n8n records no expiry, so only a refusal tells.
		delete cred.tokenData.n8n_expires_at;
		await sleep(TTL * 1000 + 500);
		const t = oauthTrigger(cred, 'Unknown');
		const response = await node.trigger.call(t.ctx);
		try {
			await waitFor(() => t.emitted.flat().length === 1, 20_000, 'the mail');
			assert.equal(cred.refreshes, 1);
			assert.deepEqual(t.failures, []);
		} finally {
			await response.closeFunction?.();
		}
	});

	it('a revoked grant: a failed execution naming the credential; retries until it is reconnected, then carries on', async () => {
		await append('Revoked', []);
		const cred = await credential();
		const t = oauthTrigger(cred, 'Revoked');
		const response = await node.trigger.call(t.ctx);
		try {
			await append('Revoked', [makeMail({ messageId: 'before@example.org' })]);
			await waitFor(() => t.emitted.flat().length === 1, 20_000, 'the first mail');

			// The user withdraws consent at the provider: the refresh token and its access tokens die.
			await as.revoke(String(cred.tokenData.refresh_token));
			kick();
			await waitFor(() => t.failures.length > 0, 30_000, 'a failed execution');
			assert.equal(t.failures[0].constructor.name, 'NodeOperationError');
			assert.match(
				t.failures[0].message,
				new RegExp(
					`OAuth2 credential "${CREDENTIAL.replace(/[()]/g, '\\$&')}" needs to be reconnected`,
				),
			);
			assert.match(
				String((t.failures[0] as { description?: string }).description),
				/OAUTH_RECONNECT/,
			);
			assert.doesNotMatch(t.failures[0].message, new RegExp(String(cred.tokenData.access_token)));

			// Mail arriving meanwhile waits; once the admin signs in again, the trigger carries on.
			await append('Revoked', [makeMail({ messageId: 'during@example.org' })]);
			await cred.connect(USER);
			await waitFor(() => t.emitted.flat().length === 2, 60_000, 'the mail after reconnecting');
			assert.deepEqual(
				t.emitted.flat().map((i) => i.json.messageId),
				['<before@example.org>', '<during@example.org>'],
			);
		} finally {
			await response.closeFunction?.();
		}
	});
});
