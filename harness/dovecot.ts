/**
 * A real Dovecot IMAP server on 127.0.0.1 for integration tests, benchmarks and `npm start`, run
 * from a generated config in a temp folder (or a given one, kept across restarts). One instance
 * per test file. As root it runs as Debian's `dovecot` user; as any other user, rootless: every
 * process runs as that user (no chroot, mail owned by the user), so no sudo is needed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';

export interface DovecotUser {
	user: string;
	password: string;
}

export interface DovecotOptions {
	/**
	 * Also sign in with OAuth2 access tokens (AUTHENTICATE XOAUTH2 / OAUTHBEARER), checked by
	 * Dovecot's oauth2 passdb at an RFC 7662 introspection endpoint (see oauth2Server.ts);
	 * password users keep working beside it. `mechanisms`: both unless narrowed, e.g. to
	 * xoauth2 alone as Microsoft 365 offers it.
	 */
	oauth2?: { introspectionUrl: string; mechanisms?: Array<'xoauth2' | 'oauthbearer'> };
	/** Keep the server's files (mail included) here instead of a new temp folder. */
	dir?: string;
	/** Listen on this port instead of a free one. */
	port?: number;
}

export async function freePort(): Promise<number> {
	return await new Promise((resolve, reject) => {
		const srv = createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const address = srv.address();
			const port = typeof address === 'object' && address ? address.port : 0;
			srv.close(() => resolve(port));
		});
	});
}

function id(args: string[], what: string): string {
	const out = spawnSync('id', args, { encoding: 'utf8' });
	if (out.status !== 0) throw new Error(`${what} missing: is dovecot-imapd installed?`);
	return out.stdout.trim();
}

/**
 * Who Dovecot's processes run as. Root: Debian's `dovecot`/`dovenull` users, which own the mail
 * (login processes refuse to run as root). Anyone else: that user for everything, which Dovecot
 * allows when no service is chrooted.
 */
function dovecotUsers(mailDir: string): string {
	if (process.getuid?.() === 0) {
		chownSync(
			mailDir,
			Number(id(['-u', 'dovecot'], 'user dovecot')),
			Number(id(['-g', 'dovecot'], 'group dovecot')),
		);
		return `default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=${mailDir}/%u
}
`;
	}
	const me = userInfo().username;
	const group = id(['-gn'], `group of ${me}`);
	return `default_internal_user = ${me}
default_internal_group = ${group}
default_login_user = ${me}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
userdb {
  driver = static
  args = uid=${me} gid=${group} home=${mailDir}/%u
}
`;
}

export class Dovecot {
	readonly dir: string;
	readonly host = '127.0.0.1';
	port = 0;
	private child?: ChildProcess;

