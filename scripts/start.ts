/**
 * npm start — n8n with this package, the example workflows imported and active, and a sandbox
 * mailbox beside it, no account anywhere:
 *   - Dovecot on 127.0.0.1 (installed when missing and running as root, as harness/debian.ts
 *     installs; run as the current user otherwise) with the mailboxes support (email-to-case), info (auto-reply) and
 *     customer;
 *   - an SMTP server on 127.0.0.1 that delivers every mail into those mailboxes (to support@,
 *     info@ or, for any other address, the customer mailbox), so the auto-replies can be read;
 *   - n8n 2.41.1 (installed once into ~/.cache/crm-email-n8n) with this package installed as a
 *     user installs it (npm pack, npm install in the nodes folder), an owner account, the
 *     credentials and the shipped workflows, unchanged and published;
 *   - a few customer mails in the support mailbox, so cases appear at once.
 * Everything lives in .sandbox/ and is kept across starts (mail, n8n data, node state) unless
 * started with --reset. Fixed ports, overridable: N8N_PORT, CRM_EMAIL_IMAP_PORT,
 * CRM_EMAIL_SMTP_PORT. Ctrl-C or SIGTERM stops everything it started, and so does any failure.
 *   npm start [-- --reset]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { SMTPServer } from 'smtp-server';

import { DebianPackageError, ensureDebianPackage } from '../harness/debian';
import { appendMails, Dovecot, makeMail } from '../harness/dovecot';
import { ensureN8n, N8n, packPackage } from '../harness/n8n';

const root = join(__dirname, '..');
const sandbox = join(root, '.sandbox');
/** Written once the sandbox is set up: later starts keep its workflows, their state and mail. */
const setupDone = join(sandbox, 'setup-done');
const USERS = [
	{ user: 'support', password: 'support-pass' },
	{ user: 'info', password: 'info-pass' },
	{ user: 'customer', password: 'customer-pass' },
];
const OWNER = {
	email: 'admin@example.com',
	password: 'Sandbox-Pass-1',
	firstName: 'Sandbox',
	lastName: 'Admin',
};

/** A failure the user can act on: printed without a stack trace. */
class StartError extends Error {}

function portFrom(variable: string, fallback: number): number {
	const raw = process.env[variable];
	if (raw === undefined || raw === '') return fallback;
	const port = Number(raw);
	if (!Number.isInteger(port) || port < 1 || port > 65535)
		throw new StartError(`${variable}=${raw} is not a port number (1–65535)`);
	return port;
}

async function ensurePortFree(port: number, what: string, variable: string): Promise<void> {
	const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
		const srv = createServer();
		srv.once('error', resolve);
		srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(undefined)));
	});
	if (error)
		throw new StartError(
			`Port ${port} (${what}) is ${error.code === 'EADDRINUSE' ? 'in use' : `not available: ${error.code}`}. ` +
				`Stop what uses it, or choose another port: ${variable}=${port + 1} npm start`,
		);
}

/** An SMTP server that delivers into the sandbox mailboxes. */
async function startSmtp(dovecot: Dovecot, port: number): Promise<() => Promise<void>> {
	const server = new SMTPServer({
		secure: false,
		authOptional: true,
		disabledCommands: ['STARTTLS', 'AUTH'],
		disableReverseLookup: true,
		logger: false,
		onData(stream, session, callback) {
			const chunks: Buffer[] = [];
			stream.on('data', (c: Buffer) => chunks.push(c));
			stream.on('end', () => {
				const raw = Buffer.concat(chunks);
				const boxes = new Set(
					session.envelope.rcptTo.map((r) => {
						const local = r.address.toLowerCase().split('@')[0];
						return USERS.find((u) => u.user === local && local !== 'customer') ?? USERS[2];
					}),
				);
				void (async () => {
					for (const box of boxes) {
						const client = await dovecot.client(box);
						await client.append('INBOX', raw);
						await client.logout();
					}
				})().then(() => callback(), callback);
			});
		},
	});
	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, '127.0.0.1', resolve);
	});
	return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

/** What was started, stopped in reverse order on Ctrl-C, SIGTERM or any failure. */
const running: Array<() => Promise<void>> = [];
let stopping = false;

async function stopAll(code: number): Promise<never> {
	if (!stopping) {
		stopping = true;
		if (running.length) console.log('\nStopping…');
	}
	// Popped one by one: whatever main() still starts meanwhile is stopped too.
	for (let stop = running.pop(); stop; stop = running.pop())
		await stop().catch((e: unknown) => console.error(e));
	process.exit(code);
}

/** Between steps: after Ctrl-C, start nothing more. */
function goOn(): void {
	if (stopping) throw new StartError('Stopped.');
}

