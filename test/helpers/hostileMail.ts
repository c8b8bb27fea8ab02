/**
 * Hostile mail, the way real clients wrote it over the decades: obsolete Date forms and zones,
 * obs-in-reply-to phrases, folded and RFC 2047 encoded headers, raw 8-bit bytes, unknown
 * charsets, missing and repeated Message-IDs, bare LF line ends, NULs, huge headers. Generated
 * (fast-check arbitraries, so property tests shrink failures), never downloaded.
 */
import { readdirSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';

import type { Dovecot } from '../../harness/dovecot';

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const NAMED_ZONES: Record<string, number> = {
	UT: 0,
	GMT: 0,
	EST: -300,
	EDT: -240,
	CST: -360,
	CDT: -300,
	MST: -420,
	MDT: -360,
	PST: -480,
	PDT: -420,
};

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A Date header in a well-formed or obsolete form, with the instant it names. */
export interface DateHeader {
	text: string;
	/** The instant, or null when the header names none (garbage). */
	expected: Date | null;
}

export const arbDateHeader: fc.Arbitrary<DateHeader> = fc.oneof(
	{ weight: 5, arbitrary: arbValidDate() },
	{
		weight: 1,
		arbitrary: fc.constantFrom<DateHeader>(
			{ text: 'yesterday', expected: null },
			{ text: '', expected: null },
			{ text: '0', expected: null },
			{ text: 'Thu, 32 Aug 2002 15:36:58 +0000', expected: null },
			{ text: 'Thu, 29 Foo 2002 15:36:58 +0000', expected: null },
			{ text: 'Thu, 29 Aug 2002 25:36:58 +0000', expected: null },
			{ text: '31 Feb 2002 10:00:00 +0000', expected: null },
			{ text: 'Thu, 29 Aug 2002 15:36:58 +9999', expected: null },
			{ text: '(((((', expected: null },
			{ text: '2002-08-29T15:36:58Z', expected: null },
		),
	},
	{ weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((text) => ({ text, expected: null })) },
);

function arbValidDate(): fc.Arbitrary<DateHeader> {
	return fc
		.record({
			year: fc.integer({ min: 0, max: 9999 }),
			month: fc.integer({ min: 0, max: 11 }),
			day: fc.integer({ min: 1, max: 28 }),
			hour: fc.integer({ min: 0, max: 23 }),
			minute: fc.integer({ min: 0, max: 59 }),
			second: fc.option(fc.integer({ min: 0, max: 59 })),
			weekday: fc.boolean(),
			yearForm: fc.constantFrom('four', 'two', 'three'),
			zone: fc.oneof(
				fc.integer({ min: -12 * 60, max: 14 * 60 }).map((m) => ({ kind: 'numeric' as const, m })),
				fc.constantFrom(...Object.keys(NAMED_ZONES)).map((n) => ({ kind: 'named' as const, n })),
				fc.constant({ kind: 'doubleSign' as const }),
				fc.constant({ kind: 'military' as const }),
				fc.constant({ kind: 'none' as const }),
			),
			comment: fc.constantFrom('', ' (EST)', ' (Eastern (Daylight) Time)', ' (added by gateway)'),
			spacing: fc.constantFrom(' ', '  ', '\r\n '),
		})
		.map((d) => {
			let year = d.year;
			let yearText = pad(year, 4);
			if (d.yearForm === 'two') {
				const yy = year % 100;
				year = yy < 50 ? 2000 + yy : 1900 + yy;
				yearText = pad(yy);
			} else if (d.yearForm === 'three' && year >= 1900 && year <= 2899) {
				yearText = String(year - 1900).padStart(3, '0');
			}
			let offset = 0;
			let zoneText = '';
			switch (d.zone.kind) {
				case 'numeric': {
					offset = d.zone.m;
					const a = Math.abs(offset);
					zoneText = `${offset < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
					break;
				}
				case 'named':
					offset = NAMED_ZONES[d.zone.n];
					zoneText = d.zone.n;
					break;
				case 'doubleSign':
					offset = -300;
					zoneText = '+-0500';
					break;
				case 'military':
					zoneText = 'J';
					break;
				case 'none':
					break;
			}
			const expected = new Date(0);
			expected.setUTCFullYear(year, d.month, d.day);
			expected.setUTCHours(d.hour, d.minute, d.second ?? 0, 0);
			expected.setTime(expected.getTime() - offset * 60_000);
			const weekday = d.weekday ? `${WEEKDAYS[(expected.getUTCDay() + 6) % 7]}, ` : '';
			const time = `${pad(d.hour)}:${pad(d.minute)}${d.second === null ? '' : `:${pad(d.second)}`}`;
			const s = d.spacing;
			const text = `${weekday}${d.day}${s}${MONTHS[d.month]}${s}${yearText} ${time}${zoneText ? ` ${zoneText}` : ''}${d.comment}`;
			const y = expected.getUTCFullYear();
			return { text, expected: y >= 0 && y <= 9999 ? expected : null };
		});
}

const atom = fc.stringMatching(/^[A-Za-z0-9.$%_-]{1,20}$/);
export const arbMessageId: fc.Arbitrary<string> = fc
	.tuple(atom, fc.constantFrom('example.org', 'mail.example.com', 'whatexit.org', 'x'))
	.map(([l, d]) => `<${l}@${d}>`);

/** An In-Reply-To value as clients wrote it, with the Message-IDs it holds. */
export interface ReplyHeader {
	text: string;
	ids: string[];
}

export const arbInReplyTo: fc.Arbitrary<ReplyHeader> = fc.oneof(
	arbMessageId.map((id) => ({ text: id, ids: [id] })),
	arbMessageId.map((id) => ({ text: `${id} (sent from my phone)`, ids: [id] })),
	arbMessageId.map((id) => ({
		text: `noglider's message of Tue, 10 Sep 2002 09:42:33 -0400 ${id}`,
		ids: [id],
	})),
	arbMessageId.map((id) => ({
		text: `Your message of "Tue, 10 Sep 2002 13:21:44 EDT."\r\n             ${id}`,
		ids: [id],
	})),
	arbMessageId.map((id) => ({
		text: `Message from "Jane Doe" <jane@example.org>\r\n   of "Mon, 09 Sep 2002 10:00:00 PDT." ${id}`,
		ids: ['<jane@example.org>', id],
	})),
	fc.tuple(arbMessageId, arbMessageId).map(([a, b]) => ({ text: `${a} ${b}`, ids: [a, b] })),
	arbMessageId.map((id) => ({ text: id.slice(1, -1), ids: [id] })),
	arbMessageId.map((id) => ({ text: `${id.slice(0, 4)}\r\n ${id.slice(4)}`, ids: [id] })),
	fc.constantFrom<ReplyHeader>(
		{ text: '<>', ids: [] },
		{ text: 'Your message of Tue, 10 Sep 2002', ids: [] },
		{ text: '', ids: [] },
	),
	// Free text: without brackets or an @ it holds no Message-ID.
	fc
		.string({ maxLength: 80 })
		.filter((t) => !/[<>@]/.test(t))
		.map((text) => ({ text, ids: [] as string[] })),
);

/** A header value in one of the encodings mail used: ASCII, RFC 2047, raw 8-bit, broken. */
const arbEncodedText: fc.Arbitrary<Buffer> = fc.oneof(
	fc.constantFrom('Order 1234', 'Re: Re: Fwd: problem', '').map((s) => Buffer.from(s)),
	fc.constant(Buffer.from('=?UTF-8?B?0J/RgNC40LLQtdGC?= world')),
	fc.constant(Buffer.from('=?iso-8859-1?Q?Gr=FC=DFe?=')),
	fc.constant(Buffer.from('=?x-unknown?B?SGVsbG8=?=')),
	fc.constant(Buffer.from('=?UTF-8?B?!!not base64!!?=')),
	fc.constant(Buffer.from('=?UTF-8?Q?unterminated')),
	fc.constant(Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65])), // latin1 "Grüße", raw
	fc.constant(Buffer.from('Grüße, 日本語')), // raw UTF-8
	fc.constant(Buffer.from('a very long subject '.repeat(30).replace(/(.{70}) /g, '$1\r\n '))),
	fc.constant(Buffer.from('with\0nul')),
);

