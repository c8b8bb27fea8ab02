/**
 * Whole-string glob match, `*` = any run of characters, `?` = one character (EspoCRM's filter
 * patterns). Iterative with a single backtrack point, so a hostile text costs at most
 * O(text × pattern), never the exponential time a glob-to-regex translation can take.
 */
export function globMatch(pattern: string, text: string): boolean {
	let p = 0;
	let t = 0;
	let star = -1;
	let resume = 0;
	while (t < text.length) {
		const pc = pattern[p];
		if (p < pattern.length && (pc === '?' || (pc !== '*' && pc === text[t]))) {
			p++;
			t++;
		} else if (p < pattern.length && pc === '*') {
			star = p++;
			resume = t;
		} else if (star !== -1) {
			p = star + 1;
			t = ++resume;
		} else return false;
	}
	while (pattern[p] === '*') p++;
	return p === pattern.length;
}
