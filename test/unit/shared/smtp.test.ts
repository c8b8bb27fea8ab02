import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';

import { isCrmEmailError, redact } from '../../../nodes/shared/errors';
import { parseAddresses } from '../../../nodes/shared/addresses';
import {
	describeSmtpError,
	isFromAllowed,
	senderOf,
	toSmtpCredentials,
} from '../../../nodes/shared/transport/smtp';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const creds = toSmtpCredentials({
	host: 'smtp.example.com',
	port: 587,
	user: 'sender@example.com',
	password: 'Tr0ub4dor&3',
	allowedFrom: 'support@example.com, *@help.example.com',
	defaultFrom: 'Example Support <support@example.com>',
});

describe('redaction of secrets echoed by a server', () => {
	it('an echoed AUTH PLAIN payload (\\0user\\0password, base64) is redacted', () => {
		const payload = b64('\0sender@example.com\0Tr0ub4dor&3');
		const e = describeSmtpError(
			{
				code: 'EAUTH',
				responseCode: 535,
				response: `535 5.7.8 Error: authentication failed: ${payload}`,
				message: `Invalid login: 535 5.7.8 Error: authentication failed: ${payload}`,
			},
			creds,
		);
		const out = e.message + JSON.stringify(e.details);
		assert.ok(!out.includes(payload), out);
		assert.match(out, /authentication failed: \*\*\*/);
	});

	it('an echoed AUTH LOGIN password (base64 alone, or glued to text) is redacted', () => {
		assert.equal(redact(`334 ${b64('Tr0ub4dor&3')}`, ['Tr0ub4dor&3']), '334 ***');
		assert.equal(redact(`got:x${b64('Tr0ub4dor&3')}`, ['Tr0ub4dor&3']), 'got:***');
		assert.equal(redact('pw=hunter22!', ['hunter22']), 'pw=***!');
		assert.equal(
			redact('250 2.0.0 Ok: queued as 4FzK', ['hunter22']),
			'250 2.0.0 Ok: queued as 4FzK',
		);
	});

	it('a password the marker could spell is still hidden', () => {
		for (const password of ['** ', '***', '*a*', 'en]', 'n][']) {
			const out = redact(`535 auth ${password} failed ${password}`, [password]);
			assert.ok(!out.includes(password), `${JSON.stringify(password)} in ${out}`);
		}
	});

	it('no base64 form of a password survives, whatever the login and authzid (property)', () => {
		fc.assert(
			fc.property(
				fc.string({ minLength: 3, maxLength: 40 }),
				fc.string({ maxLength: 20 }),
				fc.string({ maxLength: 20 }),
				fc.string({ maxLength: 5 }),
				(password, user, authzid, glue) => {
					const payload = b64(`${authzid}\0${user}\0${password}`);
					const out = redact(`535 ${glue}${payload} ${b64(password)}`, [password]);
					const runs = out.match(/[A-Za-z0-9+/_-]{4,}={0,2}/g) ?? [];
					return (
						!out.includes(password) &&
						runs.every((r) =>
							[0, 1, 2, 3].every(
								(skip) => !Buffer.from(r.slice(skip), 'base64').includes(Buffer.from(password)),
							),
						)
					);
				},
			),
			{ numRuns: 2_000 },
		);
	});
});

