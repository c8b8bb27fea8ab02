/**
 * A local OAuth2 authorization server on 127.0.0.1 for the OAuth2 (XOAUTH2 / OAUTHBEARER) tests:
 * authorization_code and refresh_token grants (RFC 6749), token introspection (RFC 7662) for
 * Dovecot's oauth2 passdb and the SMTP test server, and revocation (RFC 7009). Tokens are opaque
 * random strings kept in memory, with a lifetime in seconds, so a test can wait for real expiry.
 *
 * Why not oauth2-mock-server (the maintained package): it is stateless — introspection answers
 * `active: true` for any string, any refresh token is accepted, revocation does nothing — so the
 * expiry and revocation this test bed exists for would all be ours anyway, and it needs Node 22.
 * See docs/oauth2.md.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface OAuth2Client {
	clientId: string;
	clientSecret: string;
}

export interface OAuth2ServerOptions {
	/** Lifetime of an access token in seconds (`expires_in`); 20 unless set. */
	accessTokenTtl?: number;
	/**
	 * Issue a new refresh token on each refresh (Microsoft hands out new ones) and make the old
	 * one invalid at once (the strict case, as with reuse detection).
	 */
	rotateRefreshTokens?: boolean;
	clients?: OAuth2Client[];
}

/** The token endpoint's answer (RFC 6749 §5.1). */
export interface TokenResponse {
	access_token: string;
	token_type: 'Bearer';
	expires_in: number;
	refresh_token: string;
	scope: string;
}

/** The token endpoint's refusal (RFC 6749 §5.2), with the HTTP status it came with. */
export class OAuth2Error extends Error {
	constructor(
		readonly status: number,
		readonly body: { error: string; error_description?: string },
	) {
		super(`${status} ${body.error}${body.error_description ? `: ${body.error_description}` : ''}`);
	}
}

interface Grant {
	user: string;
	clientId: string;
	scope: string;
	revoked: boolean;
}
interface AccessToken {
	grant: Grant;
	expiresAt: number;
	issuedAt: number;
}
interface Code {
	grant: Grant;
	redirectUri: string;
	expiresAt: number;
}

const CODE_TTL_MS = 60_000;

function token(): string {
	return randomBytes(24).toString('base64url');
}

function same(a: string, b: string): boolean {
	const x = Buffer.from(a);
	const y = Buffer.from(b);
	return x.length === y.length && timingSafeEqual(x, y);
}

async function formBody(req: IncomingMessage): Promise<URLSearchParams> {
	const chunks: Buffer[] = [];
	for await (const c of req) chunks.push(c as Buffer);
	return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res: ServerResponse, status: number, body: object): void {
	res.writeHead(status, {
		'Content-Type': 'application/json',
		'Cache-Control': 'no-store',
		Pragma: 'no-cache',
	});
	res.end(JSON.stringify(body));
}

class Refusal extends Error {
	constructor(
		readonly status: number,
		readonly error: string,
		readonly description: string,
	) {
		super(description);
	}
}

export class OAuth2Server {
	/** Seconds; may be changed between grants (a short-lived token, then long-lived ones). */
	accessTokenTtl: number;
	readonly rotateRefreshTokens: boolean;
	readonly clients: OAuth2Client[];
	/** What happened, for assertions. */
	readonly counts = {
		authorizations: 0,
		accessTokensIssued: 0,
		refreshGrants: 0,
		introspections: 0,
		activeIntrospections: 0,
		revocations: 0,
	};
	port = 0;
	private readonly server: Server;
	private readonly codes = new Map<string, Code>();
	private readonly accessTokens = new Map<string, AccessToken>();
	private readonly refreshTokens = new Map<string, Grant>();

	constructor(options: OAuth2ServerOptions = {}) {
		this.accessTokenTtl = options.accessTokenTtl ?? 20;
		this.rotateRefreshTokens = options.rotateRefreshTokens ?? false;
		this.clients = options.clients ?? [{ clientId: 'crm-email', clientSecret: 'client-secret' }];
		this.server = createServer((req, res) => {
			this.route(req, res).catch((e: unknown) => {
				if (e instanceof Refusal)
					return send(res, e.status, { error: e.error, error_description: e.description });
				send(res, 500, { error: 'server_error', error_description: String(e) });
			});
		});
	}

