import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import {
	classifyImapAuthError,
	classifySmtpAuthError,
	marginFor,
	tokenExpiresAt,
	TokenKeeper,
	TokenMissingError,
	tokenNeedsRefresh,
	type OAuth2TokenData,
} from '../../../nodes/shared/oauth2Token';
import { CrmEmailError } from '../../../nodes/shared/errors';
import { describeImapError, toImapCredentials } from '../../../nodes/shared/transport/imap';
import {
	describeSmtpError,
	isTemporary,
	toSmtpCredentials,
} from '../../../nodes/shared/transport/smtp';

const NOW = 1_750_000_000_000;

describe('tokenNeedsRefresh', () => {
	it('reads n8n_expires_at as n8n writes it (a string of epoch ms) and as a number', () => {
		assert.equal(tokenExpiresAt({ n8n_expires_at: String(NOW + 5000) }), NOW + 5000);
		assert.equal(tokenExpiresAt({ n8n_expires_at: NOW + 5000 }), NOW + 5000);
		const data = { access_token: 'a', n8n_expires_at: String(NOW + 61_000) };
		assert.equal(tokenNeedsRefresh(data, NOW, 60_000), 'fresh');
		assert.equal(tokenNeedsRefresh(data, NOW + 1000, 60_000), 'refresh');
		assert.equal(tokenNeedsRefresh(data, NOW + 999_999, 60_000), 'refresh');
	});

	it('a missing, empty or unreadable expiry is "unknown", never a guess', () => {
		for (const n8n_expires_at of [undefined, null, '', 'soon', 'NaN', '-5', 0, {}, []])
			assert.equal(
				tokenNeedsRefresh({ access_token: 'a', n8n_expires_at }, NOW, 60_000),
				'unknown',
				String(n8n_expires_at),
			);
	});

	it('no access token at all needs a refresh', () => {
		assert.equal(tokenNeedsRefresh(undefined, NOW, 0), 'refresh');
		assert.equal(tokenNeedsRefresh({ access_token: '' }, NOW, 0), 'refresh');
		assert.equal(tokenNeedsRefresh({ access_token: 5 }, NOW, 0), 'refresh');
	});

	it('is "refresh" exactly when the expiry is within the margin (property)', () => {
		fc.assert(
			fc.property(
				fc.integer({ min: 1, max: 2 ** 45 }),
				fc.integer({ min: 0, max: 2 ** 45 }),
				fc.integer({ min: 0, max: 3_600_000 }),
				fc.boolean(),
				(expiresAt, now, margin, asString) => {
					const data = {
						access_token: 't',
						n8n_expires_at: asString ? String(expiresAt) : expiresAt,
					};
					const verdict = tokenNeedsRefresh(data, now, margin);
					return verdict === (expiresAt - now <= margin ? 'refresh' : 'fresh');
				},
			),
		);
	});

	it('the margin is at most a quarter of the lifetime the token endpoint gave', () => {
		assert.equal(marginFor({ expires_in: 3600 }, 300_000), 300_000);
		assert.equal(marginFor({ expires_in: 20 }, 300_000), 5000);
		assert.equal(marginFor({ expires_in: '20' }, 300_000), 5000);
		assert.equal(marginFor({}, 300_000), 300_000);
		assert.equal(marginFor({ expires_in: -1 }, 300_000), 300_000);
	});
});