const arbFrom: fc.Arbitrary<Buffer> = fc.oneof(
	fc.constant(Buffer.from('Jane Doe <jane@example.org>')),
	fc.constant(Buffer.from('"Doe, Jane" <Jane.Doe@Example.org>')),
	fc.constant(Buffer.from('=?UTF-8?B?0JjQstCw0L0=?= <ivan@example.ru>')),
	fc.constant(Buffer.from('jane@example.org (Jane Doe)')),
	fc.constant(Buffer.from('undisclosed-recipients:;')),
	fc.constant(Buffer.from('<>')),
	fc.constant(Buffer.from('not an address at all')),
	fc.constant(
		Buffer.from([0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72, 0x20, 0x3c, 0x6d, 0x40, 0x78, 0x3e]),
	),
);

type BodyPart = { headers: string[]; body: Buffer };
const arbBody: fc.Arbitrary<BodyPart> = fc.constantFrom<BodyPart>(
	{ headers: ['Content-Type: text/plain; charset=utf-8'], body: Buffer.from('Hello') },
	{ headers: ['Content-Type: text/plain; charset=x-bogus'], body: Buffer.from('Hi') },
	{
		headers: ['Content-Type: text/plain; charset="iso-8859-1"'],
		body: Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]),
	},
	{
		headers: ['Content-Type: text/html'],
		body: Buffer.from('<p>hello<script>x</script>'),
	},
	{ headers: [], body: Buffer.from('no content type\0with a NUL') },
	{
		headers: ['MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"'],
		body: Buffer.from(
			'--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n--b\r\nContent-Type: application/pdf; name="a.pdf"\r\nContent-Disposition: attachment; filename="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n',
		),
	},
	{
		headers: ['MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="never"'],
		body: Buffer.from('--wrong\r\nunterminated multipart'),
	},
	{
		headers: ['Content-Transfer-Encoding: base64'],
		body: Buffer.from('!!!! not base64 ####'),
	},
);

