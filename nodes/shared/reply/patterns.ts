/**
 * What marks the start of a quoted mail, in the languages our customers write: reply header lines
 * ("On … wrote:", "Le … a écrit :", "Am … schrieb …:", "El … escribió:", "… написал(а):",
 * "Dne … je … napisal:"), Outlook/Exchange header blocks ("From: / Sent: / To: / Subject:" and
 * their translations), "Original Message" separators, and the short signatures mobile clients add.
 * Every regex is anchored at the line start, has only bounded repeats and is run on one line of at
 * most MAX_HEADER_LINE characters: linear on any input.
 */

/** Longer lines are never a header: a hostile line cannot make a pattern scan far. */
export const MAX_HEADER_LINE = 1_000;

/** One reply header line (or up to three joined lines), after `*` / `_` emphasis is removed. */
const REPLY_HEADERS: Array<{ hint: RegExp; pattern: RegExp }> = [
	// English: Gmail, Apple Mail, Thunderbird ("On 4 Mar 2024, at 10:15, Ann <a@x> wrote:").
	// Some clients glue it to the address: "<a@x>wrote:".
	{ hint: /wrote/i, pattern: /^on\s.{0,400}wrote\s?:$/i },
	// French: "Le lun. 4 mars 2024 à 10:15, Marie <m@x> a écrit :".
	{ hint: /écrit/i, pattern: /^le\s.{0,400}\sa\sécrit\s?:$/i },
	// German: "Am Mo., 4. März 2024 um 10:15 Uhr schrieb Max <m@x>:", "Max schrieb am 4.3.2024:".
	{ hint: /schrieb/i, pattern: /^am\s.{0,400}\sschrieb\s.{0,300}:$/i },
	{ hint: /schrieb/i, pattern: /^.{0,300}\sschrieb\sam\s.{0,300}:$/i },
	// Spanish: "El lun, 4 mar 2024 a las 10:15, Juan (<j@x>) escribió:".
	{ hint: /escribi/i, pattern: /^el\s.{0,400}\sescribió\s?:$/i },
	// Russian: "4 марта 2024 г., в 10:15, Иван <i@x> написал(а):", "04.03.2024 10:15, Иван пишет:".
	{ hint: /(писал|пишет)/i, pattern: /^.{0,400}\s(написал|написала|написал\(а\)|пишет)\s?:$/i },
	// Russian Gmail names no verb: "пн, 4 мар. 2024 г. в 10:15, Иван <i@x>:".
	{
		hint: /@/,
		pattern: /^(пн|вт|ср|чт|пт|сб|вс)[.,]?\s.{0,400}<[^<>\s]{1,200}@[^<>\s]{1,200}>\s?:$/i,
	},
	// Slovenian: "Dne 4. 3. 2024 ob 10:15 je Janez napisal:", Gmail "V pon., 4. mar. 2024 ob 10:15
	// je Janez <j@x> napisal(a):".
	{
		hint: /pisal/i,
		pattern:
			/^(dne|v)\s.{0,400}\sje\s.{0,300}\s(napisal|napisala|napisal\(a\)|pisal|pisala|pisal\(a\))\s?:$/i,
	},
];

/** Whether a line starts a reply header by its first word, so that wrapped lines are joined. */
const HEADER_FIRST_WORD = /^(on|le|am|el|dne|v|пн|вт|ср|чт|пт|сб|вс)[\s.,]/i;

const EMPHASIS = /[*_\s]/;

/** The line without `*` / `_` emphasis and spaces around it (a loop: a trailing regex would backtrack). */
function unemphasised(line: string): string {
	let a = 0;
	let b = line.length;
	while (a < b && EMPHASIS.test(line[a])) a++;
	while (b > a && EMPHASIS.test(line[b - 1])) b--;
	return line.slice(a, b);
}

export function isReplyHeader(line: string): boolean {
	if (line.length > MAX_HEADER_LINE) return false;
	const t = unemphasised(line);
	if (t.length < 6 || !t.endsWith(':')) return false;
	return REPLY_HEADERS.some((h) => h.hint.test(t) && h.pattern.test(t));
}

/**
 * Lines taken by a reply header starting at `i` (1 to 3: clients wrap long headers, e.g.
 * "On …, Ann\n<a@x>\nwrote:"), or 0 when none starts there.
 */
export function replyHeaderAt(lines: string[], i: number): number {
	const first = lines[i];
	if (first.length > MAX_HEADER_LINE || isQuoted(first)) return 0;
	if (isReplyHeader(first)) return 1;
	if (!HEADER_FIRST_WORD.test(unemphasised(first))) return 0;
	let joined = first.trim();
	for (let n = 1; n <= 2 && i + n < lines.length; n++) {
		const next = lines[i + n].trim();
		if (!next || isQuoted(next) || joined.length + next.length > MAX_HEADER_LINE) return 0;
		joined = `${joined} ${next}`;
		if (isReplyHeader(joined)) return n + 1;
	}
	return 0;
}

type FieldKind = 'from' | 'sent' | 'to' | 'subject' | 'cc';

