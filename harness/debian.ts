/**
 * The Debian packages the real-server harness runs (dovecot-imapd, chromium), installed the one
 * way `npm test` and `npm start` both use: as root with apt-get, without recommended packages,
 * and only when that upgrades nothing already installed — apt-get would otherwise upgrade whatever
 * the new package's dependencies want newer (for chromium with recommends: systemd, perl, …).
 * Never an `apt-get upgrade`.
 */
import { spawnSync } from 'node:child_process';

/** A package that is missing and could not be installed; the message says what to run. */
export class DebianPackageError extends Error {
	readonly code = 'DEBIAN_PACKAGE_MISSING';
}

export function installCommand(pkg: string): string {
	return `apt-get install -y --no-install-recommends ${pkg}`;
}

function have(cmd: string): boolean {
	return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

function apt(args: string[]): void {
	const r = spawnSync('apt-get', args, { stdio: 'inherit', env: aptEnv });
	if (r.status !== 0)
		throw new DebianPackageError(`apt-get ${args.join(' ')} failed (exit ${r.status})`);
}

/**
 * Makes sure the command `cmd` exists, installing the Debian package `pkg` for it when missing
 * (`why`: what needs it, for the messages). Not root, or no apt-get: throws with the command to run.
 */
export function ensureDebianPackage(cmd: string, pkg: string, why: string): void {
	if (have(cmd)) return;
	const command = installCommand(pkg);
	if (process.getuid?.() !== 0 || !have('apt-get'))
		throw new DebianPackageError(`${cmd} is missing (${why} need it): sudo ${command}`);
	console.log(`${cmd} is missing: installing ${pkg} for ${why}`);
	apt(['update', '-qq']);
	const plan = spawnSync('apt-get', ['install', '-s', '--no-install-recommends', pkg], {
		encoding: 'utf8',
		env: aptEnv,
	});
	// "Inst name [installed version] (new version …)" is an upgrade.
	const upgrades = (plan.stdout ?? '')
		.split('\n')
		.filter((l) => /^Inst \S+ \[/.test(l))
		.map((l) => l.split(' ')[1]);
	if (plan.status !== 0)
		throw new DebianPackageError(`apt-get cannot install ${pkg}:\n${plan.stderr}`);
	if (upgrades.length)
		throw new DebianPackageError(
			`Installing ${pkg} would upgrade ${upgrades.join(', ')}; not done. Check and run: ${command}`,
		);
	apt(['install', '-y', '-qq', '--no-install-recommends', pkg]);
}
