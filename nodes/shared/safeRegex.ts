/**
 * Admin-written regular expressions run on untrusted mail. V8's backtracking engine can take
 * exponential time on a crafted input (`(a+)+$` on a 1 MB body), so every test runs inside a
 * `vm` script with a time limit: a match that runs too long is stopped and reported, never a
 * hung workflow. The watchdog costs about 0.1 ms per test.
 */
import { Script, createContext } from 'node:vm';

import { CrmEmailError } from './errors';

export interface RegexOutcome {
	matched: boolean;
	/** The match was stopped at the time limit; `matched` is false. */
	timedOut: boolean;
}

const script = new Script('re.lastIndex = 0; re.test(s)');
const context = createContext({ re: /./, s: '' });

function invalidRegex(where: string, pattern: string, problem: string): CrmEmailError {
	return new CrmEmailError(
		'CONFIG_INVALID',
		`${where}: invalid regular expression ${pattern} (${problem})`,
		{ pattern },
	);
}

/**
 * Compiles an admin's pattern, written bare (`^Re:`) or as a literal with flags (`/^re:/i`).
 * `where` names the setting for the error message.
 */
export function compileRegex(pattern: string, caseSensitive: boolean, where: string): RegExp {
	const literal = /^\/([\s\S]+)\/([a-z]*)$/.exec(pattern);
	const source = literal ? literal[1] : pattern;
	let flags = literal ? literal[2] : '';
	if (!caseSensitive && !flags.includes('i')) flags += 'i';
	// g and y make test() stateful; the caller wants a plain yes/no.
	flags = flags.replace(/[gy]/g, '');
	let problem = '';
	let re: RegExp | null = null;
	try {
		re = new RegExp(source, flags);
	} catch (error) {
		problem = (error as Error).message;
	}
	if (!re) throw invalidRegex(where, pattern, problem);
	return re;
}

/**
 * Runs one of the scripts on `text` within the time limit. Only the time limit can stop RegExp
 * test/exec on a string: it answers `timedOut`; anything else is a bug worth seeing, rethrown.
 */
function runTimed(
	which: Script,
	re: RegExp,
	text: string,
	timeoutMs: number,
): { value: unknown; timedOut: boolean } {
	context.re = re;
	context.s = text;
	let failure: unknown = null;
	try {
		return { value: which.runInContext(context, { timeout: timeoutMs }), timedOut: false };
	} catch (error) {
		failure = error;
	} finally {
		context.s = '';
	}
	if ((failure as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT')
		return { value: null, timedOut: true };
	throw failure as Error;
}

export function testRegex(re: RegExp, text: string, timeoutMs: number): RegexOutcome {
	const { value, timedOut } = runTimed(script, re, text, timeoutMs);
	return { matched: value === true, timedOut };
}

const execScript = new Script('re.lastIndex = 0; re.exec(s)');

/** Like testRegex, returning the match (with its groups), or null; null as well at the limit. */
export function execRegex(
	re: RegExp,
	text: string,
	timeoutMs: number,
): { match: RegExpExecArray | null; timedOut: boolean } {
	const { value, timedOut } = runTimed(execScript, re, text, timeoutMs);
	return { match: value as RegExpExecArray | null, timedOut };
}
