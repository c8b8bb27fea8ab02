/**
 * A real SMTP server on loopback (the `smtp-server` package) that records every message as
 * received, and can be told to answer 4xx/5xx or drop the connection, to test what a real
 * server does to the sender.
 */
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

import { introspectAt } from './oauth2Server';

export interface Received {
	from: string;
	to: string[];
	raw: Buffer;
	parsed: ParsedMail;
}

export interface SmtpSinkOptions {
	/**
	 * Also accept AUTH XOAUTH2, the token checked at this RFC 7662 introspection endpoint
	 * (see oauth2Server.ts; client credentials in the URL). A refused token gets Gmail's
	 * answer: a 334 challenge with a JSON error, then 535 once the client answers it.
	 */
	oauth2?: { introspectionUrl: string };
}

export type Fault = { kind: 'reply'; code: number; message: string } | { kind: 'drop' };

export class SmtpSink {
	readonly messages: Received[] = [];
	/** Faults for the next DATA commands, in order. */
	faults: Fault[] = [];
	/** Recipients refused at RCPT with 550. */
	refuse = new Set<string>();
	logins: string[] = [];
	connections = 0;
	/** Messages accepted when not parsing. */
	received = 0;
	/** Called with each message received, before the server answers 250. */
	onMessage: ((message: Received) => void) | null = null;
	port = 0;
	private server: SMTPServer;

	constructor(
		readonly auth: { user: string; password: string } | null = {
			user: 'sender',
			password: 'smtp-secret',
		},
		/** Parse each message (tests); off for benchmarks, which only count. */
		readonly parse = true,
		readonly options: SmtpSinkOptions = {},
	) {
		const oauth2 = options.oauth2;
		this.server = new SMTPServer({
			secure: false,
			disabledCommands: ['STARTTLS', ...(auth ? [] : ['AUTH'])],
			authOptional: !auth,
			...(oauth2 ? { authMethods: ['PLAIN', 'LOGIN', 'XOAUTH2'] } : {}),
			allowInsecureAuth: true,
			logger: false,
			// No reverse DNS per connection: it would slow every new connection (and flatter pooling).
			disableReverseLookup: true,
			size: 50 * 1024 * 1024,
			onConnect: (_session, cb) => {
				this.connections++;
				cb();
			},
			onAuth: (a, _session, cb) => {
				this.logins.push(a.username ?? '');
				if (a.method === 'XOAUTH2' && oauth2)
					return void introspectAt(oauth2.introspectionUrl, a.accessToken ?? '').then(
						(r) =>
							r.active === true && r.username === a.username
								? cb(null, { user: a.username })
								: cb(null, { data: { status: '401', schemes: 'bearer', scope: 'mail' } }),
						// The introspection endpoint is down: a temporary failure, as Gmail answers it.
						() =>
							cb(
								Object.assign(
									new Error('4.7.0 Temporary authentication failure, try again later'),
									{ responseCode: 454 },
								),
							),
					);
				if (auth && a.username === auth.user && a.password === auth.password)
					return cb(null, { user: a.username });
				return cb(
					Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }),
				);
			},
			onRcptTo: (address, _session, cb) => {
				if (this.refuse.has(address.address.toLowerCase()))
					return cb(
						Object.assign(new Error(`5.1.1 <${address.address}>: Recipient address rejected`), {
							responseCode: 550,
						}),
					);
				cb();
			},
			onData: (stream, session: SMTPServerSession, cb) => {
				const chunks: Buffer[] = [];
				stream.on('data', (c: Buffer) => chunks.push(c));
				stream.on('end', () => {
					const fault = this.faults.shift();
					if (fault?.kind === 'drop') {
						// A dropped connection mid-send: the client never gets an answer.
						const open = (
							this.server as unknown as { connections: Set<{ _socket: { destroy(): void } }> }
						).connections;
						for (const c of open) c._socket.destroy();
						return;
					}
					if (fault?.kind === 'reply')
						return cb(Object.assign(new Error(fault.message), { responseCode: fault.code }));
					const raw = Buffer.concat(chunks);
					if (!this.parse) {
						this.received++;
						return cb();
					}
					void simpleParser(raw).then((parsed) => {
						const message = {
							from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
							to: session.envelope.rcptTo.map((r) => r.address),
							raw,
							parsed,
						};
						this.messages.push(message);
						this.onMessage?.(message);
						cb();
					}, cb);
				});
			},
		});
		this.server.on('error', () => undefined);
	}

	async start(): Promise<this> {
		await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
		this.port = (this.server.server.address() as { port: number }).port;
		return this;
	}

	credentials(over: Record<string, unknown> = {}) {
		return {
			host: '127.0.0.1',
			port: this.port,
			security: 'none',
			user: this.auth?.user ?? '',
			password: this.auth?.password ?? '',
			allowedFrom: 'support@example.com, *@help.example.com',
			defaultFrom: 'Example Support <support@example.com>',
			...over,
		};
	}

	async stop(): Promise<void> {
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}
}

/** A CRM Email Signing API credential for tests that send (its secret signs the thread Message-IDs). */
export const signingCredential = { secret: 'thread-secret-for-tests' };
