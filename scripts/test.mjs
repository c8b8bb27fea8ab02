#!/usr/bin/env node
// Runs every test tier with node's test runner: unit (pure cores), node (n8n glue with a fake
// context), integration (real Dovecot on 127.0.0.1, real SMTP server on loopback), n8n (the
// shipped workflows in a real, pinned n8n; installed once into ~/.cache/crm-email-n8n, which
// takes about 6 minutes the first time; its editor test uses Debian's chromium). Dovecot and
// Chromium are installed first when missing; the package is built before the n8n tier, which
// loads it from dist/.
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

/** Installs a Debian package a tier needs (CI runs as root); otherwise says how, and stops. */
function ensurePackage(cmd, pkg, why) {
	if (have(cmd)) return;
	if (process.getuid?.() === 0 && have('apt-get')) {
		console.log(`${cmd} is missing: installing ${pkg} for ${why}`);
		for (const args of [
			['update', '-qq'],
			['install', '-y', '-qq', pkg],
		]) {
			const r = spawnSync('apt-get', args, {
				stdio: 'inherit',
				env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
			});
			if (r.status !== 0) process.exit(r.status ?? 1);
		}
	} else {
		console.error(`${why} need ${cmd}: sudo apt-get install -y ${pkg}`);
		process.exit(1);
	}
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
