#!/usr/bin/env node
// Runs every test tier with node's test runner: unit (pure cores), node (n8n glue with a fake
// context), integration (real Dovecot on 127.0.0.1, real SMTP server on loopback), n8n (the
// shipped workflows in a real, pinned n8n; installed once into ~/.cache/crm-email-n8n, which
// takes about 6 minutes the first time; its editor test uses Debian's chromium). Dovecot and
// PostgreSQL (for integration and n8n) and Chromium (for n8n) are installed first when missing
// (harness/debian.ts); the package is
// built before the n8n tier, which packs it and installs the tarball into n8n as a user does.
//   node scripts/test.mjs [unit|node|integration|n8n ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tsImport } from 'tsx/esm/api';

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

// The harness is TypeScript; this runner stays plain Node so `node scripts/test.mjs` needs no flags.
const { ensureDebianPackage } = await tsImport('../harness/debian.ts', import.meta.url);
const { ensurePostgres } = await tsImport('../harness/postgres.ts', import.meta.url);
const { ensureRedis } = await tsImport('../harness/redis.ts', import.meta.url);
try {
	if (tiers.some((t) => t.endsWith('integration') || t.endsWith('n8n'))) {
		ensureDebianPackage('dovecot', 'dovecot-imapd', 'the real-server tests');
		ensurePostgres();
	}
	if (tiers.some((t) => t.endsWith('n8n'))) ensureRedis();
	if (tiers.some((t) => t.endsWith('n8n')) && !process.env.CRM_EMAIL_CHROMIUM)
		ensureDebianPackage('chromium', 'chromium', 'the editor tests');
} catch (error) {
	if (error?.code !== 'DEBIAN_PACKAGE_MISSING') throw error;
	console.error(error.message);
	process.exit(1);
}

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
