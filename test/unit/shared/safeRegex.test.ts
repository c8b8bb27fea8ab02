/**
 * Admin regular expressions on untrusted mail (nodes/shared/safeRegex.ts): compiled as written,
 * and a catastrophic pattern stopped at the time limit instead of hanging the workflow.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { isCrmEmailError } from '../../../nodes/shared/errors';
import { compileRegex, execRegex, testRegex } from '../../../nodes/shared/safeRegex';

describe('compileRegex', () => {
	it('takes a bare pattern or a /literal/ with flags; case-insensitive unless asked', () => {
		assert.equal(compileRegex('^Re:', false, 'Rule').flags, 'i');
		assert.equal(compileRegex('^Re:', true, 'Rule').flags, '');
		const literal = compileRegex('/^re:\\s+x/m', true, 'Rule');
		assert.equal(literal.source, '^re:\\s+x');
		assert.equal(literal.flags, 'm');
		assert.equal(compileRegex('/a/i', true, 'Rule').flags, 'i');
	});

	it('drops g and y: a yes/no test must not depend on the previous one', () => {
		const re = compileRegex('/ab/gy', true, 'Rule');
		assert.equal(re.flags, '');
		assert.equal(testRegex(re, 'ab', 50).matched, true);
		assert.equal(testRegex(re, 'ab', 50).matched, true);
	});

	it('an invalid pattern is CONFIG_INVALID naming the setting and the pattern', () => {
		try {
			compileRegex('([a-', false, 'Subject Pattern');
			assert.fail('compiled');
		} catch (error) {
			assert.ok(isCrmEmailError(error));
			assert.equal(error.code, 'CONFIG_INVALID');
			assert.match(error.message, /^Subject Pattern: invalid regular expression \(\[a- \(/);
			assert.equal(error.details.pattern, '([a-');
		}
	});
});

describe('testRegex and execRegex', () => {
	it('a catastrophic backtracking pattern is stopped at the limit, and the next test still works', () => {
		const evil = compileRegex('^(a+)+$', true, 'Rule');
		const started = Date.now();
		const r = testRegex(evil, `${'a'.repeat(40)}!`, 30);
		assert.deepEqual(r, { matched: false, timedOut: true });
		assert.ok(Date.now() - started < 2000, 'not stopped');
		assert.deepEqual(testRegex(evil, 'aaa', 30), { matched: true, timedOut: false });
		assert.deepEqual(execRegex(evil, `${'a'.repeat(40)}!`, 30), { match: null, timedOut: true });
	});

	it('execRegex returns the match with its groups', () => {
		const r = execRegex(compileRegex('case (?<n>\\d+)', false, 'Rule'), 'About CASE 42.', 50);
		assert.equal(r.timedOut, false);
		assert.equal(r.match?.[0], 'CASE 42');
		assert.equal(r.match?.groups?.n, '42');
	});

	it('agrees with RegExp on patterns that finish in time', () => {
		fc.assert(
			fc.property(
				fc.string({ maxLength: 6 }),
				fc.string({ maxLength: 40 }),
				fc.boolean(),
				(needle, text, caseSensitive) => {
					const escaped = needle.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
					const re = compileRegex(escaped, caseSensitive, 'Rule');
					const expected = new RegExp(escaped, caseSensitive ? '' : 'i').test(text);
					assert.deepEqual(testRegex(re, text, 200), { matched: expected, timedOut: false });
				},
			),
			{ numRuns: 300, seed: 15 },
		);
	});
});