	get client(): OAuth2Client {
		return this.clients[0];
	}
	get url(): string {
		return `http://127.0.0.1:${this.port}`;
	}
	get authorizeUrl(): string {
		return `${this.url}/authorize`;
	}
	get tokenUrl(): string {
		return `${this.url}/token`;
	}
	get introspectionUrl(): string {
		return `${this.url}/introspect`;
	}
	get revocationUrl(): string {
		return `${this.url}/revoke`;
	}
	/** The introspection URL with the client's credentials in it, as Dovecot takes them. */
	introspectionUrlWithClient(client = this.client): string {
		const u = new URL(this.introspectionUrl);
		u.username = client.clientId;
		u.password = client.clientSecret;
		return u.href;
	}

	async start(): Promise<this> {
		await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
		this.port = (this.server.address() as { port: number }).port;
		return this;
	}

	async stop(): Promise<void> {
		this.server.closeAllConnections();
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}

	private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const url = new URL(req.url ?? '/', this.url);
		const route = `${req.method} ${url.pathname}`;
		if (route === 'GET /authorize') return this.authorize(url.searchParams, res);
		if (req.method !== 'POST' || !['/token', '/introspect', '/revoke'].includes(url.pathname))
			throw new Refusal(404, 'not_found', `${route} is not an endpoint of this server`);
		const body = await formBody(req);
		const client = this.authenticateClient(req, body);
		if (url.pathname === '/token') return send(res, 200, this.token(client, body));
		if (url.pathname === '/introspect')
			return send(res, 200, this.introspectToken(body.get('token')));
		this.revokeToken(body.get('token') ?? '');
		res.writeHead(200).end();
	}

	/**
	 * The user "signs in" as `login_hint` (there is no login page) and is sent back to the
	 * redirect URI with a one-time code, as a real server does after consent.
	 */
	private authorize(q: URLSearchParams, res: ServerResponse): void {
		const client = this.clients.find((c) => c.clientId === q.get('client_id'));
		const redirectUri = q.get('redirect_uri');
		const user = q.get('login_hint');
		if (!client) throw new Refusal(400, 'invalid_client', 'unknown client_id');
		if (!redirectUri || !URL.canParse(redirectUri))
			throw new Refusal(400, 'invalid_request', 'redirect_uri must be an absolute URL');
		if (!user) throw new Refusal(400, 'invalid_request', 'login_hint names the user who signs in');
		const back = new URL(redirectUri);
		const state = q.get('state');
		if (state !== null) back.searchParams.set('state', state);
		if (q.get('response_type') !== 'code') {
			back.searchParams.set('error', 'unsupported_response_type');
		} else {
			const code = token();
			this.codes.set(code, {
				grant: { user, clientId: client.clientId, scope: q.get('scope') ?? '', revoked: false },
				redirectUri,
				expiresAt: Date.now() + CODE_TTL_MS,
			});
			this.counts.authorizations++;
			back.searchParams.set('code', code);
		}
		res.writeHead(302, { Location: back.href }).end();
	}

	/** client_secret_basic (as n8n sends it by default) or client_secret_post. */
	private authenticateClient(req: IncomingMessage, body: URLSearchParams): OAuth2Client {
		let id = body.get('client_id');
		let secret = body.get('client_secret');
		const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
		if (basic) {
			const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
			const colon = decoded.indexOf(':');
			// RFC 6749 §2.3.1 form-encodes both parts; n8n's client does not. Either matches.
			try {
				id = decodeURIComponent(decoded.slice(0, colon));
				secret = decodeURIComponent(decoded.slice(colon + 1));
			} catch {
				throw new Refusal(401, 'invalid_client', 'malformed client credentials');
			}
		}
		const client = this.clients.find((c) => c.clientId === id);
		if (!client || secret === null || !same(secret, client.clientSecret))
			throw new Refusal(401, 'invalid_client', 'client authentication failed');
		return client;
	}

	private token(client: OAuth2Client, body: URLSearchParams): TokenResponse {
		const grantType = body.get('grant_type');
		if (grantType === 'authorization_code') {
			const code = this.codes.get(body.get('code') ?? '');
			this.codes.delete(body.get('code') ?? '');
			if (!code || code.expiresAt <= Date.now() || code.grant.clientId !== client.clientId)
				throw new Refusal(400, 'invalid_grant', 'unknown, used or expired code');
			if (body.get('redirect_uri') !== code.redirectUri)
				throw new Refusal(400, 'invalid_grant', 'redirect_uri differs from the authorization');
			return this.issue(code.grant, this.newRefreshToken(code.grant));
		}
		if (grantType === 'refresh_token') {
			const presented = body.get('refresh_token') ?? '';
			const grant = this.refreshTokens.get(presented);
			if (!grant || grant.revoked || grant.clientId !== client.clientId)
				throw new Refusal(400, 'invalid_grant', 'refresh token is invalid, expired or revoked');
			this.counts.refreshGrants++;
			if (!this.rotateRefreshTokens) return this.issue(grant, presented);
			this.refreshTokens.delete(presented);
			return this.issue(grant, this.newRefreshToken(grant));
		}
		throw new Refusal(400, 'unsupported_grant_type', `grant_type ${grantType ?? '(none)'}`);
	}

	private newRefreshToken(grant: Grant): string {
		const refresh = token();
		this.refreshTokens.set(refresh, grant);
		return refresh;
	}

	private issue(grant: Grant, refreshToken: string): TokenResponse {
		const access = token();
		const now = Date.now();
		this.accessTokens.set(access, {
			grant,
			issuedAt: now,
			expiresAt: now + this.accessTokenTtl * 1000,
		});
		this.counts.accessTokensIssued++;
		return {
			access_token: access,
			token_type: 'Bearer',
			expires_in: this.accessTokenTtl,
			refresh_token: refreshToken,
			scope: grant.scope,
		};
	}

	/**
	 * RFC 7662. Only access tokens are ever active: a refresh token must never open a mailbox.
	 * An expired or revoked token is `{active: false}` and nothing else, as the RFC asks.
	 */
	private introspectToken(presented: string | null): object {
		this.counts.introspections++;
		const t = this.accessTokens.get(presented ?? '');
		if (!t || t.grant.revoked || t.expiresAt <= Date.now()) return { active: false };
		this.counts.activeIntrospections++;
		return {
			active: true,
			scope: t.grant.scope,
			client_id: t.grant.clientId,
			username: t.grant.user,
			sub: t.grant.user,
			token_type: 'Bearer',
			exp: Math.floor(t.expiresAt / 1000),
			iat: Math.floor(t.issuedAt / 1000),
		};
	}

	/**
	 * RFC 7009. Revoking a refresh token ends its grant: its access tokens stop working too, as
	 * when a user withdraws consent at the provider. Unknown tokens are ignored (the RFC's 200).
	 */
	private revokeToken(presented: string): void {
		const grant = this.refreshTokens.get(presented) ?? this.accessTokens.get(presented)?.grant;
		if (!grant) return;
		this.counts.revocations++;
		if (this.refreshTokens.has(presented)) grant.revoked = true;
		else this.accessTokens.delete(presented);
	}

	// The client side, over HTTP as n8n does it, for tests.

	/** The authorization-code flow end to end: authorize as `user`, then exchange the code. */
	async signIn(user: string, scope = 'mail', client = this.client): Promise<TokenResponse> {
		const redirectUri = 'http://127.0.0.1/rest/oauth2-credential/callback';
		const q = new URLSearchParams({
			response_type: 'code',
			client_id: client.clientId,
			redirect_uri: redirectUri,
			scope,
			state: 'st',
			login_hint: user,
		});
		const r = await fetch(`${this.authorizeUrl}?${q}`, { redirect: 'manual' });
		const location = r.headers.get('location');
		if (r.status !== 302 || !location)
			throw new OAuth2Error(r.status, (await r.json()) as OAuth2Error['body']);
		const code = new URL(location).searchParams.get('code') ?? '';
		return await formPost<TokenResponse>(
			this.tokenUrl,
			{ grant_type: 'authorization_code', code, redirect_uri: redirectUri },
			client,
		);
	}

	async refresh(refreshToken: string, client = this.client): Promise<TokenResponse> {
		return await formPost<TokenResponse>(
			this.tokenUrl,
			{ grant_type: 'refresh_token', refresh_token: refreshToken },
			client,
		);
	}

	/** What a resource server (Dovecot, the SMTP server) learns about a token. */
	async introspect(presented: string, client = this.client): Promise<Record<string, unknown>> {
		return await formPost(this.introspectionUrl, { token: presented }, client);
	}

	/** Withdraws a grant, as a user does at the provider, through the revocation endpoint. */
	async revoke(presented: string, client = this.client): Promise<void> {
		await formPost(this.revocationUrl, { token: presented }, client);
	}
}