describe('auth failure classification', () => {
	it('IMAP: a refused token by authenticationFailed, minus the temporary codes', () => {
		// Dovecot, Gmail: AUTHENTICATIONFAILED; Exchange Online: no response code at all.
		assert.equal(
			classifyImapAuthError({
				authenticationFailed: true,
				serverResponseCode: 'AUTHENTICATIONFAILED',
			}),
			'refused',
		);
		assert.equal(classifyImapAuthError({ authenticationFailed: true }), 'refused');
		for (const code of ['UNAVAILABLE', 'SERVERBUG', 'LIMIT'])
			assert.equal(
				classifyImapAuthError({ authenticationFailed: true, serverResponseCode: code }),
				'temporary',
			);
		assert.equal(classifyImapAuthError({ code: 'ECONNREFUSED' }), 'other');
		assert.equal(classifyImapAuthError(undefined), 'other');
	});

	it('SMTP: EAUTH 535/534 refused, EAUTH 4xx temporary, the rest other', () => {
		assert.equal(classifySmtpAuthError({ code: 'EAUTH', responseCode: 535 }), 'refused');
		assert.equal(classifySmtpAuthError({ code: 'EAUTH', responseCode: 534 }), 'refused');
		assert.equal(classifySmtpAuthError({ code: 'EAUTH', responseCode: 454 }), 'temporary');
		assert.equal(classifySmtpAuthError({ code: 'EAUTH' }), 'other');
		assert.equal(classifySmtpAuthError({ code: 'EENVELOPE', responseCode: 550 }), 'other');
		assert.equal(classifySmtpAuthError(null), 'other');
	});
});

/** A stored credential and a refresh grant as n8n runs them, counted. */
function store(initial: OAuth2TokenData) {
	let data = initial;
	let n = 0;
	const s = {
		refreshes: 0,
		reads: 0,
		get data() {
			return data;
		},
		set(next: OAuth2TokenData) {
			data = next;
		},
		read: async () => {
			s.reads += 1;
			return data;
		},
		refresh: async () => {
			s.refreshes += 1;
			await new Promise((r) => setTimeout(r, 5));
			n += 1;
			data = { ...data, access_token: `t${n}`, n8n_expires_at: String(NOW + 3_600_000) };
			return data;
		},
	};
	return s;
}

describe('TokenKeeper', () => {
	it('hands out the stored token while fresh, reading it anew each time', async () => {
		const s = store({ access_token: 'a', n8n_expires_at: String(NOW + 3_600_000) });
		const keeper = new TokenKeeper({ ...s, marginMs: 300_000, now: () => NOW });
		assert.equal(await keeper.token(), 'a');
		// Another execution refreshed the credential: its token is used.
		s.set({ access_token: 'b', n8n_expires_at: String(NOW + 3_600_000) });
		assert.equal(await keeper.token(), 'b');
		assert.equal(s.refreshes, 0);
		assert.equal(keeper.renewAt(), NOW + 3_600_000 - 300_000);
	});

	it('refreshes ahead of expiry, once for many concurrent sign-ins', async () => {
		const s = store({ access_token: 'a', n8n_expires_at: String(NOW + 10_000) });
		const keeper = new TokenKeeper({ ...s, marginMs: 60_000, now: () => NOW });
		const tokens = await Promise.all([keeper.token(), keeper.token(), keeper.token()]);
		assert.deepEqual(tokens, ['t1', 't1', 't1']);
		assert.equal(s.refreshes, 1);
	});

	it('a sign-in that read the old token just before a refresh ended uses the new one', async () => {
		const s = store({ access_token: 'a', n8n_expires_at: String(NOW + 10_000) });
		let stale = false;
		const keeper = new TokenKeeper({
			read: async () =>
				stale ? { access_token: 'a', n8n_expires_at: String(NOW + 10_000) } : s.read(),
			refresh: s.refresh,
			marginMs: 60_000,
			now: () => NOW,
		});
		assert.equal(await keeper.token(), 't1');
		stale = true;
		assert.equal(await keeper.token(), 't1');
		assert.equal(s.refreshes, 1);
	});

	it('an unknown expiry: the stored token is used, refreshed only when refused', async () => {
		const s = store({ access_token: 'a' });
		const keeper = new TokenKeeper({ ...s, marginMs: 60_000, now: () => NOW });
		assert.equal(await keeper.token(), 'a');
		assert.equal(keeper.renewAt(), null);
		assert.equal(await keeper.refresh('a'), 't1');
		assert.equal(s.refreshes, 1);
	});

	it('a token refused on several connections is refreshed once', async () => {
		const s = store({ access_token: 'a', n8n_expires_at: String(NOW + 3_600_000) });
		const keeper = new TokenKeeper({ ...s, marginMs: 60_000, now: () => NOW });
		const refused = await keeper.token();
		assert.deepEqual(await Promise.all([keeper.refresh(refused), keeper.refresh(refused)]), [
			't1',
			't1',
		]);
		// Late news of the same refusal: the new token is already there.
		assert.equal(await keeper.refresh(refused), 't1');
		assert.equal(s.refreshes, 1);
		assert.deepEqual(keeper.secrets(), ['a', 't1']);
	});

	it('a refresh that fails reaches every waiting caller, and the next call tries again', async () => {
		const s = store({ access_token: 'a', n8n_expires_at: String(NOW) });
		let fail = true;
		const keeper = new TokenKeeper({
			read: s.read,
			refresh: async () => {
				if (fail) throw new Error('invalid_grant');
				return await s.refresh();
			},
			marginMs: 60_000,
			now: () => NOW,
		});
		const both = await Promise.allSettled([keeper.token(), keeper.token()]);
		assert.deepEqual(
			both.map((r) => r.status),
			['rejected', 'rejected'],
		);
		fail = false;
		assert.equal(await keeper.token(), 't1');
	});

	it('a refresh that gives no access token is an error, not an empty sign-in', async () => {
		const keeper = new TokenKeeper({
			read: async () => ({ access_token: 'a', n8n_expires_at: String(NOW) }),
			refresh: async () => ({ token_type: 'Bearer' }),
			marginMs: 0,
			now: () => NOW,
		});
		await assert.rejects(keeper.token(), TokenMissingError);
	});
});

