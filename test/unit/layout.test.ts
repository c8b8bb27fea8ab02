/**
 * The repository's rooms: the real-server harness (harness/) is shared by tests, benchmarks and
 * `npm start`; test/ is for tests alone; the Debian install logic exists once.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const root = resolve(__dirname, '..', '..');

function sources(dir: string): string[] {
	return readdirSync(join(root, dir)).flatMap((name) => {
		const p = join(dir, name);
		if (statSync(join(root, p)).isDirectory()) return sources(p);
		return /\.(ts|mjs|js)$/.test(name) ? [p] : [];
	});
}

/** Every relative module a file imports, as a path from the repository root. */
function relativeImports(file: string): string[] {
	const text = readFileSync(join(root, file), 'utf8');
	const specifiers = [
		...text.matchAll(/\bfrom\s+'(\.[^']*)'/g),
		...text.matchAll(/\b(?:require|import|tsImport)\(\s*'(\.[^']*)'/g),
	].map((m) => m[1]);
	return specifiers.map((s) => relative(root, resolve(root, dirname(file), s)));
}

const tools = ['harness', 'bench', 'scripts'];

describe('repository layout', () => {
	it('no benchmark, script or harness file imports from test/', () => {
		const offending = tools.flatMap(sources).flatMap((file) =>
			relativeImports(file)
				.filter((target) => target === 'test' || target.startsWith('test/'))
				.map((target) => `${file} → ${target}`),
		);
		assert.deepEqual(offending, []);
	});

	it('apt-get is run from harness/debian.ts only', () => {
		const callers = [...tools, 'test', 'nodes', 'credentials']
			.flatMap(sources)
			.filter((file) =>
				/spawn(?:Sync)?\(\s*'apt-get'/.test(readFileSync(join(root, file), 'utf8')),
			);
		assert.deepEqual(callers, ['harness/debian.ts']);
	});

	it('the build (tsconfig.json) compiles no tool folder into dist/', () => {
		const { include } = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as {
			include: string[];
		};
		const tool = include.filter((p) => /^(harness|bench|scripts|test)\//.test(p));
		assert.deepEqual(tool, []);
	});
});
