/**
 * HTML to searchable text: drops tags, script and style contents and comments, decodes the common
 * entities, folds whitespace. A single left-to-right scan with indexOf: linear on any input, unlike
 * lazy `<script[\s\S]*?</script>` regexes, which go quadratic on unclosed tags.
 */
const ENTITIES: Record<string, string> = {
	amp: '&',
	lt: '<',
	gt: '>',
	quot: '"',
	apos: "'",
	nbsp: ' ',
};

export function decodeEntities(text: string): string {
	return text.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,8});/gi, (whole, code: string) => {
		if (code[0] === '#') {
			const n =
				code[1] === 'x' || code[1] === 'X'
					? parseInt(code.slice(2), 16)
					: parseInt(code.slice(1), 10);
			return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : whole;
		}
		return ENTITIES[code.toLowerCase()] ?? whole;
	});
}

export function htmlToText(html: string): string {
	const lower = html.toLowerCase();
	const parts: string[] = [];
	let i = 0;
	while (i < html.length) {
		const open = html.indexOf('<', i);
		if (open === -1) {
			parts.push(html.slice(i));
			break;
		}
		parts.push(html.slice(i, open));
		let end: number;
		if (lower.startsWith('<!--', open)) {
			end = lower.indexOf('-->', open + 4);
			end = end === -1 ? html.length : end + 3;
		} else if (lower.startsWith('<script', open) || lower.startsWith('<style', open)) {
			const close = lower.startsWith('<script', open) ? '</script' : '</style';
			end = lower.indexOf(close, open);
			end = end === -1 ? html.length : lower.indexOf('>', end);
			end = end === -1 ? html.length : end + 1;
		} else {
			end = html.indexOf('>', open);
			end = end === -1 ? html.length : end + 1;
		}
		parts.push(' ');
		i = end;
	}
	return decodeEntities(parts.join('')).replace(/\s+/g, ' ').trim();
}
