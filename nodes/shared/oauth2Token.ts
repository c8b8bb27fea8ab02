/**
 * OAuth2 sign-in for IMAP and SMTP, the part that needs no n8n: when a stored token must be
 * refreshed, which server answers mean "this token was refused" (refresh and sign in once more)
 * and which mean "the server could not check it just now" (never refresh), and the token keeper
 * the transports ask for a token. Where the token comes from and how it is refreshed is handed in
 * (n8n's `refreshOAuth2Token` in the nodes, the test authorization server in the tests).
 */

/** The token data n8n stores on an OAuth2 credential (`oauthTokenData`). */
export interface OAuth2TokenData {
	access_token?: unknown;
	refresh_token?: unknown;
	/** Epoch milliseconds as a string, written by n8n when the token endpoint gave `expires_in`. */
	n8n_expires_at?: unknown;
	[key: string]: unknown;
}

/** When the token expires (epoch ms), or null when the token data does not say. */
export function tokenExpiresAt(data: OAuth2TokenData | undefined | null): number | null {
	const raw = data?.n8n_expires_at;
	if (raw === undefined || raw === null || raw === '') return null;
	const at = typeof raw === 'number' ? raw : Number(String(raw).trim());
	return Number.isFinite(at) && at > 0 ? at : null;
}

/**
 * `refresh` when the token expires within `marginMs` (or has no access token at all), `fresh`
 * when it lives longer, `unknown` when the expiry is not recorded: then the token is used as it is
 * and refreshed only if the server refuses it.
 */
export function tokenNeedsRefresh(
	data: OAuth2TokenData | undefined | null,
	nowMs: number,
	marginMs: number,
): 'refresh' | 'fresh' | 'unknown' {
	if (!accessTokenOf(data)) return 'refresh';
	const at = tokenExpiresAt(data);
	if (at === null) return 'unknown';
	return at - nowMs <= marginMs ? 'refresh' : 'fresh';
}

export function accessTokenOf(data: OAuth2TokenData | undefined | null): string | null {
	const t = data?.access_token;
	return typeof t === 'string' && t.length > 0 ? t : null;
}

/** The refresh margin for this token: `marginMs`, at most a quarter of its lifetime. */
export function marginFor(data: OAuth2TokenData | undefined | null, marginMs: number): number {
	const lifetime = Number(data?.expires_in);
	return Number.isFinite(lifetime) && lifetime > 0 ? Math.min(marginMs, lifetime * 250) : marginMs;
}

export type AuthFailureKind = 'refused' | 'temporary' | 'other';

/**
 * An imapflow error on connect or AUTHENTICATE. imapflow sets `authenticationFailed` on every
 * tagged NO to AUTHENTICATE, including the server's own trouble (RFC 5530 UNAVAILABLE), and
 * Exchange Online refuses with no response code at all: so refused = authenticationFailed minus
 * the temporary codes, never by text.
 */
export function classifyImapAuthError(error: unknown): AuthFailureKind {
	const e = (error ?? {}) as { authenticationFailed?: boolean; serverResponseCode?: string };
	const code = String(e.serverResponseCode ?? '').toUpperCase();
	if (code === 'UNAVAILABLE' || code === 'SERVERBUG' || code === 'LIMIT') return 'temporary';
	if (e.authenticationFailed === true || code === 'AUTHENTICATIONFAILED') return 'refused';
	return 'other';
}

/** A nodemailer error: EAUTH with 535 (or 534) is a refused token, EAUTH with a 4xx is temporary. */
export function classifySmtpAuthError(error: unknown): AuthFailureKind {
	const e = (error ?? {}) as { code?: string; responseCode?: number };
	if (e.code !== 'EAUTH') return 'other';
	if (e.responseCode === 535 || e.responseCode === 534) return 'refused';
	if (typeof e.responseCode === 'number' && e.responseCode >= 400 && e.responseCode < 500)
		return 'temporary';
	return 'other';
}

/** What the transports ask for a token. */
export interface TokenSource {
	/** A token to sign in with now: refreshed first when it expires within the margin. */
	token(): Promise<string>;
	/** A new token after the server refused `refused` (another process may already have one). */
	refresh(refused: string): Promise<string>;
	/**
	 * When a session signed in with the token last handed out should be renewed (epoch ms): the
	 * margin before its expiry. Null when the expiry is not known.
	 */
	renewAt(): number | null;
	/** Every token handed out so far: never to appear in an error or a log. */
	secrets(): string[];
}

export interface TokenKeeperOptions {
	/** The stored token data, read anew each time (another execution may have refreshed it). */
	read(): Promise<OAuth2TokenData | undefined>;
	/** Runs the refresh grant, saves the result, and returns the new token data. */
	refresh(): Promise<OAuth2TokenData>;
	/**
	 * Refresh when the token expires within this many ms; at most a quarter of the token's
	 * lifetime (`expires_in`), so short-lived tokens are not refreshed on every use.
	 */
	marginMs: number;
	now?: () => number;
}

/** Raised when the refresh gives no access token: the credential must be reconnected. */
export class TokenMissingError extends Error {
	readonly code = 'OAUTH_NOT_CONNECTED';
	constructor() {
		super('The OAuth2 credential holds no access token');
		this.name = 'TokenMissingError';
	}
}

/**
 * Hands out tokens: the stored one while it is fresh, a refreshed one when it is about to expire
 * or was refused. Concurrent callers share one refresh; a refused token is refreshed once only,
 * however many connections it failed on.
 */
export class TokenKeeper implements TokenSource {
	private current: { token: string; renewAt: number | null } | null = null;
	private refreshing: Promise<string> | null = null;
	private readonly handed = new Set<string>();
	/** Tokens a refresh of this keeper replaced. */
	private readonly replaced = new Set<string>();
	private readonly now: () => number;

	constructor(private readonly o: TokenKeeperOptions) {
		this.now = o.now ?? Date.now;
	}

	async token(): Promise<string> {
		if (this.refreshing) return await this.refreshing;
		const data = await this.o.read();
		// Read before a concurrent refresh ended, or while it runs: its token is the one to use.
		if (this.refreshing) return await this.refreshing;
		const stored = accessTokenOf(data);
		if (stored && this.current && this.replaced.has(stored)) return this.current.token;
		if (tokenNeedsRefresh(data, this.now(), marginFor(data, this.o.marginMs)) === 'refresh')
			return await this.runRefresh(stored);
		return this.take(data);
	}

	async refresh(refused: string): Promise<string> {
		if (this.refreshing) return await this.refreshing;
		// Someone refreshed since this token was handed out: use theirs, do not refresh again.
		if (this.current && this.current.token !== refused) return this.current.token;
		return await this.runRefresh(refused);
	}

	renewAt(): number | null {
		return this.current?.renewAt ?? null;
	}

	secrets(): string[] {
		return [...this.handed];
	}

	/** `before`: the token being replaced, so a late reader of it gets the new one. */
	private runRefresh(before: string | null): Promise<string> {
		this.refreshing = this.o
			.refresh()
			.then((data) => {
				if (before && accessTokenOf(data) !== before) this.replaced.add(before);
				return data;
			})
			.then((data) => this.take(data))
			.finally(() => {
				this.refreshing = null;
			});
		return this.refreshing;
	}

	private take(data: OAuth2TokenData | undefined): string {
		const token = accessTokenOf(data);
		if (!token) throw new TokenMissingError();
		const at = tokenExpiresAt(data);
		this.current = { token, renewAt: at === null ? null : at - marginFor(data, this.o.marginMs) };
		this.handed.add(token);
		return token;
	}
}
