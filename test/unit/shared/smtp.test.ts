import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { redact } from '../../../nodes/shared/errors';
import { describeSmtpError, toSmtpCredentials } from '../../../nodes/shared/transport/smtp';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const creds = toSmtpCredentials({
	host: 'smtp.example.com',
	port: 587,
	user: 'sender@example.com',
	password: 'Tr0ub4dor&3',
	signingSecret: 'thread-secret',
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