/** One hostile mail: the header values chosen, and how it is rendered. */
export interface HostileSpec {
	date: DateHeader | null;
	messageId: 'own' | 'missing' | 'bare' | 'commented' | 'empty' | 'twice';
	inReplyTo: ReplyHeader | null;
	references: ReplyHeader | null;
	subject: Buffer;
	from: Buffer;
	body: { headers: string[]; body: Buffer };
	bareLf: boolean;
	extra: 'none' | 'hugeHeader' | 'manyHeaders' | 'unfoldedLong';
}

export const arbHostileSpec: fc.Arbitrary<HostileSpec> = fc.record({
	date: fc.option(arbDateHeader, { freq: 8 }),
	messageId: fc.constantFrom('own', 'own', 'own', 'missing', 'bare', 'commented', 'empty', 'twice'),
	inReplyTo: fc.option(arbInReplyTo, { freq: 2 }),
	references: fc.option(arbInReplyTo, { freq: 3 }),
	subject: arbEncodedText,
	from: arbFrom,
	body: arbBody,
	bareLf: fc.boolean(),
	extra: fc.constantFrom('none', 'none', 'none', 'hugeHeader', 'manyHeaders', 'unfoldedLong'),
});

/**
 * The mail as bytes. `tag` goes into an X-Corpus header and the subject (so two generated
 * mails never look like the same mail), `id` is its Message-ID when it has one.
 */
