import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	describeImapError,
	imapOptions,
	toImapCredentials,
} from '../../../nodes/shared/transport/imap';
import { redact } from '../../../nodes/shared/errors';

const creds = toImapCredentials({
	host: 'imap.example.com',
	port: 993,
	security: 'tls',
	user: 'u',
	password: 'hunter22',
});

describe('imap transport', () => {
	it('verifies TLS by default', () => {
		const o = imapOptions(creds);
		assert.equal(o.secure, true);
		assert.equal((o.tls as { rejectUnauthorized: boolean }).rejectUnauthorized, true);
	});

	it('requires STARTTLS when chosen and never tries it with "none"', () => {
		assert.equal(imapOptions({ ...creds, security: 'starttls' }).doSTARTTLS, true);
		assert.equal(imapOptions({ ...creds, security: 'none' }).doSTARTTLS, false);
	});

	const cases: Array<[string, object, string]> = [
		[
			'refused',
			{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
			'IMAP_CONNECTION_REFUSED',
		],
		[
			'auth',
			{ authenticationFailed: true, responseText: 'Authentication failed for hunter22' },
			'IMAP_AUTH',
		],
		[
			'tls',
			{ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate' },
			'IMAP_TLS',
		],
		[
			'a server that cannot check logins now (not a wrong password)',
			{
				authenticationFailed: true,
				serverResponseCode: 'UNAVAILABLE',
				responseText: 'Temporary authentication failure. hunter22',
			},
			'IMAP_UNAVAILABLE',
		],
		['dns', { code: 'ENOTFOUND' }, 'IMAP_HOST_NOT_FOUND'],
		['timeout', { code: 'CONNECT_TIMEOUT' }, 'IMAP_TIMEOUT'],
		['folder', { mailboxMissing: true, path: 'Nope' }, 'IMAP_FOLDER_MISSING'],
		['other', { message: 'BAD command' }, 'IMAP_COMMAND_FAILED'],
	];
	for (const [name, error, code] of cases) {
		it(`classifies ${name} and never repeats the password`, () => {
			const e = describeImapError(error, creds);
			assert.equal(e.code, code);
			assert.doesNotMatch(e.message + JSON.stringify(e.details), /hunter22/);
		});
	}

	it('redacts secrets from text', () => {
		assert.equal(redact('pw=hunter22!', ['hunter22']), 'pw=***!');
	});
});
