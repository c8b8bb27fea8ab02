/**
 * npm run bench:reply — reply extraction accuracy and speed, ours against the npm candidates
 * (`email-reply-parser`, `planer`), on two sets:
 *   - GitHub's public email_reply_parser fixtures, read from the folder named by
 *     EMAIL_REPLY_PARSER_FIXTURES (its `test/` folder: the .rb test file and `emails/`). They are
 *     never committed here: the expected texts are built now, from the test file's assertions;
 *   - our own multilingual set, bench/fixtures/reply/cases.txt (plain and HTML).
 * Accuracy is an exact match of the extracted text after trimming whitespace at both ends.
 * Time per mail is the median over all mails of a set, each extracted 20 times.
 *
 *   EMAIL_REPLY_PARSER_FIXTURES=/path/to/email_reply_parser/test npm run bench:reply
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import EmailReplyParser from 'email-reply-parser';

import { extractReply, htmlToLines } from '../nodes/shared/reply';
import { ownCases, type Case } from './replyCases';

/** A Ruby double-quoted string literal's value (the escapes the test file uses). */
function rubyString(lit: string): string {
	return lit.replace(/\\(n|t|"|\\)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

interface Assertions {
	fixture: string;
	exact?: string;
	size?: number;
	hidden?: boolean[];
	fragments: Map<number, { literal?: string; regex?: RegExp }>;
}

/**
 * The expected visible text of each fixture, from the assertions of GitHub's test file:
 *   - `assert_equal "…", EmailReplyParser.parse_reply(body)`: that text;
 *   - one fragment only (`fragments.size` 1): the whole mail;
 *   - fragment 0 visible and, by `hidden?` or (when not asserted) by a fragment 1 that the
 *     test locates, everything from fragment N on hidden: the mail up to where the first hidden
 *     fragment starts, found from its asserted text or regex (fragments located in order).
 * Tests that assert none of these (timing, encoding) give no expected text.
 */
export function githubCases(dir: string): Case[] {
	const test = readFileSync(join(dir, 'email_reply_parser_test.rb'), 'utf8');
	const cases: Case[] = [];
	for (const m of test.matchAll(/^\s*def (test_\w+)\n([\s\S]*?)^\s{2}end$/gm)) {
		const src = m[2];
		const fixture =
			/\bemail[( ]\s*[:"](\w+)/.exec(src)?.[1] ?? /join\("(\w+)\.txt"\)/.exec(src)?.[1];
		if (!fixture) continue;
		const a: Assertions = { fixture, fragments: new Map() };
		const exact =
			/assert_equal\s+"((?:[^"\\]|\\.)*)",\s*EmailReplyParser\.parse_reply\(body\)/.exec(src);
		if (exact) a.exact = rubyString(exact[1]);
		const size = /assert_equal (\d+), reply\.fragments\.size/.exec(src);
		if (size) a.size = Number(size[1]);
		const hidden =
			/assert_equal \[([^\]]*)\],\s*reply\.fragments\.map \{ \|f\| f\.hidden\? \}/.exec(src);
		if (hidden) a.hidden = hidden[1].split(',').map((s) => s.trim() === 'true');
		for (const f of src.matchAll(
			/assert_equal "((?:[^"\\]|\\.)*)", reply\.fragments\[(\d+)\]\.to_s/g,
		))
			a.fragments.set(Number(f[2]), { literal: rubyString(f[1]) });
		for (const f of src.matchAll(
			/assert_match[ (]\/((?:[^/\\]|\\.)*)\/,?\s*reply\.fragments\[(\d+)\]\.to_s/g,
		))
			if (!a.fragments.has(Number(f[2])))
				a.fragments.set(Number(f[2]), { regex: new RegExp(f[1], 'm') });
		const file = join(dir, 'emails', `${fixture}.txt`);
		if (!existsSync(file)) continue;
		const body = readFileSync(file, 'utf8');
		const expected = expectedText(a, body);
		if (expected !== null)
			cases.push({ name: `${m[1]} (${fixture})`, text: body, html: null, expected });
	}
	return cases;
}