/** A form POST with client_secret_basic, as n8n's OAuth2 client sends it by default. */
async function formPost<T>(
	url: string,
	form: Record<string, string>,
	client: OAuth2Client,
): Promise<T> {
	const r = await fetch(url, {
		method: 'POST',
		headers: {
			'Content-Type': 'application/x-www-form-urlencoded',
			Authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
		},
		body: new URLSearchParams(form),
	});
	const text = await r.text();
	const body = (text ? JSON.parse(text) : {}) as T & OAuth2Error['body'];
	if (!r.ok) throw new OAuth2Error(r.status, body);
	return body;
}

/**
 * RFC 7662 introspection as a resource server asks it (Dovecot's `introspection_mode = post`),
 * the client's credentials taken from the URL as Dovecot takes them.
 */
export async function introspectAt(url: string, token: string): Promise<Record<string, unknown>> {
	const u = new URL(url);
	const client = {
		clientId: decodeURIComponent(u.username),
		clientSecret: decodeURIComponent(u.password),
	};
	u.username = u.password = '';
	return await formPost(u.href, { token }, client);
}

/** n8n's token data: the token endpoint's answer plus `n8n_expires_at` (epoch ms, a string). */
export function n8nTokenData(t: TokenResponse, now = Date.now()): Record<string, unknown> {
	return { ...t, n8n_expires_at: String(now + t.expires_in * 1000) };
}