describe('transport errors with OAuth2', () => {
	const token = 'ya29.secret-access-token-value';
	const oauth = {
		token: async () => token,
		refresh: async () => token,
		renewAt: () => null,
		secrets: () => [token],
	};
	const smtp = toSmtpCredentials({ host: 'smtp.example.com', port: 587, user: 'a@example.com' });
	const imap = toImapCredentials({ host: 'imap.example.com', user: 'a@example.com' });

	it('a refused token says what to check and never shows the token', () => {
		const s = describeSmtpError(
			{
				code: 'EAUTH',
				responseCode: 535,
				response: `535 5.7.3 Authentication unsuccessful ${token}`,
			},
			{ ...smtp, oauth },
		);
		assert.equal(s.code, 'SMTP_AUTH');
		assert.match(s.message, /refused the OAuth2 access token for user "a@example.com"/);
		assert.ok(!s.message.includes(token));
		const i = describeImapError(
			{ authenticationFailed: true, responseText: `Invalid credentials ${token}` },
			{ ...imap, oauth },
		);
		assert.equal(i.code, 'IMAP_AUTH');
		assert.match(i.message, /OAuth2 access token/);
		assert.ok(!i.message.includes(token));
	});

	it('EAUTH with a 4xx (the server could not check the login) is temporary, also with a password', () => {
		const e = describeSmtpError(
			{ code: 'EAUTH', responseCode: 454, response: '454 4.7.0 Temporary authentication failure' },
			smtp,
		);
		assert.equal(e.code, 'SMTP_TEMPORARY');
		assert.ok(isTemporary(e));
	});

	it('a failure of the token refresh reaches the caller as it was, through nodemailer', () => {
		const carried = new CrmEmailError(
			'OAUTH_RECONNECT',
			'The OAuth2 credential "M" needs to be reconnected',
		);
		const error = Object.assign(new Error(carried.message), { code: 'EAUTH', tokenError: carried });
		assert.equal(describeSmtpError(error, { ...smtp, oauth }), carried);
	});
});