	constructor(
		readonly users: DovecotUser[] = [{ user: 'support', password: 'secret' }],
		readonly options: DovecotOptions = {},
	) {
		if (options.dir) mkdirSync(options.dir, { recursive: true });
		this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'crm-email-dovecot-'));
		this.port = options.port ?? 0;
	}

	get user(): DovecotUser {
		return this.users[0];
	}

	get configPath(): string {
		return join(this.dir, 'dovecot.conf');
	}

	async start(): Promise<void> {
		const d = this.dir;
		if (!this.port) this.port = await freePort();
		chmodSync(d, 0o755);
		for (const sub of ['run', 'state', 'mail']) mkdirSync(join(d, sub), { recursive: true });
		writeFileSync(
			join(d, 'users'),
			this.users.map((u) => `${u.user}:{PLAIN}${u.password}`).join('\n') + '\n',
		);
		const oauth2 = this.options.oauth2 && this.oauth2Config(this.options.oauth2);
		writeFileSync(
			this.configPath,
			`base_dir = ${d}/run
state_dir = ${d}/state
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login${oauth2 ? ` ${oauth2.mechanisms}` : ''}
log_path = ${d}/dovecot.log
mail_location = maildir:${d}/mail/%u
first_valid_uid = 1
imap_idle_notify_interval = 1 secs
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${this.port}
  }
  inet_listener imaps {
    port = 0
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${d}/users${oauth2 ? '\n  mechanisms = plain login' : ''}
}
${oauth2?.passdb ?? ''}${dovecotUsers(join(d, 'mail'))}`,
		);
		this.child = spawn('dovecot', ['-F', '-c', this.configPath], { stdio: 'ignore' });
		await this.waitUntil(true);
	}

	/** Writes the oauth2 passdb's settings; returns the config lines that use them. */
	private oauth2Config(o: NonNullable<DovecotOptions['oauth2']>) {
		const mechanisms = (o.mechanisms ?? ['xoauth2', 'oauthbearer']).join(' ');
		const path = join(this.dir, 'oauth2.conf.ext');
		// The introspection answer's `username` must equal the login name and `active` be true.
		// No auth cache (auth_cache_size is 0 by default): every login asks the server.
		writeFileSync(
			path,
			`introspection_mode = post
introspection_url = ${o.introspectionUrl}
username_attribute = username
username_format = %u
active_attribute = active
active_value = true
`,
		);
		return {
			mechanisms,
			passdb: `passdb {
  driver = oauth2
  mechanisms = ${mechanisms}
  args = ${path}
}
`,
		};
	}

	/** Stops the server; the mail folder stays, so start() brings the same mailbox back. */
	async stop(): Promise<void> {
		const child = this.child;
		if (!child) return;
		this.child = undefined;
		// It may be gone already (e.g. a terminal's Ctrl-C reaches the whole process group).
		if (child.exitCode === null && child.signalCode === null) {
			const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
			child.kill('SIGTERM');
			await exited;
		}
		await this.waitUntil(false);
	}

	async restart(): Promise<void> {
		await this.stop();
		await this.start();
	}

	async destroy(): Promise<void> {
		await this.stop();
		rmSync(this.dir, { recursive: true, force: true });
	}

	private async waitUntil(listening: boolean): Promise<void> {
		const deadline = Date.now() + 10_000;
		while (Date.now() < deadline) {
			const up = await new Promise<boolean>((resolve) => {
				const sock = require('node:net').connect(this.port, this.host);
				sock.once('connect', () => {
					sock.destroy();
					resolve(true);
				});
				sock.once('error', () => resolve(false));
			});
			if (up === listening) return;
			await new Promise((r) => setTimeout(r, 50));
		}
		throw new Error(`dovecot did not ${listening ? 'start' : 'stop'} on port ${this.port}`);
	}

	/** A connected imapflow client for filling and inspecting the mailbox. */
	async client(user = this.user): Promise<ImapFlow> {
		const client = new ImapFlow({
			host: this.host,
			port: this.port,
			secure: false,
			doSTARTTLS: false,
			auth: { user: user.user, pass: user.password },
			logger: false,
		});
		await client.connect();
		return client;
	}

	credentials(user = this.user) {
		return {
			host: this.host,
			port: this.port,
			security: 'none' as const,
			user: user.user,
			password: user.password,
			allowSelfSigned: false,
		};
	}
}

export interface MailSpec {
	messageId?: string | null;
	from?: string;
	to?: string;
	subject?: string;
	body?: string;
	date?: Date;
	headers?: Record<string, string>;
}

let seq = 0;

/** A small RFC 5322 message; `messageId: null` leaves the header out. */
export function makeMail(spec: MailSpec = {}): string {
	seq += 1;
	const date = spec.date ?? new Date();
	const lines = [
		`From: ${spec.from ?? 'Customer <customer@example.org>'}`,
		`To: ${spec.to ?? 'support@example.com'}`,
		`Subject: ${spec.subject ?? `Test mail ${seq}`}`,
		`Date: ${date.toUTCString()}`,
	];
	if (spec.messageId !== null)
		lines.push(`Message-ID: <${spec.messageId ?? `m${seq}.${Date.now()}@example.org`}>`);
	for (const [k, v] of Object.entries(spec.headers ?? {})) lines.push(`${k}: ${v}`);
	lines.push(
		'MIME-Version: 1.0',
		'Content-Type: text/plain; charset=utf-8',
		'',
		spec.body ?? `Body ${seq}`,
		'',
	);
	return lines.join('\r\n');
}

export async function appendMails(
	client: ImapFlow,
	folder: string,
	mails: Array<string | { raw: string; date?: Date; flags?: string[] }>,
): Promise<void> {
	for (const m of mails) {
		const raw = typeof m === 'string' ? m : m.raw;
		const date = typeof m === 'string' ? undefined : m.date;
		const flags = typeof m === 'string' ? [] : (m.flags ?? []);
		await client.append(folder, raw, flags, date);
	}
}

export async function ensureFolder(client: ImapFlow, folder: string): Promise<void> {
	const list = await client.list();
	if (!list.some((f) => f.path === folder)) await client.mailboxCreate(folder);
}
