/**
 * The one IMAP session helper against a real Dovecot: every session ends, whatever the work did.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';

import { isCrmEmailError } from '../../../nodes/shared/errors';
import { withImapSession } from '../../../nodes/shared/transport/imap';
import { Dovecot, freePort } from '../../../harness/dovecot';

let dovecot: Dovecot;

before(async () => {
	dovecot = new Dovecot();
	await dovecot.start();
});
after(async () => await dovecot?.destroy());

describe('withImapSession', () => {
	it('hands over a logged-in client and logs it out afterwards', async () => {
		let seen: ImapFlow | undefined;
		const folders = await withImapSession(dovecot.credentials(), async (client) => {
			seen = client;
			return (await client.list()).map((f) => f.path);
		});
		assert.ok(folders.includes('INBOX'));
		assert.equal(seen?.usable, false);
	});

	it('logs out when the work fails, and the work’s error comes through', async () => {
		let seen: ImapFlow | undefined;
		await assert.rejects(
			withImapSession(dovecot.credentials(), async (client) => {
				seen = client;
				await client.mailboxOpen('No such folder');
			}),
			(e: { mailboxMissing?: boolean; serverResponseCode?: string }) =>
				e.mailboxMissing === true || e.serverResponseCode === 'NONEXISTENT',
		);
		assert.equal(seen?.usable, false);
	});

	it('describes a failed connect, and the work never runs', async () => {
		let ran = false;
		const port = await freePort();
		await assert.rejects(
			withImapSession({ ...dovecot.credentials(), port }, async () => {
				ran = true;
			}),
			(e: unknown) => isCrmEmailError(e) && e.code === 'IMAP_CONNECTION_REFUSED',
		);
		assert.equal(ran, false);
	});

	it('describes a refused login without the password', async () => {
		await assert.rejects(
			withImapSession({ ...dovecot.credentials(), password: 'wrong-secret' }, async () => 1),
			(e: unknown) =>
				isCrmEmailError(e) && e.code === 'IMAP_AUTH' && !e.message.includes('wrong-secret'),
		);
	});
});
