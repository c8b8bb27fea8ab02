/**
 * The reply extraction set written for this project (bench/fixtures/reply/cases.txt), read by
 * `npm run bench:reply` and by the unit tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const OWN_CASES_FILE = join(__dirname, 'fixtures/reply/cases.txt');

export interface Case {
	name: string;
	text: string | null;
	html: string | null;
	expected: string;
}

/** Our set: "### name | lang | text|html", the body, "~~~", the expected reply text. */
export function ownCases(file = OWN_CASES_FILE): Case[] {
	const out: Case[] = [];
	for (const block of readFileSync(file, 'utf8').split(/^### /m).slice(1)) {
		const nl = block.indexOf('\n');
		const [name, , kind] = block
			.slice(0, nl)
			.split('|')
			.map((s) => s.trim());
		const [body, expected] = block.slice(nl + 1).split(/^~~~$/m);
		if (expected === undefined) throw new Error(`case ${name} has no expected text`);
		out.push({
			name,
			text: kind === 'html' ? null : body,
			html: kind === 'html' ? body : null,
			expected: expected.trim(),
		});
	}
	return out;
}