/** Outlook/Exchange header labels, lower-case, by what they name. */
const LABELS: Record<string, FieldKind> = {};
const addLabels = (kind: FieldKind, names: string[]) => {
	for (const n of names) LABELS[n] = kind;
};
addLabels('from', ['from', 'de', 'von', 'od', 'от', 'van', 'da']);
addLabels('sent', [
	'sent',
	'date',
	'envoyé',
	'envoyé le',
	'gesendet',
	'datum',
	'enviado',
	'enviado el',
	'fecha',
	'отправлено',
	'дата',
	'poslano',
	'verzonden',
]);
addLabels('to', ['to', 'à', 'a', 'an', 'para', 'кому', 'za', 'komu', 'aan', 'pour']);
addLabels('subject', ['subject', 'objet', 'betreff', 'asunto', 'тема', 'zadeva', 'onderwerp']);
addLabels('cc', ['cc', 'копия', 'kp', 'kopie']);

const LABEL_LINE = /^([\p{L}]{1,12}(?: [\p{L}]{1,4})?)\s?:/u;

/** The kind of an Outlook header field line ("*From:* Ann", "De : Marie", "От: Иван"), or null. */
export function headerField(line: string): FieldKind | null {
	if (line.length > MAX_HEADER_LINE) return null;
	const m = LABEL_LINE.exec(line.replace(/^[\s*_>]+/, '').replace(/\*/g, ''));
	return m ? (LABELS[m[1].toLowerCase()] ?? null) : null;
}

/**
 * Lines of an Outlook header block starting at `i`: a From line followed, within five lines, by
 * at least two of Sent/Date, To and Subject. 0 when none starts there.
 */
export function headerBlockAt(lines: string[], i: number): number {
	if (isQuoted(lines[i]) || headerField(lines[i]) !== 'from') return 0;
	const seen = new Set<FieldKind>();
	let last = i;
	for (let j = i + 1; j < lines.length && j <= i + 6; j++) {
		const kind = headerField(lines[j]);
		if (kind && kind !== 'from') {
			seen.add(kind);
			last = j;
		}
	}
	const named = ['sent', 'to', 'subject'].filter((k) => seen.has(k as FieldKind)).length;
	return named >= 2 ? last - i + 1 : 0;
}

/** "-----Original Message-----" in the languages above. */
const ORIGINAL_MESSAGE =
	/^\s*-{2,}\s?(original message|ursprüngliche nachricht|message d'origine|mensaje original|исходное сообщение|izvirno sporočilo|oorspronkelijk bericht)\s?-{2,}\s*$/i;

export function isOriginalMessage(line: string): boolean {
	return line.length <= 200 && ORIGINAL_MESSAGE.test(line);
}

/**
 * A forwarded mail's marker ("---------- Forwarded message ---------", "Begin forwarded message:"):
 * what follows is content the sender passes on, not a quote to cut.
 */
const FORWARDED =
	/^\s*(-{2,}\s?)?(forwarded message|begin forwarded message|weitergeleitete nachricht|anfang der weitergeleiteten nachricht|message transféré|début du message réexpédié|mensaje reenviado|inicio del mensaje reenviado|пересылаемое сообщение|переадресованное сообщение|posredovano sporočilo|začetek posredovanega sporočila)\s?:?(\s?-{2,})?\s*$/i;

export function isForwardMarker(line: string): boolean {
	return line.length <= 200 && FORWARDED.test(line);
}

/** A rule line Outlook puts above its header block ("________", " -------"). */
export function isRule(line: string): boolean {
	return line.length <= 200 && /^\s*([-_=]\s?){5,}\s*$/.test(line);
}

export function isQuoted(line: string): boolean {
	return /^\s{0,3}>/.test(line);
}

/**
 * RFC 3676 signature separator "-- " (also written "--"), or the underscore rule above a mailing
 * list's footer.
 */
export function isSignatureSeparator(line: string): boolean {
	return line === '-- ' || line.trim() === '--' || (line.length <= 100 && /^_{2,}\s*$/.test(line));
}

/** What mobile and webmail clients append: "Sent from my iPhone", "Von meinem iPhone gesendet". */
const SENT_FROM = [
	/^sent from my(\s[\p{L}\p{N}'-]{1,20}){1,4}$/iu,
	/^sent from (outlook|mail|yahoo mail|my mobile)(\s(for|on)\s[\p{L}\p{N} ]{1,30})?$/iu,
	/^get outlook for (ios|android)$/i,
	/^envoyé (de|depuis) mon(\s[\p{L}\p{N}'-]{1,20}){1,4}$/iu,
	/^von meinem(\s[\p{L}\p{N}'-]{1,20}){1,4} gesendet$/iu,
	/^gesendet von meinem(\s[\p{L}\p{N}'-]{1,20}){1,4}$/iu,
	/^enviado desde mi(\s[\p{L}\p{N}'-]{1,20}){1,4}$/iu,
	/^отправлено (с|из)(\s[\p{L}\p{N}'-]{1,20}){1,4}$/iu,
	/^poslano (z|iz|s)(\s[\p{L}\p{N}'-]{1,20}){1,4}$/iu,
];

export function isSentFrom(line: string): boolean {
	const t = line.trim().replace(/[.!]$/, '');
	return t.length <= 80 && SENT_FROM.some((p) => p.test(t));
}

/** "-Ann" under a short mail: a dash glued to a name (not a "- bullet"). */
export function isDashName(line: string): boolean {
	return line.length <= 60 && /^-[\p{L}]/u.test(line.trim()) && !/^--/.test(line.trim());
}
