/**
 * npm start — n8n with this package, both example workflows imported and active, and a sandbox
 * mailbox beside it, no account anywhere:
 *   - Dovecot on 127.0.0.1 (installed with apt-get when missing and running as root) with the
 *     mailboxes support (email-to-case), info (auto-reply) and customer;
 *   - an SMTP server on 127.0.0.1 that delivers every mail into those mailboxes (to support@,
 *     info@ or, for any other address, the customer mailbox), so the auto-replies can be read;
 *   - n8n 2.41.1 (installed once into ~/.cache/crm-email-n8n) with a fresh user folder in
 *     .sandbox/, an owner account, the credentials and both workflows, published;
 *   - a few customer mails in the support mailbox, so cases appear at once.
 * Ctrl-C stops everything it started.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { SMTPServer } from 'smtp-server';

import { appendMails, Dovecot, freePort, makeMail } from '../test/helpers/dovecot';
import { ensureN8n, N8n } from '../test/helpers/n8n';

const root = join(__dirname, '..');
const sandbox = join(root, '.sandbox');
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

function have(cmd: string): boolean {
	return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function ensureDovecot(): void {
	if (have('dovecot')) return;
	if (process.getuid?.() === 0 && have('apt-get')) {
		console.log('Installing Dovecot (dovecot-imapd) for the sandbox mailbox…');
		for (const args of [
			['update', '-qq'],
			['install', '-y', '-qq', 'dovecot-imapd'],
		]) {
			const r = spawnSync('apt-get', args, {
				stdio: 'inherit',
				env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
			});
			if (r.status !== 0) process.exit(r.status ?? 1);
		}
		return;
	}
	console.error(
		'The sandbox mailbox needs Dovecot: sudo apt-get install -y dovecot-imapd (then npm start again)',
	);
	process.exit(1);
}

/** An SMTP server that delivers into the sandbox mailboxes. */
async function startSmtp(dovecot: Dovecot): Promise<{ port: number; close: () => Promise<void> }> {
	const port = await freePort();
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
	await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
	return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function main(): Promise<void> {
	ensureDovecot();
	const bins = ensureN8n();
	const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
	if (build.status !== 0) process.exit(build.status ?? 1);

	rmSync(sandbox, { recursive: true, force: true });
	const dovecot = new Dovecot(USERS);
	await dovecot.start();
	const smtp = await startSmtp(dovecot);
	const n8n = new N8n(bins, join(sandbox, 'n8n'));
	n8n.port = Number(process.env.N8N_PORT) || 5678;

	const smtpCredential = (from: string) => ({
		host: '127.0.0.1',
		port: smtp.port,
		security: 'none',
		user: '',
		password: '',
		allowedFrom: from,
		defaultFrom: `Example Support <${from}>`,
		signingSecret: 'sandbox-signing-secret',
	});
	const credentials = [
		{
			id: 'crmImapSupport',
			name: 'Support mailbox (IMAP)',
			type: 'crmImapApi',
			data: { ...dovecot.credentials(USERS[0]) },
		},
		{
			id: 'crmSmtpSupport',
			name: 'Support mailbox (SMTP)',
			type: 'crmSmtpApi',
			data: smtpCredential('support@example.com'),
		},
		{
			id: 'crmImapInfo',
			name: 'Info mailbox (IMAP)',
			type: 'crmImapApi',
			data: { ...dovecot.credentials(USERS[1]) },
		},
		{
			id: 'crmSmtpInfo',
			name: 'Info mailbox (SMTP)',
			type: 'crmSmtpApi',
			data: smtpCredential('info@example.com'),
		},
	];
	writeFileSync(join(sandbox, 'credentials.json'), JSON.stringify(credentials));
	n8n.cli(['import:credentials', `--input=${join(sandbox, 'credentials.json')}`]);
	// Take the seeded mails too: fetch since an hour ago.
	const since = new Date(Date.now() - 3_600_000).toISOString();
	const workflows: Array<[string, string, string]> = [
		['email-to-case.json', 'sandboxEmailCase', ''],
		['auto-reply.json', 'sandboxAutoReply', 'Info'],
	];
	for (const [file, id, mailbox] of workflows) {
		const wf = JSON.parse(readFileSync(join(root, 'workflows', file), 'utf8')) as {
			id?: string;
			nodes: Array<{
				type: string;
				parameters: Record<string, unknown>;
				credentials?: Record<string, { id: string; name: string }>;
			}>;
		};
		wf.id = id;
		N8n.forCustomLoader(wf);
		for (const node of wf.nodes) {
			if (node.type.endsWith('crmEmailImapTrigger')) node.parameters.fetchSince = since;
			for (const ref of Object.values(node.credentials ?? {})) {
				if (mailbox) ref.id = ref.id.replace('Support', mailbox);
				ref.name = credentials.find((c) => c.id === ref.id)?.name ?? ref.name;
			}
			if (mailbox && typeof node.parameters.options === 'object' && node.parameters.options)
				(node.parameters.options as Record<string, unknown>).ownAddresses = 'info@example.com';
		}
		const path = join(sandbox, file);
		writeFileSync(path, JSON.stringify(wf));
		n8n.cli(['import:workflow', `--input=${path}`]);
		n8n.cli(['publish:workflow', `--id=${id}`]);
	}

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

	console.log('Starting n8n (about a minute)…');
	await n8n.start(2, 300_000);
	const setup = await n8n.setupOwner(OWNER);
	const ownerNote =
		setup === 200 ? '' : ` (owner setup answered ${setup}: create the account in the browser)`;

	console.log(`
n8n with the CRM email nodes is running.

  Editor:     http://localhost:${n8n.port}
  Log in:     ${OWNER.email} / ${OWNER.password}${ownerNote}
  Workflows:  "Email to case" (mailbox support) and "Auto-reply" (mailbox info), both active

Sandbox mailbox (IMAP 127.0.0.1:${dovecot.port}, no TLS; SMTP 127.0.0.1:${smtp.port}, no login):
  support / ${USERS[0].password}    support@example.com — email-to-case; 3 sample mails already in
  info / ${USERS[1].password}          info@example.com — auto-reply
  customer / ${USERS[2].password}  every other address: read the auto-replies here
Send more mail to support@example.com or info@example.com through the SMTP port above.
To use a real mailbox, edit the credentials in n8n (see README, "npm start").

Ctrl-C stops n8n and the sandbox.`);

	let stopping = false;
	const stop = async () => {
		if (stopping) return;
		stopping = true;
		console.log('\nStopping…');
		await n8n.stop();
		await smtp.close();
		await dovecot.destroy();
		process.exit(0);
	};
	process.on('SIGINT', () => void stop());
	process.on('SIGTERM', () => void stop());
}

void main().catch((error: unknown) => {
	console.error(error);
	process.exit(1);
});
