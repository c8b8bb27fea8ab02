import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { compileGlob, globMatch, type GlobStats } from '../../../nodes/shared/glob';

/** The obvious definition, fine for short strings: a glob as an anchored regex. */
function reference(pattern: string, text: string): boolean {
	const source = pattern
		.split('')
		.map((c) =>
			c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
		)
		.join('');
	return new RegExp(`^${source}$`).test(text);
}

describe('glob', () => {
	it('agrees with the regex definition (property)', () => {
		fc.assert(
			fc.property(
				fc.stringMatching(/^[ab?*.]{0,12}$/),
				fc.stringMatching(/^[ab.]{0,30}$/),
				(pattern, text) => globMatch(pattern, text) === reference(pattern, text),
			),
			{ numRuns: 5_000 },
		);
	});

	it('long pieces, with and without `?`, across the 32-bit word boundary (property)', () => {
		fc.assert(
			fc.property(
				fc.stringMatching(/^[ab?]{30,70}$/),
				fc.stringMatching(/^[ab]{0,150}$/),
				fc.boolean(),
				(piece, text, anchored) => {
					const pattern = anchored ? `${piece}*` : `*${piece}*`;
					return globMatch(pattern, text) === reference(pattern, text);
				},
			),
			{ numRuns: 2_000 },
		);
	});

	// `*a…ab*` on 1 MB of `a` took 10 s with a backtracking matcher (1,000 × 1,000,000 steps).
	it('is linear on a hostile 1 MB text: `*a…ab*`', () => {
		const text = 'a'.repeat(1_000_000);
		const pattern = `*${'a'.repeat(1_000)}b*`;
		const stats: GlobStats = { steps: 0 };
		assert.equal(compileGlob(pattern)(text, stats), false);
		assert.ok(
			stats.steps > 0 && stats.steps <= 2 * (text.length + pattern.length),
			`${stats.steps} steps`,
		);
	});

	it('with `?` in the piece: one pass over the text per 32 pattern characters', () => {
		const text = 'a'.repeat(1_000_000);
		const piece = `${'a?'.repeat(500)}b`;
		const stats: GlobStats = { steps: 0 };
		assert.equal(compileGlob(`*${piece}*`)(text, stats), false);
		assert.ok(
			stats.steps > 0 && stats.steps <= text.length * Math.ceil(piece.length / 32),
			`${stats.steps} steps`,
		);
	});

	it('stars, anchors and `?` as EspoCRM uses them', () => {
		const cases: Array<[string, string, boolean]> = [
			['*@example.com', 'ann@example.com', true],
			['*@example.com', 'ann@example.com.evil', false],
			['a*', '', false],
			['?*?', 'a', false],
			['?*?', 'ab', true],
			['ab*ab', 'aba', false],
			['ab*ab', 'abab', true],
			['**a**', 'xax', true],
		];
		for (const [p, t, expected] of cases) assert.equal(globMatch(p, t), expected, `${p} ~ ${t}`);
	});
});
