/**
 * Whole-string glob match, `*` = any run of characters, `?` = one character (EspoCRM's filter
 * patterns). Linear in the text, whatever the pattern: the pattern is cut at its stars into
 * fixed-length pieces; the first must match the start of the text, the last its end, and each
 * piece in between is found at its leftmost place after the one before (for a fixed-length piece
 * the leftmost place always leaves the most room). A piece without `?` is searched with
 * Knuth-Morris-Pratt, O(text + piece); one with `?` bit-parallel (Shift-And), O(text × ⌈piece /
 * 32⌉). Never the O(text × pattern) of a backtracking matcher (10 s for `*a…ab*` on a 1 MB body).
 */

/** Counts the work done, for tests that prove a bound without timing anything. */
export interface GlobStats {
	steps: number;
}

export type GlobMatcher = (text: string, stats?: GlobStats) => boolean;

/** Whether `piece` (with `?`) matches `text` at `at`. */
function matchesAt(piece: string, text: string, at: number): boolean {
	for (let j = 0; j < piece.length; j++) {
		const c = piece[j];
		if (c !== '?' && c !== text[at + j]) return false;
	}
	return true;
}

type Search = (text: string, from: number, to: number, stats?: GlobStats) => number;

/** Knuth-Morris-Pratt for a piece without `?`: each text character is read once. */
function literalSearcher(piece: string): Search {
	// fail[j]: length of the longest proper border of piece[0..j].
	const fail = new Int32Array(piece.length);
	for (let j = 1, k = 0; j < piece.length; j++) {
		while (k > 0 && piece[j] !== piece[k]) k = fail[k - 1];
		if (piece[j] === piece[k]) k++;
		fail[j] = k;
	}
	return (text, from, to, stats) => {
		let steps = 0;
		let k = 0;
		for (let t = from; t < to; t++) {
			// Each fallback undoes an earlier advance, so the loop runs at most 2 × (to - from).
			while (k > 0 && text[t] !== piece[k]) {
				k = fail[k - 1];
				steps++;
			}
			steps++;
			if (text[t] === piece[k] && ++k === piece.length) {
				if (stats) stats.steps += steps;
				return t - piece.length + 1;
			}
		}
		if (stats) stats.steps += steps;
		return -1;
	};
}

/** Leftmost-occurrence search for one piece, precomputed once per pattern. */
function searcher(piece: string): Search {
	if (!piece.includes('?')) return literalSearcher(piece);
	const words = Math.ceil(piece.length / 32);
	const wildcard = new Uint32Array(words);
	for (let j = 0; j < piece.length; j++) if (piece[j] === '?') wildcard[j >> 5] |= 1 << (j & 31);
	// Per character of the piece: the positions it (or a `?`) may take; any other character
	// only fits the `?` positions.
	const masks = new Map<number, Uint32Array>();
	for (let j = 0; j < piece.length; j++) {
		const code = piece.charCodeAt(j);
		if (piece[j] === '?') continue;
		let mask = masks.get(code);
		if (!mask) masks.set(code, (mask = Uint32Array.from(wildcard)));
		mask[j >> 5] |= 1 << (j & 31);
	}
	const lastWord = (piece.length - 1) >> 5;
	const lastBit = 1 << ((piece.length - 1) & 31);
	const state = new Uint32Array(words);
	// Start of the leftmost occurrence within text[from, to), or -1.
	return (text, from, to, stats) => {
		state.fill(0);
		for (let t = from; t < to; t++) {
			const mask = masks.get(text.charCodeAt(t)) ?? wildcard;
			let carry = 1;
			for (let w = 0; w < words; w++) {
				const d = state[w];
				state[w] = ((d << 1) | carry) & mask[w];
				carry = d >>> 31;
			}
			if (state[lastWord] & lastBit) {
				if (stats) stats.steps += (t - from + 1) * words;
				return t - piece.length + 1;
			}
		}
		if (stats) stats.steps += (to - from) * words;
		return -1;
	};
}

export function compileGlob(pattern: string): GlobMatcher {
	const pieces = pattern.split('*');
	if (pieces.length === 1)
		return (text, stats) => {
			if (stats) stats.steps += pattern.length;
			return text.length === pattern.length && matchesAt(pattern, text, 0);
		};
	const head = pieces[0];
	const tail = pieces[pieces.length - 1];
	const middle = pieces.slice(1, -1).filter(Boolean);
	const find = middle.map(searcher);
	const fixed = head.length + tail.length;
	return (text, stats) => {
		if (stats) stats.steps += fixed;
		if (text.length < fixed) return false;
		if (!matchesAt(head, text, 0) || !matchesAt(tail, text, text.length - tail.length))
			return false;
		let at = head.length;
		const end = text.length - tail.length;
		for (let k = 0; k < middle.length; k++) {
			const start = find[k](text, at, end, stats);
			if (start < 0) return false;
			at = start + middle[k].length;
		}
		return true;
	};
}

export function globMatch(pattern: string, text: string): boolean {
	return compileGlob(pattern)(text);
}
