import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { ownCases } from '../../../bench/replyCases';
import { extractFromText, extractReply, htmlToLines } from '../../../nodes/shared/reply';
import { MAX_SCAN_CHARS } from '../../../nodes/shared/reply/text';

describe('reply extraction: examples', () => {
	it('every mail of the multilingual set gives its expected text', () => {
		const cases = ownCases();
		assert.ok(cases.length >= 60, `${cases.length} cases`);
		for (const c of cases)
			assert.equal(
				extractReply({ text: c.text, html: c.html }).text.trim(),
				c.expected,
				`case ${c.name}`,
			);
	});

	it('says which rule cut, and returns the signature it cut', () => {
		const cases: Array<[string, string, string, string | null]> = [
			['Yes.\n\nOn Mon, 4 Mar 2024, Ann <a@x.example> wrote:\n> Ok?', 'header-line', 'Yes.', null],
			[
				'Yes.\n\nVon: Support <s@x.example>\nGesendet: Montag, 4. März 2024 10:15\nAn: Ann\nBetreff: Frage\n\nOk?',
				'header-block',
				'Yes.',
				null,
			],
			['Yes.\n\n> Ok?\n> Sure?', 'quote-block', 'Yes.', null],
			['Yes.\n\n-- \nAnn Smith\nAcme', 'signature', 'Yes.', '-- \nAnn Smith\nAcme'],
			['Yes.\n\nSent from my iPhone', 'signature', 'Yes.', 'Sent from my iPhone'],
			['Yes, all fine.', 'none', 'Yes, all fine.', null],
		];
		for (const [body, method, text, signature] of cases) {
			const r = extractFromText(body);
			assert.deepEqual([r.method, r.text, r.signature], [method, text, signature], body);
			assert.equal(r.quoted, method !== 'none' && method !== 'signature', body);
		}
	});

	it('keeps the whole body when nothing new would remain: a bare quote, a forward', () => {
		const quoteOnly = 'On Mon, 4 Mar 2024, Ann <a@x.example> wrote:\n> Ok?';
		assert.deepEqual(extractFromText(quoteOnly), {
			text: quoteOnly,
			quoted: false,
			signature: null,
			method: 'none',
		});
		const forward =
			'FYI\n\n---------- Forwarded message ---------\nFrom: Ann <a@x.example>\nDate: Mon, 4 Mar 2024\nSubject: Broken\nTo: <b@x.example>\n\nIt is broken.';
		assert.equal(extractFromText(forward).text, forward);
		assert.equal(extractFromText('-- \nonly a signature').text, '-- \nonly a signature');
		assert.equal(extractFromText('').text, '');
		assert.equal(extractFromText(' \n\n ').text, '');
	});

	it('keeps inline answers between quotes, cuts only the trailing quote', () => {
		const body =
			'On Mon, 4 Mar 2024, Ann <a@x.example> wrote:\n> Which version?\n\n4.2\n\n> Which browser?\n\nFirefox\n\n> Thanks\n> Ann';
		assert.equal(
			extractFromText(body).text,
			'On Mon, 4 Mar 2024, Ann <a@x.example> wrote:\n> Which version?\n\n4.2\n\n> Which browser?\n\nFirefox',
		);
	});

	it('does not take sentences for headers or signatures', () => {
		for (const body of [
			'On Monday the server was down.\nOn Tuesday it worked.',
			'Sent from my desk, is much easier than my phone.',
			'Here is a fix -- not a signature.\n\nbye',
			'- first point\n- second point',
			'From: the warehouse, two parcels came.\nTo: be honest, one was open.',
		])
			assert.equal(extractFromText(body).text, body);
	});

	it('HTML: cuts at the quote container, keeps its HTML, reads the marked signature', () => {
		const html =
			'<div>Fixed, thanks!</div><div><br></div><div class="gmail_signature">Ann Smith<br>Acme</div>' +
			'<div class="gmail_quote">On Mon, Support wrote:<blockquote>Try again?</blockquote></div>';
		assert.deepEqual(extractReply({ text: 'ignored when the HTML has a quote container', html }), {
			text: 'Fixed, thanks!',
			html: '<div>Fixed, thanks!</div><div><br></div>',
			quoted: true,
			signature: 'Ann Smith\nAcme',
			method: 'html-container',
		});
		// Without a container: the text body decides; without one, the HTML as text.
		assert.equal(extractReply({ text: 'Yes.\n\n> Ok?', html: '<p>Yes.</p>' }).text, 'Yes.');
		assert.equal(
			extractReply({ html: '<p>Yes.</p><blockquote><p>Ok?</p></blockquote>' }).text,
			'Yes.',
		);
		assert.equal(htmlToLines('<p>a &amp; b</p><p>c<br>d</p><script>x</script>'), 'a & b\n\nc\nd');
	});

	it('reads items from elsewhere: missing or non-string bodies give an empty reply', () => {
		for (const body of [{}, { text: null, html: null }, { text: 5, html: {} }] as never[])
			assert.deepEqual(extractReply(body), {
				text: '',
				quoted: false,
				signature: null,
				method: 'none',
			});
	});

	it(`scans the first ${MAX_SCAN_CHARS} characters: a 1 MB body costs no more`, () => {
		const line = 'This line is part of a very long customer report. '.repeat(2) + '\n';
		const early = `${line.repeat(500)}\nOn Mon, 4 Mar 2024, Ann <a@x.example> wrote:\n> old\n${'> more\n'.repeat(150_000)}`;
		assert.ok(early.length > 1_000_000);
		const r = extractFromText(early);
		assert.equal(r.method, 'header-line');
		assert.equal(r.text, line.repeat(500).slice(0, -1));
		// A quote starting past the scanned part is not seen: the whole body is kept.
		const late = `${line.repeat(20_000)}\nOn Mon, 4 Mar 2024, Ann <a@x.example> wrote:\n> old\n`;
		assert.ok(late.length > 2 * MAX_SCAN_CHARS);
		assert.deepEqual(
			[extractFromText(late).method, extractFromText(late).text],
			['none', late.trim()],
		);
	});
});