function expectedText(a: Assertions, body: string): string | null {
	if (a.exact !== undefined) return a.exact;
	if (a.size === 1 && !a.hidden) return body;
	let firstHidden = -1;
	if (a.hidden) {
		firstHidden = a.hidden.indexOf(true);
		if (firstHidden <= 0 || a.hidden.slice(firstHidden).includes(false)) return null;
	} else if (a.fragments.has(0) && a.fragments.has(1)) firstHidden = 1;
	else return null;
	// Locate the fragments in order, up to the first hidden one.
	const text = body.replace(/\r\n/g, '\n');
	let from = 0;
	for (let i = 0; i <= firstHidden; i++) {
		const f = a.fragments.get(i);
		if (!f) {
			if (i === firstHidden) return null;
			continue;
		}
		let at: number;
		if (f.literal !== undefined) at = text.indexOf(f.literal, from);
		else {
			const re = new RegExp(f.regex!.source, 'gm');
			re.lastIndex = from;
			const hit = re.exec(text);
			at = hit ? text.lastIndexOf('\n', hit.index - 1) + 1 : -1;
			if (hit && !f.regex!.source.startsWith('^')) at = -1; // only anchored regexes locate a start
		}
		if (i === firstHidden) return at === -1 ? null : text.slice(0, at);
		// A visible fragment not located (an unanchored regex) only leaves the search where it was.
		if (at !== -1) from = at + 1;
	}
	return null;
}

type Extractor = (c: Case) => string;

const erp = new EmailReplyParser();
/** planer ships no types. */
const planer = createRequire(__filename)('planer') as {
	extractFrom(body: string, contentType: string): string;
};
/** Libraries are plain-text parsers here (planer's HTML mode needs a DOM): HTML goes in as text. */
const asText = (c: Case) => c.text ?? htmlToLines(c.html ?? '');
const candidates: Record<string, Extractor> = {
	ours: (c) => extractReply({ text: c.text, html: c.html }).text,
	'email-reply-parser 2.3.9': (c) => erp.parseReply(asText(c)),
	'planer 1.2.0': (c) => planer.extractFrom(asText(c), 'text/plain'),
};

function measure(
	cases: Case[],
	run: Extractor,
): { exact: number; medianMs: number; failed: string[] } {
	let exact = 0;
	const failed: string[] = [];
	const times: number[] = [];
	for (const c of cases) {
		let got: string;
		try {
			got = run(c);
		} catch (error) {
			got = `(threw: ${(error as Error).message})`;
		}
		if (got.trim() === c.expected.trim()) exact++;
		else failed.push(c.name);
		const t0 = process.hrtime.bigint();
		for (let k = 0; k < 20; k++) run(c);
		times.push(Number(process.hrtime.bigint() - t0) / 20 / 1e6);
	}
	times.sort((x, y) => x - y);
	return { exact, medianMs: times[Math.floor(times.length / 2)] ?? 0, failed };
}

function report(title: string, cases: Case[]): void {
	console.log(`\n${title}: ${cases.length} mails`);
	console.log('  candidate                      exact            median ms/mail');
	for (const [name, run] of Object.entries(candidates)) {
		const r = measure(cases, run);
		const pct = ((100 * r.exact) / cases.length).toFixed(1);
		console.log(
			`  ${name.padEnd(30)} ${`${r.exact}/${cases.length} (${pct} %)`.padEnd(16)} ${r.medianMs.toFixed(3)}`,
		);
		if (name === 'ours' && r.failed.length) console.log(`    not exact: ${r.failed.join(', ')}`);
	}
}

function main(): void {
	const dir = process.env.EMAIL_REPLY_PARSER_FIXTURES;
	if (!dir)
		console.log(
			"GitHub's email_reply_parser set: NOT MEASURED (set EMAIL_REPLY_PARSER_FIXTURES to its test/ folder)",
		);
	else if (!existsSync(join(dir, 'email_reply_parser_test.rb')))
		console.log(
			`GitHub's email_reply_parser set: NOT MEASURED (no email_reply_parser_test.rb in ${dir})`,
		);
	else
		report(
			"GitHub's email_reply_parser fixtures (expected texts from its test file)",
			githubCases(dir),
		);
	report('Our multilingual set (bench/fixtures/reply/cases.txt)', ownCases());
	console.log('\nGoal: ≥ 95 % exact on each set, ≤ 1 ms median per mail.');
}

main();
