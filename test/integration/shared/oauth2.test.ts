/**
 * OAuth2 sign-in (XOAUTH2 / OAUTHBEARER, issue #13) against real servers, no protocol mocks: a
 * local authorization server (harness/oauth2Server.ts) issues short-lived tokens; Dovecot's
 * oauth2 passdb and the SMTP test server check each one at its introspection endpoint; imapflow
 * and nodemailer sign in as the nodes will. The answers asserted here are written up in
 * docs/oauth2.md.
 *
 * Dovecot answers a refused login after 2 s and then holds the next login from the same address
 * for 4 s (8, 15 s after more refusals): the groups below run side by side, each with servers of
 * its own, so the file takes about as long as its slowest group.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';

import { Dovecot, freePort } from '../../../harness/dovecot';
import { OAuth2Error, OAuth2Server, type TokenResponse } from '../../../harness/oauth2Server';
import { SmtpSink } from '../../../harness/smtp';

const USER = 'agent@example.com';
/** Seconds: tokens meant to expire within a test. */
const SHORT = 2;
/** Seconds: tokens that must outlive Dovecot's delays after a refusal. */
const LONG = 60;

/** What imapflow puts on the error of a refused AUTHENTICATE. */
interface ImapAuthError {
	authenticationFailed?: boolean;
	serverResponseCode?: string;
	response?: string;
	oauthError?: Record<string, string>;
}

function imap(dovecot: Dovecot, user: string, accessToken: string): ImapFlow {
	return new ImapFlow({
		host: dovecot.host,
		port: dovecot.port,
		secure: false,
		doSTARTTLS: false,
		auth: { user, accessToken },
		logger: false,
	});
}

async function signedIn(dovecot: Dovecot, user: string, accessToken: string): Promise<ImapFlow> {
	const client = imap(dovecot, user, accessToken);
	await client.connect();
	return client;
}

async function refused(dovecot: Dovecot, user: string, accessToken: string) {
	const client = imap(dovecot, user, accessToken);
	const err = await client.connect().then(
		async () => {
			await client.logout();
			return undefined;
		},
		(e: unknown) => e as ImapAuthError,
	);
	assert.ok(err, `Dovecot let ${user} in with this token`);
	return err;
}

/** The mechanisms of the user's logins, from Dovecot's own log (written a moment later). */
async function loginMechanisms(dovecot: Dovecot, user: string, count: number): Promise<string[]> {
	const line = new RegExp(`Login: user=<${user.replace(/\./g, '\\.')}>, method=([A-Z0-9-]+),`, 'g');
	let found: string[] = [];
	for (let i = 0; i < 40 && found.length < count; i++) {
		found = [...readFileSync(join(dovecot.dir, 'dovecot.log'), 'utf8').matchAll(line)].map(
			(m) => m[1],
		);
		if (found.length < count) await new Promise((r) => setTimeout(r, 50));
	}
	return found;
}

async function outlive(seconds: number): Promise<void> {
	await new Promise((r) => setTimeout(r, seconds * 1000 + 300));
}

async function shortLived(as: OAuth2Server, user = USER): Promise<TokenResponse> {
	as.accessTokenTtl = SHORT;
	try {
		return await as.signIn(user);
	} finally {
		as.accessTokenTtl = LONG;
	}
}

const FAILED = /^\d+ NO \[AUTHENTICATIONFAILED\] Authentication failed\.$/;

