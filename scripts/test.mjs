#!/usr/bin/env node
// Runs every test tier with node's test runner: unit (pure cores), node (n8n glue with a fake
// context), integration (real Dovecot on 127.0.0.1, real SMTP server on loopback), n8n (the
// shipped workflows in a real, pinned n8n; installed once into ~/.cache/crm-email-n8n, which
// takes about 6 minutes the first time; its editor test uses Debian's chromium). Dovecot (for
// integration and n8n) and Chromium (for n8n) are installed first when missing; the package is
// built before the n8n tier, which packs it and installs the tarball into n8n as a user does.
//   node scripts/test.mjs [unit|node|integration|n8n ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const tiers = (
	process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'node', 'integration', 'n8n']
).map((t) => join('test', t));

function files(dir) {
	let out = [];
	for (const name of readdirSync(dir)) {
		const p = join(dir, name);
		if (statSync(p).isDirectory()) out = out.concat(files(p));
		else if (name.endsWith('.test.ts')) out.push(p);
	}
	return out.sort();
}

function have(cmd) {
	return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

function apt(args) {
	const r = spawnSync('apt-get', args, { stdio: 'inherit', env: aptEnv });
	if (r.status !== 0) process.exit(r.status ?? 1);
}

/**
 * Installs a Debian package a tier needs (CI runs as root), without recommended packages, and
 * only if that upgrades nothing already installed: apt-get would otherwise upgrade whatever the
 * new package's dependencies want newer (for chromium with recommends: systemd, perl, …).
 * Otherwise says how, and stops.
 */
function ensurePackage(cmd, pkg, why) {
	if (have(cmd)) return;
	const command = `apt-get install -y --no-install-recommends ${pkg}`;
	if (process.getuid?.() !== 0 || !have('apt-get')) {
		console.error(`${why} need ${cmd}: sudo ${command}`);
		process.exit(1);
	}
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
	if (plan.status !== 0 || upgrades.length) {
		console.error(
			plan.status !== 0
				? `apt-get cannot install ${pkg}:\n${plan.stderr}`
				: `Installing ${pkg} would upgrade ${upgrades.join(', ')}; not done. Check and run: ${command}`,
		);
		process.exit(1);
	}
	apt(['install', '-y', '-qq', '--no-install-recommends', pkg]);
}

if (tiers.some((t) => t.endsWith('integration') || t.endsWith('n8n')))
	ensurePackage('dovecot', 'dovecot-imapd', 'the real-server tests');
if (tiers.some((t) => t.endsWith('n8n')) && !process.env.CRM_EMAIL_CHROMIUM)
	ensurePackage('chromium', 'chromium', 'the editor tests');

if (tiers.some((t) => t.endsWith('n8n'))) {
	const b = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
	if (b.status !== 0) process.exit(b.status ?? 1);
}

const list = tiers.flatMap(files);
const r = spawnSync(
	process.execPath,
	['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...list],
	{ stdio: 'inherit' },
);
process.exit(r.status ?? 1);