export function renderHostile(spec: HostileSpec, tag: string, id: string): Buffer {
	const lines: Buffer[] = [];
	const h = (name: string, value: string | Buffer) =>
		lines.push(Buffer.concat([Buffer.from(`${name}: `), Buffer.from(value)]));
	h('X-Corpus', tag);
	h('From', spec.from);
	h('To', 'support@example.com');
	h('Subject', Buffer.concat([spec.subject, Buffer.from(` [${tag}]`)]));
	if (spec.date) h('Date', spec.date.text);
	switch (spec.messageId) {
		case 'own':
			h('Message-ID', id);
			break;
		case 'bare':
			h('Message-ID', id.slice(1, -1));
			break;
		case 'commented':
			h('Message-ID', `${id} (generated)`);
			break;
		case 'empty':
			h('Message-ID', '<>');
			break;
		case 'twice':
			h('Message-ID', id);
			h('Message-ID', `<second.${id.slice(1)}`);
			break;
		case 'missing':
			break;
	}
	if (spec.inReplyTo) h('In-Reply-To', spec.inReplyTo.text);
	if (spec.references) h('References', spec.references.text);
	if (spec.extra === 'hugeHeader') h('X-Huge', 'y'.repeat(200_000));
	if (spec.extra === 'unfoldedLong') h('X-Long', Array(3000).fill('word').join('\r\n '));
	if (spec.extra === 'manyHeaders') for (let i = 0; i < 500; i++) h(`X-Many-${i}`, String(i));
	for (const line of spec.body.headers) lines.push(Buffer.from(line));
	const eol = Buffer.from(spec.bareLf ? '\n' : '\r\n');
	const out: Buffer[] = [];
	for (const l of lines) {
		const text = spec.bareLf
			? Buffer.from(l.toString('latin1').replace(/\r\n/g, '\n'), 'latin1')
			: l;
		out.push(text, eol);
	}
	out.push(eol, spec.body.body, eol);
	return Buffer.concat(out);
}

export interface CorpusMail {
	tag: string;
	raw: Buffer;
	spec: HostileSpec;
	internalDate: Date;
}

/** Internal dates servers hold: now-ish, the 1970s, clamped future years, far ahead. */
const INTERNAL_DATES = [
	() => new Date(Date.now() - 3600_000),
	() => new Date('1970-01-02T00:00:00Z'),
	() => new Date('1985-06-01T12:00:00Z'),
	() => new Date('2038-01-19T03:14:07Z'),
	() => new Date('2099-12-31T23:59:59Z'),
	() => new Date(Date.now() + 30 * 86_400_000),
];

/**
 * A deterministic corpus of `count` hostile mails. Some repeat another mail's Message-ID (a
 * different mail: other subject), one is an exact copy of the one before it (the same mail).
 */
export function hostileCorpus(count: number, seed = 11, prefix = 'c'): CorpusMail[] {
	const specs = fc.sample(arbHostileSpec, { seed, numRuns: count });
	return specs.map((spec, i) => {
		// Fixed width, so no tag is the start of another one.
		const tag = `${prefix}${String(i).padStart(4, '0')}`;
		// Every seventh mail reuses the Message-ID of the one before it.
		const id = `<${prefix}.${i - (i % 7 === 6 ? 1 : 0)}.${seed}@corpus.example>`;
		return {
			tag,
			raw: renderHostile(spec, tag, id),
			spec,
			internalDate: INTERNAL_DATES[i % INTERNAL_DATES.length](),
		};
	});
}

/**
 * Sets internal dates Dovecot's APPEND refuses: it clamps them to [1901-12-13, now]. In a
 * maildir the internal date is the file's mtime, read when a session first indexes the mail, so
 * this must run before anything fetched the mails. `dates` maps a string found in the mail's
 * source (a unique subject or X-Corpus value) to its date.
 */
export function setMaildirDates(dovecot: Dovecot, folder: string, dates: Map<string, Date>): void {
	const found = new Set<string>();
	for (const sub of ['new', 'cur']) {
		const dir = join(dovecot.dir, 'mail', dovecot.user.user, `.${folder}`, sub);
		for (const name of readdirSync(dir)) {
			const file = join(dir, name);
			const text = readFileSync(file).toString('latin1');
			for (const [marker, date] of dates) {
				if (!text.includes(marker)) continue;
				utimesSync(file, date, date);
				found.add(marker);
			}
		}
	}
	const missing = [...dates.keys()].filter((m) => !found.has(m));
	if (missing.length > 0) throw new Error(`no mail in ${folder} holds ${missing.join(', ')}`);
}
