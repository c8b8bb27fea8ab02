/**
 * A throwaway PostgreSQL server on 127.0.0.1 for integration tests and benchmarks: Debian's
 * `postgresql` binaries, a cluster made by `initdb` in a temp folder and run by `pg_ctl` on a free
 * loopback port, no system service. initdb refuses root: as root the cluster belongs to Debian's
 * `postgres` user (made by the package). Password authentication (scram-sha-256) on TCP, as
 * a user's n8n would connect. Stopped on `stop()` and, failing that, when the process exits.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ensureDebianPackage } from './debian';
import { freePort } from './dovecot';

const LIB = '/usr/lib/postgresql';

/** Debian installs the server binaries out of PATH, one folder per major version. */
export function postgresBin(): string {
	const versions = existsSync(LIB)
		? readdirSync(LIB)
				.filter((v) => existsSync(join(LIB, v, 'bin', 'initdb')))
				.sort((a, b) => Number(b) - Number(a))
		: [];
	if (!versions.length)
		throw new Error(`no PostgreSQL server under ${LIB}: is postgresql installed?`);
	return join(LIB, versions[0], 'bin');
}

/** Installs Debian's `postgresql` when its server is missing (as `npm test` does for Dovecot). */
export function ensurePostgres(): void {
	// A glob that the shell's `command -v` only finds when some version's server is installed.
	ensureDebianPackage(`${LIB}/*/bin/pg_ctl`, 'postgresql', 'the PostgreSQL store tests');
}

function uidOf(user: string): { uid: number; gid: number } {
	const id = (flag: string) => spawnSync('id', [flag, user], { encoding: 'utf8' });
	const uid = id('-u');
	const gid = id('-g');
	if (uid.status !== 0 || gid.status !== 0) throw new Error(`user ${user} missing`);
	return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

export interface PostgresConnection {
	host: string;
	port: number;
	database: string;
	user: string;
	password: string;
}

export class Postgres {
	readonly dir = mkdtempSync(join(tmpdir(), 'crm-email-pg-'));
	readonly host = '127.0.0.1';
	readonly user = 'crm';
	readonly password = 'crm-secret';
	readonly database = 'postgres';
	port = 0;
	private running = false;
	private readonly owner = process.getuid?.() === 0 ? uidOf('postgres') : null;
	private readonly onExit = () => this.stopSync();

	private run(tool: string, args: string[]): void {
		const r = spawnSync(join(postgresBin(), tool), args, {
			encoding: 'utf8',
			cwd: this.dir,
			...(this.owner ?? {}),
		});
		if (r.status !== 0)
			throw new Error(
				`${tool} ${args.join(' ')} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`,
			);
	}

	get dataDir(): string {
		return join(this.dir, 'data');
	}

	async start(): Promise<void> {
		if (!this.port) this.port = await freePort();
		if (!existsSync(this.dataDir)) {
			if (this.owner) chownSync(this.dir, this.owner.uid, this.owner.gid);
			const pwfile = join(this.dir, 'pw');
			writeFileSync(pwfile, `${this.password}\n`);
			if (this.owner) chownSync(pwfile, this.owner.uid, this.owner.gid);
			this.run('initdb', [
				'-D',
				this.dataDir,
				'-U',
				this.user,
				`--pwfile=${pwfile}`,
				'--auth-host=scram-sha-256',
				'--auth-local=trust',
				'-E',
				'UTF8',
				'--no-sync',
			]);
		}
		// fsync on: a test of durable state should not pass on a server that drops writes.
		const options = [
			`-p ${this.port}`,
			`-c listen_addresses=${this.host}`,
			`-c unix_socket_directories=${this.dir}`,
			'-c max_connections=200',
			'-c shared_buffers=32MB',
		].join(' ');
		this.run('pg_ctl', [
			'start',
			'-w',
			'-t',
			'60',
			'-D',
			this.dataDir,
			'-l',
			join(this.dir, 'log'),
			'-o',
			options,
		]);
		this.running = true;
		process.once('exit', this.onExit);
	}

	private stopSync(): void {
		if (!this.running) return;
		this.running = false;
		try {
			this.run('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', this.dataDir]);
		} catch {
			// Already gone (e.g. killed with the process group): nothing left to stop.
		}
	}

	async stop(): Promise<void> {
		process.removeListener('exit', this.onExit);
		this.stopSync();
	}

	async destroy(): Promise<void> {
		await this.stop();
		rmSync(this.dir, { recursive: true, force: true });
	}

	/** Connection settings in the shape of the package's PostgreSQL credential. */
	connection(): PostgresConnection {
		return {
			host: this.host,
			port: this.port,
			database: this.database,
			user: this.user,
			password: this.password,
		};
	}
}