describe('OAuth2 sign-in against real servers', { concurrency: true }, () => {
	describe(
		'IMAP: Dovecot offering OAUTHBEARER and XOAUTH2 (as Gmail does)',
		{ concurrency: 1 },
		() => {
			let as: OAuth2Server;
			let dovecot: Dovecot;
			before(async () => {
				as = await new OAuth2Server({ accessTokenTtl: LONG }).start();
				dovecot = new Dovecot(undefined, {
					oauth2: { introspectionUrl: as.introspectionUrlWithClient() },
				});
				await dovecot.start();
			});
			after(async () => {
				await dovecot.destroy();
				await as.stop();
			});

			it('imapflow signs in with {user, accessToken}, over OAUTHBEARER; every login is checked at the introspection endpoint; password users still log in', async () => {
				const t = await as.signIn(USER);
				const asked = as.counts.introspections;
				for (let i = 0; i < 2; i++) {
					const client = await signedIn(dovecot, USER, t.access_token);
					assert.ok(client.authenticated);
					await client.logout();
				}
				assert.equal(as.counts.introspections - asked, 2, 'no auth cache: each login asks');
				assert.deepEqual(await loginMechanisms(dovecot, USER, 2), ['OAUTHBEARER', 'OAUTHBEARER']);

				const password = await dovecot.client();
				assert.ok(password.authenticated);
				await password.logout();
			});

			it('after its lifetime the token is refused at login (a session opened before goes on); a refresh_token grant gives a token that signs in', async () => {
				const t = await shortLived(as);
				const open = await signedIn(dovecot, USER, t.access_token);
				await outlive(SHORT);
				// Dovecot checks the token at login only. Exchange Online ends such a session instead
				// ("* BYE Session invalidated - AccessTokenExpired"), see docs/oauth2.md.
				assert.deepEqual(await open.status('INBOX', { messages: true }), {
					path: 'INBOX',
					messages: 0,
				});
				await open.logout();

				const err = await refused(dovecot, USER, t.access_token);
				assert.equal(err.authenticationFailed, true);
				assert.equal(err.serverResponseCode, 'AUTHENTICATIONFAILED');
				assert.match(err.response ?? '', FAILED);
				// OAUTHBEARER's error challenge (RFC 7628), sent before the tagged NO.
				assert.deepEqual(err.oauthError, { status: 'invalid_token' });

				const refreshed = await as.refresh(t.refresh_token);
				assert.notEqual(refreshed.access_token, t.access_token);
				assert.equal(refreshed.refresh_token, t.refresh_token, 'no rotation unless asked for');
				assert.equal(refreshed.expires_in, LONG);
				const client = await signedIn(dovecot, USER, refreshed.access_token);
				assert.ok(client.authenticated);
				await client.logout();
			});

			it("a session the server ends (as Exchange Online ends one whose token expired): imapflow emits close, idle() returns, and byeReason holds the server's words", async () => {
				const client = await signedIn(dovecot, USER, (await as.signIn(USER)).access_token);
				await client.mailboxOpen('INBOX');
				const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
				const idling = client.idle();
				await new Promise((r) => setTimeout(r, 200));
				const kick = spawnSync('doveadm', ['-c', dovecot.configPath, 'kick', USER]);
				assert.equal(kick.status, 0, String(kick.stderr));
				await closed;
				assert.equal(await idling, false);
				assert.equal(client.usable, false);
				assert.equal(client.byeReason, 'Server shutting down.');
				await assert.rejects(client.status('INBOX', { messages: true }), { code: 'NoConnection' });
			});

			it('a revoked grant: its refresh gets invalid_grant and its access token no longer signs in', async () => {
				const t = await as.signIn(USER);
				await as.revoke(t.refresh_token);
				await assert.rejects(
					as.refresh(t.refresh_token),
					(e: unknown) =>
						e instanceof OAuth2Error && e.status === 400 && e.body.error === 'invalid_grant',
				);
				const err = await refused(dovecot, USER, t.access_token);
				assert.match(err.response ?? '', FAILED);
			});
		},
	);

	describe(
		'IMAP: Dovecot offering XOAUTH2 only (as Microsoft 365 does)',
		{ concurrency: 1 },
		() => {
			let as: OAuth2Server;
			let dovecot: Dovecot;
			before(async () => {
				as = await new OAuth2Server({ accessTokenTtl: LONG }).start();
				dovecot = new Dovecot(undefined, {
					oauth2: { introspectionUrl: as.introspectionUrlWithClient(), mechanisms: ['xoauth2'] },
				});
				await dovecot.start();
			});
			after(async () => {
				await dovecot.destroy();
				await as.stop();
			});

			it('imapflow signs in over XOAUTH2', async () => {
				const client = await signedIn(dovecot, USER, (await as.signIn(USER)).access_token);
				await client.logout();
				assert.deepEqual(await loginMechanisms(dovecot, USER, 1), ['XOAUTH2']);
			});

			it('an expired token is refused with the XOAUTH2 error challenge, then the same tagged NO', async () => {
				const t = await shortLived(as);
				await outlive(SHORT);
				const err = await refused(dovecot, USER, t.access_token);
				assert.equal(err.authenticationFailed, true);
				assert.equal(err.serverResponseCode, 'AUTHENTICATIONFAILED');
				assert.match(err.response ?? '', FAILED);
				assert.deepEqual(err.oauthError, { status: '401', schemes: 'bearer', scope: 'mail' });
			});

			it("a live token of another user does not open this user's mailbox", async () => {
				const other = await as.signIn('other@example.com');
				const err = await refused(dovecot, USER, other.access_token);
				assert.match(err.response ?? '', FAILED);
			});
		},
	);

	describe('IMAP: the introspection endpoint unreachable', () => {
		it('is a temporary failure, NO [UNAVAILABLE], without an OAuth error challenge: not a refused token', async () => {
			const dovecot = new Dovecot(undefined, {
				oauth2: { introspectionUrl: `http://127.0.0.1:${await freePort()}/introspect` },
			});
			await dovecot.start();
			try {
				const err = await refused(dovecot, USER, 'any-token');
				// imapflow flags every tagged NO to AUTHENTICATE as authenticationFailed.
				assert.equal(err.authenticationFailed, true);
				assert.equal(err.serverResponseCode, 'UNAVAILABLE');
				assert.match(
					err.response ?? '',
					/^\d+ NO \[UNAVAILABLE\] Temporary authentication failure\./,
				);
				assert.equal(err.oauthError, undefined);
			} finally {
				await dovecot.destroy();
			}
		});
	});

	describe('SMTP: smtp-server accepting XOAUTH2', { concurrency: 1 }, () => {
		let as: OAuth2Server;
		let sink: SmtpSink;
		before(async () => {
			as = await new OAuth2Server({ accessTokenTtl: LONG }).start();
			sink = await new SmtpSink(undefined, true, {
				oauth2: { introspectionUrl: as.introspectionUrlWithClient() },
			}).start();
		});
		after(async () => {
			await sink.stop();
			await as.stop();
		});

		async function send(user: string, accessToken: string, subject: string) {
			const transport = createTransport({
				host: '127.0.0.1',
				port: sink.port,
				secure: false,
				ignoreTLS: true,
				auth: { type: 'OAuth2', user, accessToken },
			});
			try {
				return await transport.sendMail({
					from: user,
					to: 'customer@example.org',
					subject,
					text: 'Hello',
				});
			} finally {
				transport.close();
			}
		}

		it('nodemailer sends with {type: OAuth2, user, accessToken} and the server receives the mail', async () => {
			const t = await as.signIn(USER);
			const info = await send(USER, t.access_token, 'Signed in with a token');
			assert.match(info.response, /^250 /);
			assert.deepEqual(
				sink.messages.map((m) => m.parsed.subject),
				['Signed in with a token'],
			);
		});

		it('an expired token: EAUTH 535 after the XOAUTH2 error challenge, nothing sent; nodemailer tries the same token twice', async () => {
			const t = await shortLived(as);
			await outlive(SHORT);
			const asked = as.counts.introspections;
			await assert.rejects(send(USER, t.access_token, 'Expired'), {
				code: 'EAUTH',
				responseCode: 535,
				command: 'AUTH XOAUTH2',
				response: '535 Error: Username and Password not accepted',
			});
			assert.equal(as.counts.introspections - asked, 2);
			assert.ok(!sink.messages.some((m) => m.parsed.subject === 'Expired'));

			const refreshed = await as.refresh(t.refresh_token);
			await send(USER, refreshed.access_token, 'After refresh');
			assert.ok(sink.messages.some((m) => m.parsed.subject === 'After refresh'));
		});

		it('a live token of another user is refused the same way; password sign-in still works', async () => {
			const other = await as.signIn('other@example.com');
			await assert.rejects(send(USER, other.access_token, 'Not mine'), {
				code: 'EAUTH',
				responseCode: 535,
			});
			const transport = createTransport({
				host: '127.0.0.1',
				port: sink.port,
				secure: false,
				ignoreTLS: true,
				auth: { user: 'sender', pass: 'smtp-secret' },
			});
			await transport.sendMail({ from: 'sender@example.com', to: 'c@example.org', text: 'x' });
			transport.close();
		});

		it('the introspection endpoint down: EAUTH 454, a temporary failure', async () => {
			const t = await as.signIn(USER);
			await as.stop();
			await assert.rejects(send(USER, t.access_token, 'Server down'), {
				code: 'EAUTH',
				responseCode: 454,
			});
		});
	});

	describe('the authorization server', { concurrency: 1 }, () => {
		let as: OAuth2Server;
		before(async () => {
			as = await new OAuth2Server({ accessTokenTtl: LONG, rotateRefreshTokens: true }).start();
		});
		after(async () => await as.stop());

		it('introspection needs client credentials and shows only live access tokens as active', async () => {
			const t = await as.signIn(USER, 'mail offline_access');
			const anonymous = await fetch(as.introspectionUrl, {
				method: 'POST',
				body: new URLSearchParams({ token: t.access_token }),
			});
			assert.equal(anonymous.status, 401);
			assert.deepEqual(await anonymous.json(), {
				error: 'invalid_client',
				error_description: 'client authentication failed',
			});

			const live = await as.introspect(t.access_token);
			assert.equal(live.active, true);
			assert.equal(live.username, USER);
			assert.equal(live.sub, USER);
			assert.equal(live.scope, 'mail offline_access');
			assert.ok(Math.abs(Number(live.exp) - (Date.now() / 1000 + LONG)) < 5);
			assert.deepEqual(await as.introspect(t.refresh_token), { active: false });
			assert.deepEqual(await as.introspect('made-up'), { active: false });
		});

		it('with rotation, a refresh returns a new refresh token and the old one gets invalid_grant', async () => {
			const t = await as.signIn(USER);
			const next = await as.refresh(t.refresh_token);
			assert.notEqual(next.refresh_token, t.refresh_token);
			await assert.rejects(as.refresh(t.refresh_token), {
				status: 400,
				body: {
					error: 'invalid_grant',
					error_description: 'refresh token is invalid, expired or revoked',
				},
			});
			assert.equal((await as.introspect(next.access_token)).active, true);
		});

		it('counts what it issued and was asked', async () => {
			const before = { ...as.counts };
			const t = await as.signIn(USER);
			const next = await as.refresh(t.refresh_token);
			await as.introspect(t.access_token);
			await as.revoke(next.refresh_token);
			assert.deepEqual(
				Object.fromEntries(
					Object.entries(as.counts).map(([k, v]) => [k, v - before[k as keyof typeof before]]),
				),
				{
					authorizations: 1,
					accessTokensIssued: 2,
					refreshGrants: 1,
					introspections: 1,
					activeIntrospections: 1,
					revocations: 1,
				},
			);
		});
	});
});