/** Bodies made of the lines the rules look at, in any order. */
const arbMailLine = fc.oneof(
	fc.string({ maxLength: 40 }),
	fc.constantFrom(
		'',
		' ',
		'> quoted',
		'>> deeper',
		'-- ',
		'--',
		'____',
		'-Ann',
		'Sent from my iPhone',
		'Von meinem iPhone gesendet',
		'On Mon, 4 Mar 2024, Ann <a@x.example> wrote:',
		'On Mon, 4 Mar 2024, Ann',
		'<a@x.example>',
		'wrote:',
		'Le lun. 4 mars 2024 à 10:15, Marie <m@x.example> a écrit :',
		'Am 04.03.2024 um 10:15 schrieb Max <m@x.example>:',
		'El lun, 4 mar 2024 a las 10:15, Juan escribió:',
		'пн, 4 мар. 2024 г. в 10:15, Иван <i@x.example>:',
		'Dne 4. 3. 2024 ob 10:15 je Janez napisal:',
		'From: Support <s@x.example>',
		'Sent: Monday, March 4, 2024',
		'To: Ann',
		'Subject: Re: help',
		'-----Original Message-----',
		'---------- Forwarded message ---------',
		'*From:* x',
	),
);
const arbBody = fc
	.array(arbMailLine, { maxLength: 40 })
	.chain((lines) => fc.constantFrom('\n', '\r\n').map((nl) => lines.join(nl)));

describe('reply extraction: properties', () => {
	it("never throws, and the reply is the body's lines, in order, never empty when the body is not", () => {
		fc.assert(
			fc.property(fc.oneof(arbBody, fc.string(), fc.string({ unit: 'grapheme' })), (body) => {
				const r = extractFromText(body);
				const input = body.split(/\r?\n/);
				let at = 0;
				for (const line of r.text ? r.text.split('\n') : []) {
					while (at < input.length && input[at] !== line) at++;
					assert.ok(at < input.length, `line ${JSON.stringify(line)} is not an input line`);
					at++;
				}
				assert.equal(r.text.trim() === '', body.trim() === '');
			}),
			{ numRuns: 2000 },
		);
	});

	it('never throws on any HTML or text', () => {
		const arbHtml = fc
			.array(
				fc.oneof(
					fc.string({ maxLength: 20 }),
					fc.constantFrom(
						'<div class="gmail_quote">',
						'<blockquote type="cite">',
						'<div id="divRplyFwdMsg">',
						'<div class="gmail_signature">',
						'<br>',
						'</div>',
						'<p>',
						'</p>',
						'<!--',
						'<script>',
						'&amp;',
						'&#x1F600;',
						'&#99999999;',
						'<',
						'>',
					),
				),
				{ maxLength: 30 },
			)
			.map((parts) => parts.join(''));
		fc.assert(
			fc.property(arbHtml, fc.option(arbBody), (html, text) => {
				const r = extractReply({ html, text });
				assert.equal(typeof r.text, 'string');
			}),
			{ numRuns: 1000 },
		);
	});

	it('finishes on 200 KB of quote lines and of header-like lines (no catastrophic regex)', () => {
		const size = 200_000;
		const fill = (unit: string) => unit.repeat(Math.ceil(size / unit.length));
		const bodies = [
			fill('> quoted line\n'),
			fill('>'),
			fill('On Mon, 4 Mar 2024, Ann <a@x.example> wrote:\n'),
			fill('Text\nOn Mon, 4 Mar 2024, Ann\n'),
			fill('From: a\nSent: b\nTo: c\n'),
			fill('From: a\n'),
			fill(`On ${'x '.repeat(450)}\n`),
			fill(`${'пн, '.repeat(200)}<a@x> написал\n`),
			fill('Am am am schrieb schrieb '),
			fill('-- \n'),
			fill('Sent from my a b c d e f g\n'),
			fill('Le a écrit : Le '),
			fill(`On *${' '.repeat(900)}x\n`),
			fill(`пн, ${'1<a'.repeat(300)}\n`),
			fill(`V ${' je'.repeat(300)} pisal\n`),
			fill('\n').concat(fill('On Mon, 4 Mar 2024, Ann <a@x.example> wrote:\n')),
		];
		for (const body of bodies) {
			const r = extractFromText(body);
			assert.ok(r.text.length > 0);
			extractReply({ html: body.replace(/\n/g, '<br>'), text: body });
		}
		for (const html of [
			fill('gmail_quote '),
			fill('<blockquote>x'),
			fill('<div class="x" '),
			fill('<script>'),
			fill('&amp;&#1;'),
		]) {
			const r = extractReply({ html });
			assert.ok(r.text.length < 3 * size, 'the text does not grow with the nesting');
		}
	});
});
