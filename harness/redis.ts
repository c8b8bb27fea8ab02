/**
 * A throwaway Redis on 127.0.0.1 for n8n's queue mode (the Bull queue between main and workers):
 * Debian's `redis-server`, run in the foreground on a free loopback port with its data in a temp
 * folder, no persistence (the queue only lives as long as the test), no system service. Stopped on
 * `stop()` and, failing that, when the process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ensureDebianPackage } from './debian';
import { freePort } from './dovecot';

/** Installs Debian's `redis-server` when missing (as `npm test` does for Dovecot). */
export function ensureRedis(): void {
	ensureDebianPackage('redis-server', 'redis-server', 'the queue-mode tests');
}

export class Redis {
	readonly dir = mkdtempSync(join(tmpdir(), 'crm-email-redis-'));
	readonly host = '127.0.0.1';
	port = 0;
	private child?: ChildProcess;
	private readonly log: string[] = [];
	private readonly onExit = () => this.child?.kill('SIGKILL');

	async start(): Promise<void> {
		if (!this.port) this.port = await freePort();
		this.child = spawn(
			'redis-server',
			[
				'--bind',
				this.host,
				'--port',
				String(this.port),
				'--dir',
				this.dir,
				'--save',
				'',
				'--appendonly',
				'no',
				'--protected-mode',
				'yes',
			],
			{ stdio: ['ignore', 'pipe', 'pipe'] },
		);
		const onData = (d: Buffer) => this.log.push(d.toString());
		this.child.stdout?.on('data', onData);
		this.child.stderr?.on('data', onData);
		process.once('exit', this.onExit);
		const started = Date.now();
		while (!(await this.ping())) {
			if (this.child.exitCode !== null || Date.now() - started > 20_000)
				throw new Error(`redis-server did not start:\n${this.log.join('')}`);
			await new Promise((r) => setTimeout(r, 100));
		}
	}

	/** One PING over a fresh connection: true once the server answers PONG. */
	private ping(): Promise<boolean> {
		return new Promise((resolve) => {
			const socket = createConnection({ host: this.host, port: this.port });
			socket.setTimeout(1_000);
			socket.once('connect', () => socket.write('PING\r\n'));
			socket.once('data', (d) => {
				socket.destroy();
				resolve(d.toString().startsWith('+PONG'));
			});
			socket.once('error', () => resolve(false));
			socket.once('timeout', () => {
				socket.destroy();
				resolve(false);
			});
		});
	}

	async stop(): Promise<void> {
		process.removeListener('exit', this.onExit);
		const child = this.child;
		this.child = undefined;
		if (!child || child.exitCode !== null || child.signalCode !== null) return;
		await new Promise<void>((resolve) => {
			child.once('exit', () => resolve());
			child.kill('SIGTERM');
			setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
		});
	}

	async destroy(): Promise<void> {
		await this.stop();
		rmSync(this.dir, { recursive: true, force: true });
	}
}
