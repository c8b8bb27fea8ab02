/**
 * The OAuth2 glue (issue #13) with fake n8n contexts: the Authentication parameter and the
 * credential entries of every node that opens a mailbox, the three OAuth2 credentials, reading
 * the chosen credential, and n8n's refresh failures as errors an admin can act on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
	ICredentialDataDecryptedObject,
	ICredentialTestFunctions,
	INodeCredentialDescription,
	INodeTypeDescription,
} from 'n8n-workflow';

import { CrmGoogleOAuth2Api } from '../../../credentials/CrmGoogleOAuth2Api.credentials';
import { CrmMicrosoftOAuth2Api } from '../../../credentials/CrmMicrosoftOAuth2Api.credentials';
import { CrmOAuth2Api } from '../../../credentials/CrmOAuth2Api.credentials';
import { CrmEmailFilter } from '../../../nodes/EmailFilter/CrmEmailFilter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { CrmEmailImapTrigger } from '../../../nodes/ImapTrigger/CrmEmailImapTrigger.node.ts';
import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts';
import {
	crmOAuth2ConnectionTest,
	readImapCredentials,
	readSmtpCredentials,
	refreshFailure,
} from '../../../nodes/shared/mailAuth';
import { fakeExecute } from '../../../harness/fakeExecute';

const OAUTH2 = {
	microsoftOAuth2: 'crmMicrosoftOAuth2Api',
	googleOAuth2: 'crmGoogleOAuth2Api',
	oAuth2: 'crmOAuth2Api',
};

/** The credential types n8n shows for these parameter values. */
function shown(d: INodeTypeDescription, parameters: Record<string, unknown>): string[] {
	const visible = (c: INodeCredentialDescription) =>
		Object.entries(c.displayOptions?.show ?? {}).every(([k, values]) =>
			(values as unknown[]).includes(parameters[k]),
		);
	return (d.credentials ?? []).filter(visible).map((c) => c.name);
}

describe('Authentication parameter of the nodes that open a mailbox', () => {
	const trigger = new CrmEmailImapTrigger().description;
	const filter = new CrmEmailFilter().description;
	const sender = new CrmEmailTemplateSender().description;

	it('defaults to Password, so saved workflows keep their credentials', () => {
		for (const d of [trigger, filter, sender]) {
			const p = d.properties.find((x) => x.name === 'authentication');
			assert.ok(p, d.name);
			assert.equal(p.default, 'password');
			assert.deepEqual((p.options as Array<{ value: string }>).map((o) => o.value).sort(), [
				'googleOAuth2',
				'microsoftOAuth2',
				'oAuth2',
				'password',
			]);
		}
		assert.deepEqual(shown(trigger, { authentication: 'password' }), ['crmImapApi']);
		assert.deepEqual(shown(sender, { authentication: 'password', appendToSent: true }), [
			'crmSmtpApi',
			'crmEmailSigningApi',
			'crmImapApi',
		]);
		assert.deepEqual(shown(filter, { authentication: 'password', applyOnServer: false }), []);
	});

	it('each OAuth2 choice shows its credential alone (the Sent copy uses it too)', () => {
		for (const [value, type] of Object.entries(OAUTH2)) {
			assert.deepEqual(shown(trigger, { authentication: value }), [type]);
			assert.deepEqual(shown(filter, { authentication: value, applyOnServer: true }), [type]);
			assert.deepEqual(shown(sender, { authentication: value, appendToSent: true }), [
				'crmEmailSigningApi',
				type,
			]);
		}
		for (const d of [trigger, filter, sender])
			for (const c of d.credentials ?? [])
				if (Object.values(OAUTH2).includes(c.name))
					assert.equal(c.testedBy, 'crmOAuth2ConnectionTest');
	});
});

describe('OAuth2 credentials', () => {
	const field = (props: Array<{ name: string; default: unknown }>, name: string) =>
		props.find((p) => p.name === name)?.default;

	it('extend n8n oAuth2Api with provider scopes, servers and an account address', () => {
		const ms = new CrmMicrosoftOAuth2Api();
		assert.deepEqual(ms.extends, ['oAuth2Api']);
		assert.deepEqual(String(field(ms.properties, 'scope')).split(' ').sort(), [
			'https://outlook.office.com/IMAP.AccessAsUser.All',
			'https://outlook.office.com/SMTP.Send',
			'offline_access',
		]);
		assert.match(String(field(ms.properties, 'authUrl')), /\{\{\$self\["tenant"\]\}\}/);
		assert.match(String(field(ms.properties, 'accessTokenUrl')), /\{\{\$self\["tenant"\]\}\}/);
		assert.equal(field(ms.properties, 'imapHost'), 'outlook.office365.com');
		assert.equal(field(ms.properties, 'smtpHost'), 'smtp.office365.com');
		assert.equal(field(ms.properties, 'smtpPort'), 587);
		assert.equal(field(ms.properties, 'smtpSecurity'), 'starttls');

		const g = new CrmGoogleOAuth2Api();
		assert.equal(field(g.properties, 'scope'), 'https://mail.google.com/');
		assert.match(String(field(g.properties, 'authQueryParameters')), /access_type=offline/);
		assert.equal(field(g.properties, 'imapHost'), 'imap.gmail.com');
		assert.equal(field(g.properties, 'smtpHost'), 'smtp.gmail.com');

		const any = new CrmOAuth2Api();
		assert.deepEqual(any.extends, ['oAuth2Api']);
		// The generic one keeps n8n's own URL and scope fields: none is overridden.
		assert.equal(field(any.properties, 'authUrl'), undefined);
		for (const c of [ms, g, any]) assert.equal(field(c.properties, 'user'), '');
	});
});

