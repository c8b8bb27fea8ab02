/**
 * The npm package as it would be published: `npm pack` of the built dist/. Its file list and
 * size, and the manual community-node install (`npm install <tarball>`) under this machine's
 * Node 20, where n8n-workflow as a required peer dependency used to be installed and its
 * isolated-vm compiled (and failed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
	existsSync,
	mkdirSync,
	mkdtempSync,
	readdirSync,
	rmSync,
	statSync,
	writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { packPackage } from '../../harness/n8n';

const root = join(__dirname, '..', '..');
const pkg = require(join(root, 'package.json')) as {
	name: string;
	n8n: { nodes: string[]; credentials: string[] };
};
let dir: string;
let tarball: string;

before(() => {
	if (!existsSync(join(root, 'dist', 'index.js')))
		throw new Error('dist/ is missing: npm run build first (scripts/test.mjs does for this tier)');
	dir = mkdtempSync(join(tmpdir(), 'crm-email-package-'));
	tarball = packPackage(dir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** npm without this package's settings (our .npmrc's ignore-scripts would hide a build). */
function npm(args: string[], cwd: string) {
	const env = Object.fromEntries(
		Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')),
	);
	env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
	return spawnSync('npm', args, { cwd, env, encoding: 'utf8' });
}

describe('npm pack', () => {
	it('holds dist/ (nodes, credentials, icons), workflows/, README and LICENSE, nothing else, under 150 kB', () => {
		const list = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
			.stdout.split('\n')
			.filter((f) => f && !f.endsWith('/'))
			.map((f) => f.replace(/^package\//, ''))
			.sort();
		const allowed =
			/^(package\.json|README\.md|LICENSE|dist\/index\.(js|d\.ts)|dist\/(nodes|credentials)\/.+\.(js|d\.ts|json)|dist\/icons\/[\w.-]+\.svg|workflows\/[\w.-]+\.(json|md))$/;
		assert.deepEqual(
			list.filter((f) => !allowed.test(f)),
			[],
			'files that do not belong in the package',
		);
		const icons = readdirSync(join(root, 'icons')).map((f) => `dist/icons/${f}`);
		for (const needed of [
			'LICENSE',
			'README.md',
			...pkg.n8n.nodes,
			...pkg.n8n.credentials,
			...icons,
			'workflows/email-to-case.json',
			'workflows/auto-reply.json',
			'workflows/README.md',
		])
			assert.ok(list.includes(needed), `${needed} is in the package`);
		const size = statSync(tarball).size;
		assert.ok(size < 150_000, `the tarball is ${size} bytes`);
	});
});

describe("n8n's manual install, under this machine's Node", () => {
	it(`npm install <tarball> in a fresh folder (Node ${process.versions.node}) installs no n8n-workflow and builds nothing`, () => {
		const folder = join(dir, 'nodes');
		mkdirSync(folder);
		writeFileSync(
			join(folder, 'package.json'),
			JSON.stringify({ name: 'installed-nodes', private: true, dependencies: {} }),
		);
		const r = npm(['install', '--no-audit', '--no-fund', tarball], folder);
		assert.equal(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`);
		assert.doesNotMatch(r.stdout + r.stderr, /gyp|isolated-vm/);
		const installed = join(folder, 'node_modules');
		assert.ok(existsSync(join(installed, pkg.name, pkg.n8n.nodes[0])));
		for (const unwanted of ['n8n-workflow', 'isolated-vm'])
			assert.equal(existsSync(join(installed, unwanted)), false, `${unwanted} was installed`);
	});
});