/**
 * An OAuth2 credential as n8n 2.41 keeps and refreshes it (docs/oauth2.md §3), for tests that run
 * the nodes outside n8n: `data` is what `getCredentials` returns (the same object, so a refresh is
 * seen by the next read), and `refreshOAuth2Token` behaves as n8n's helper does against this
 * server: serialised, no grant when the stored token changed since the call began, the result
 * saved with `n8n_expires_at`, a refused grant turned into n8n's "needs to be reconnected" error.
 */
export class N8nOAuth2Credential {
	refreshes = 0;
	private queue: Promise<unknown> = Promise.resolve();

	constructor(
		readonly server: OAuth2Server,
		readonly data: Record<string, unknown>,
		readonly name: string,
	) {}

	get tokenData(): Record<string, unknown> {
		return this.data.oauthTokenData as Record<string, unknown>;
	}

	/** Connects (or reconnects) the credential: a new grant for `user`. */
	async connect(user: string): Promise<void> {
		this.data.oauthTokenData = n8nTokenData(await this.server.signIn(user));
	}

	readonly refreshOAuth2Token = async (): Promise<Record<string, unknown>> => {
		const seen = this.tokenData.access_token;
		const run = this.queue.then(async () => {
			if (this.tokenData.access_token !== seen) return this.tokenData;
			let fresh: TokenResponse;
			try {
				fresh = await this.server.refresh(String(this.tokenData.refresh_token));
			} catch (error) {
				if (error instanceof OAuth2Error && error.body.error === 'invalid_grant') {
					throw Object.assign(new Error(`The credential "${this.name}" needs to be reconnected.`), {
						failure: { cause: 'credential-invalid' },
					});
				}
				throw error;
			}
			this.refreshes++;
			this.data.oauthTokenData = { ...this.tokenData, ...n8nTokenData(fresh) };
			return this.tokenData;
		});
		this.queue = run.catch(() => undefined);
		return await run;
	};
}