describe('reading the chosen credential', () => {
	const sender = new CrmEmailTemplateSender().description;
	const stored = (expiresInMs: number) => ({
		user: 'agent@example.com',
		imapHost: 'imap.example.com',
		imapPort: 993,
		imapSecurity: 'tls',
		smtpHost: 'smtp.example.com',
		smtpPort: 587,
		smtpSecurity: 'starttls',
		allowedFrom: 'agent@example.com',
		oauthTokenData: {
			access_token: 'old-token',
			refresh_token: 'r',
			expires_in: 3600,
			n8n_expires_at: String(Date.now() + expiresInMs),
		},
	});

	it('no Authentication parameter (a workflow saved before OAuth2): the password credentials', async () => {
		const f = fakeExecute({
			description: sender,
			parameters: {},
			inputs: [[]],
			credentials: {
				crmSmtpApi: { host: 'smtp.example.com', user: 'u', password: 'p' },
				crmImapApi: { host: 'imap.example.com', user: 'u', password: 'p' },
			},
		});
		const smtp = await readSmtpCredentials(f.ctx);
		assert.equal(smtp.password, 'p');
		assert.equal(smtp.oauth, undefined);
		assert.equal((await readImapCredentials(f.ctx)).host, 'imap.example.com');
		assert.deepEqual(f.credentialsAsked, ['crmSmtpApi', 'crmImapApi']);
	});

	it('OAuth2: servers from the credential; a token about to expire is refreshed through n8n first', async () => {
		const data = stored(30_000);
		let refreshed = 0;
		const f = fakeExecute({
			description: sender,
			parameters: { authentication: 'microsoftOAuth2' },
			inputs: [[]],
			credentials: { crmMicrosoftOAuth2Api: data },
		});
		Object.assign(f.ctx.helpers, {
			refreshOAuth2Token: async (type: string) => {
				assert.equal(type, 'crmMicrosoftOAuth2Api');
				refreshed++;
				data.oauthTokenData = {
					...data.oauthTokenData,
					access_token: 'new-token',
					n8n_expires_at: String(Date.now() + 3_600_000),
				};
				return data.oauthTokenData;
			},
		});
		const smtp = await readSmtpCredentials(f.ctx);
		assert.deepEqual(
			[smtp.host, smtp.port, smtp.security, smtp.user, smtp.password],
			['smtp.example.com', 587, 'starttls', 'agent@example.com', ''],
		);
		assert.equal(refreshed, 1);
		assert.equal(await smtp.oauth?.token(), 'new-token');
		const imap = await readImapCredentials(f.ctx);
		assert.deepEqual([imap.host, imap.port, imap.security], ['imap.example.com', 993, 'tls']);
		assert.equal(await imap.oauth?.token(), 'new-token');
		assert.equal(refreshed, 1, 'the refreshed token is read, not refreshed again');
	});

	it('a grant n8n cannot refresh fails the execution, naming the credential, before any item', async () => {
		const f = fakeExecute({
			description: sender,
			parameters: { authentication: 'oAuth2' },
			inputs: [[]],
			credentials: { crmOAuth2Api: stored(-1000) },
		});
		Object.assign(f.ctx.getNode(), {
			credentials: { crmOAuth2Api: { id: '3', name: 'Help desk mailbox' } },
		});
		Object.assign(f.ctx.helpers, {
			refreshOAuth2Token: async () => {
				// n8n 2.41's answer to invalid_grant.
				throw Object.assign(
					new Error('The credential "Help desk mailbox" needs to be reconnected.'),
					{
						failure: { cause: 'credential-invalid' },
					},
				);
			},
		});
		await assert.rejects(readSmtpCredentials(f.ctx), (e: Error & { description?: string }) => {
			assert.equal(e.constructor.name, 'NodeOperationError');
			assert.match(e.message, /OAuth2 credential "Help desk mailbox" needs to be reconnected/);
			assert.equal(e.description, 'Error code: OAUTH_RECONNECT');
			return true;
		});
	});
});

describe("n8n's refresh failures", () => {
	it('those only a person can mend say to reconnect; the rest are refresh failures', () => {
		const reconnect = [
			Object.assign(new Error('The credential "M" needs to be reconnected.'), {
				failure: { cause: 'credential-invalid' },
			}),
			new Error(
				'OAuth access token expired and no refresh token is available. Please reconnect the credentials.',
			),
			new Error('OAuth credentials not connected'),
		];
		for (const e of reconnect) {
			const d = refreshFailure(e, 'M');
			assert.equal(d.code, 'OAUTH_RECONNECT', e.message);
			assert.match(d.message, /"M" needs to be reconnected/);
		}
		const down = refreshFailure(new Error('connect ECONNREFUSED 127.0.0.1:9'), 'M');
		assert.equal(down.code, 'OAUTH_REFRESH_FAILED');
		assert.match(down.message, /"M".*ECONNREFUSED/);
	});
});

describe('OAuth2 credential test', () => {
	const ctx = {} as ICredentialTestFunctions;
	const run = async (data: ICredentialDataDecryptedObject) =>
		await crmOAuth2ConnectionTest.call(ctx, { id: '1', name: 'c', type: 'crmOAuth2Api', data });

	it('says to connect first when there is no token, and does not test with an expired one', async () => {
		const none = await run({ imapHost: 'imap.example.com', user: 'a@example.com' });
		assert.equal(none.status, 'Error');
		assert.match(none.message, /Not connected yet/);
		const expired = await run({
			imapHost: 'imap.example.com',
			user: 'a@example.com',
			oauthTokenData: { access_token: 't', n8n_expires_at: String(Date.now() - 1000) },
		});
		assert.equal(expired.status, 'OK');
		assert.match(expired.message, /expired and is refreshed when a node signs in/);
	});
});