describe('addresses: one parser for checking and sending', () => {
	const sink = toSmtpCredentials({
		host: 'h',
		user: 'sender',
		allowedFrom: 'support@example.com, *@help.example.com',
		defaultFrom: 'Example Support <support@example.com>',
	});

	it('an address hidden behind an allowed one is refused, naming the address nodemailer would send as', () => {
		// nodemailer reads the first <…> as the address (the rest becomes the name); a name that
		// holds another address is refused as not one clean address.
		for (const from of [
			'Boss <ceo@bank.example> <support@example.com>',
			'support@example.com <ceo@bank.example>',
		])
			assert.throws(
				() => senderOf(sink, from),
				(e: unknown) =>
					isCrmEmailError(e) &&
					e.code === 'CONFIG_INVALID' &&
					/^From must be exactly one address/.test(e.message) &&
					/<ceo@bank\.example>/.test(e.message),
				from,
			);
		assert.throws(
			() => senderOf(sink, 'Boss <ceo@bank.example>'),
			(e: unknown) =>
				isCrmEmailError(e) &&
				e.code === 'FROM_NOT_ALLOWED' &&
				/"ceo@bank\.example"/.test(e.message),
		);
	});

	it('space-separated recipients are refused, not sent to the first alone', () => {
		const { mailboxes, invalid } = parseAddresses('a@x.example b@y.example');
		assert.deepEqual(mailboxes, []);
		assert.equal(invalid.length, 1);
		// The same name and address is an ordinary display name.
		assert.equal(parseAddresses('"ann@x.example" <ann@x.example>').mailboxes.length, 1);
	});

	it('refuses host names over 253 characters and labels over 63 (checked before any regex)', () => {
		assert.equal(parseAddresses(`x@${'a'.repeat(64)}.example`).invalid.length, 1);
		assert.equal(parseAddresses(`x@${'abc.'.repeat(64)}example`).invalid.length, 1);
		assert.equal(parseAddresses(`x@${'a'.repeat(63)}.example`).mailboxes.length, 1);
	});

	it('a From with several addresses, none, or an unclean one is refused naming the parameter', () => {
		for (const [from, found] of [
			['"X" <ceo@bank.example>, <support@example.com>', '2 addresses'],
			['Support', 'not a clean address'],
			[',', 'no address'],
			['undisclosed-recipients:;', 'not a clean address'],
			['g: support@example.com;', 'not a clean address'],
			['a@x>, <support@example.com', 'not a clean address'],
			['.support@example.com', 'not a clean address'],
		] as const) {
			assert.throws(
				() => senderOf(sink, from),
				(e: unknown) =>
					isCrmEmailError(e) &&
					e.code === 'CONFIG_INVALID' &&
					e.message.startsWith('From must be exactly one address') &&
					e.message.includes(found),
				from,
			);
		}
		assert.deepEqual(senderOf(sink, ''), {
			name: 'Example Support',
			address: 'support@example.com',
		});
		// The host as nodemailer writes it (lower case, IDN as punycode), so the envelope agrees.
		assert.deepEqual(senderOf(sink, 'Desk <Desk@Help.Example.com>'), {
			name: 'Desk',
			address: 'Desk@help.example.com',
		});
		assert.deepEqual(parseAddresses('jörg@bücher.example').mailboxes, [
			{ name: '', address: 'jörg@xn--bcher-kva.example' },
		]);
		assert.equal(parseAddresses('a@28').invalid.length, 1);
	});

	it('recipients: clean mailboxes, and every entry that is not one listed as invalid', () => {
		assert.deepEqual(parseAddresses('a@x>, <victim@y.example'), {
			mailboxes: [{ name: '', address: 'victim@y.example' }],
			invalid: ['a@x>'],
		});
		assert.deepEqual(
			parseAddresses([
				'"Smith, Ann" <ann@x.example>; b@y.example',
				{ address: 'c@z.example', name: 'C \\' },
			]),
			{
				mailboxes: [
					{ name: 'Smith, Ann', address: 'ann@x.example' },
					{ name: '', address: 'b@y.example' },
					{ name: 'C \\', address: 'c@z.example' },
				],
				invalid: [],
			},
		);
		assert.deepEqual(parseAddresses({ address: 'a@x.example>, <v@y.example', name: '' }).invalid, [
			'a@x.example>, <v@y.example',
		]);
		// A header injection parses as a group whose name swallowed the first address: refused.
		assert.deepEqual(parseAddresses('a@x.example\r\nBcc: v@y.example'), {
			mailboxes: [],
			invalid: ['a@x.example Bcc: …;'],
		});
	});

	it('whatever From says, the header nodemailer writes carries the address that was checked (property)', async () => {
		const word = fc.stringMatching(/^[\w.+-]{1,8}$/);
		const piece = fc.oneof(
			fc.constantFrom('<', '>', '"', '\\', ',', ';', ':', '(', ')', ' ', '@', '\r\n', 'é'),
			fc.constantFrom('ceo@bank.example', 'support@example.com', 'desk@help.example.com'),
			word,
		);
		await fc.assert(
			fc.asyncProperty(fc.array(piece, { maxLength: 12 }), async (parts) => {
				const from = parts.join('');
				let sender;
				try {
					sender = senderOf(sink, from);
				} catch (error) {
					return (
						isCrmEmailError(error) && ['FROM_NOT_ALLOWED', 'CONFIG_INVALID'].includes(error.code)
					);
				}
				assert.ok(isFromAllowed(sink, sender.address));
				const raw = await new Promise<Buffer>((resolve, reject) =>
					new MailComposer({ from: sender, to: 'x@y.example', subject: 's', text: 't' })
						.compile()
						.build((e, r) => (e ? reject(e) : resolve(r))),
				);
				const parsed = await simpleParser(raw);
				const [local, host] = String(parsed.from?.value[0].address).split(/@(?=[^@]*$)/);
				return (
					parsed.from?.value.length === 1 && `${local}@${domainToASCII(host)}` === sender.address
				);
			}),
			{ numRuns: 300 },
		);
	});
});