async function main(): Promise<void> {
	const ports = {
		n8n: portFrom('N8N_PORT', 5678),
		imap: portFrom('CRM_EMAIL_IMAP_PORT', 1143),
		smtp: portFrom('CRM_EMAIL_SMTP_PORT', 2525),
	};
	await ensurePortFree(ports.n8n, "n8n's editor", 'N8N_PORT');
	await ensurePortFree(ports.imap, 'the sandbox IMAP server', 'CRM_EMAIL_IMAP_PORT');
	await ensurePortFree(ports.smtp, 'the sandbox SMTP server', 'CRM_EMAIL_SMTP_PORT');
	ensureDebianPackage('dovecot', 'dovecot-imapd', 'the sandbox mailbox');
	const bins = ensureN8n();
	const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
	if (build.status !== 0) throw new StartError('npm run build failed: see above');
	goOn();

	if (process.argv.includes('--reset')) {
		console.log('--reset: starting with an empty sandbox');
		rmSync(sandbox, { recursive: true, force: true });
	}
	const fresh = !existsSync(setupDone);
	mkdirSync(sandbox, { recursive: true });

	const dovecot = new Dovecot(USERS, { dir: join(sandbox, 'dovecot'), port: ports.imap });
	running.push(() => dovecot.stop());
	await dovecot.start();
	goOn();
	running.push(await startSmtp(dovecot, ports.smtp));
	goOn();

	const n8n = new N8n(bins, join(sandbox, 'n8n'));
	n8n.port = ports.n8n;
	// Every start installs the package as built now; the tarball is only needed for that.
	const packDir = join(sandbox, 'pack');
	try {
		n8n.installPackage(packPackage(packDir));
	} finally {
		rmSync(packDir, { recursive: true, force: true });
	}

	const smtpCredential = (from: string) => ({
		host: '127.0.0.1',
		port: ports.smtp,
		security: 'none',
		user: '',
		password: '',
		allowedFrom: from,
		defaultFrom: `Example Support <${from}>`,
	});
	// The ids the shipped workflows reference. Imported at every start, so changed ports apply.
	const credentials = [
		['crmImapSupport', 'Support mailbox (IMAP)', 'crmImapApi', dovecot.credentials(USERS[0])],
		[
			'crmSmtpSupport',
			'Support mailbox (SMTP)',
			'crmSmtpApi',
			smtpCredential('support@example.com'),
		],
		['crmImapInfo', 'Info mailbox (IMAP)', 'crmImapApi', dovecot.credentials(USERS[1])],
		['crmSmtpInfo', 'Info mailbox (SMTP)', 'crmSmtpApi', smtpCredential('info@example.com')],
	].map(([id, name, type, data]) => ({ id, name, type, data }));
	const credentialsFile = join(sandbox, 'credentials.json');
	writeFileSync(credentialsFile, JSON.stringify(credentials));
	try {
		n8n.cli(['import:credentials', `--input=${credentialsFile}`]);
	} finally {
		rmSync(credentialsFile, { force: true });
	}
	if (fresh) {
		// Imported once: importing again would replace the workflows and their node state.
		for (const [file, id] of [
			['email-to-case.json', 'crmEmailToCase01'],
			['auto-reply.json', 'crmAutoReply0001'],
			['unsubscribe.json', 'crmUnsubscribe01'],
		]) {
			n8n.cli(['import:workflow', `--input=${join(root, 'workflows', file)}`]);
			n8n.cli(['publish:workflow', `--id=${id}`]);
		}
	}
	goOn();

	console.log('Starting n8n (about a minute)…');
	running.push(() => n8n.stop());
	await n8n.start(2, 300_000);

	let ownerNote = '';
	if (fresh) {
		const setup = await n8n.setupOwner(OWNER);
		if (setup !== 200)
			ownerNote = ` (owner setup answered ${setup}: create the account in the browser)`;
		// Sent once the triggers watch: they take mail that arrives from their activation on.
		const seed = await dovecot.client(USERS[0]);
		await appendMails(seed, 'INBOX', [
			makeMail({
				from: 'Ann Smith <ann@acme.example>',
				to: 'support@example.com',
				subject: 'Printer on floor 2 is broken',
				body: 'Hello, the printer shows error E42 since this morning.',
			}),
			makeMail({
				from: 'Carla Diaz <carla@startup.example>',
				to: 'support@example.com',
				subject: 'Question about pricing',
				body: 'Do you have a plan for 20 users?',
			}),
			makeMail({
				from: 'Weekly News <news@list.example>',
				to: 'support@example.com',
				subject: 'Weekly digest',
				headers: { 'List-Id': '<weekly.list.example>' },
			}),
		]);
		await seed.logout();
		writeFileSync(setupDone, new Date().toISOString());
	}

	console.log(`
n8n with the CRM email nodes is running.

  Editor:     http://localhost:${n8n.port}
  Log in:     ${OWNER.email} / ${OWNER.password}${ownerNote}
  Workflows:  "Email to case" (mailbox support), "Auto-reply" (mailbox info) and "Unsubscribe"
              (http://localhost:${n8n.port}/webhook/unsubscribe), all active

Sandbox mailbox (IMAP 127.0.0.1:${ports.imap}, no TLS; SMTP 127.0.0.1:${ports.smtp}, no login):
  support / ${USERS[0].password}    support@example.com — email-to-case${fresh ? '; 3 sample mails just sent' : ''}
  info / ${USERS[1].password}          info@example.com — auto-reply
  customer / ${USERS[2].password}  every other address: read the auto-replies here
Send more mail to support@example.com or info@example.com through the SMTP port above.
To use a real mailbox, edit the credentials in n8n (see README, "Try it").
${fresh ? 'Mail and n8n data are kept in .sandbox/ for the next start' : 'Mail and n8n data are the ones of the last start'} (npm start -- --reset to start afresh).

Ctrl-C stops n8n and the sandbox.`);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
// `npm start` stopped with SIGTERM ends its shell without passing the signal on, which would leave
// this process and its children running: stop as soon as the process that started us is gone.
const parent = process.ppid;
setInterval(() => {
	if (process.ppid !== parent) void stopAll(0);
}, 1_000).unref();
main().catch(async (error: unknown) => {
	console.error(
		error instanceof StartError || error instanceof DebianPackageError ? error.message : error,
	);
	await stopAll(1);
});
