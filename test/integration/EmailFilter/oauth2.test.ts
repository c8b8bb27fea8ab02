/**
 * The Email Filter's mailbox actions signed in with OAuth2 (issue #13), against Dovecot's oauth2
 * passdb and the local authorization server; the credential's token has expired, so it is
 * refreshed through n8n's helper (harness N8nOAuth2Credential) before the first item.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IDataObject } from 'n8n-workflow';

import { CrmEmailFilter } from '../../../nodes/EmailFilter/CrmEmailFilter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { appendMails, Dovecot, ensureFolder, makeMail } from '../../../harness/dovecot';
import { fakeExecute } from '../../../harness/fakeExecute';
import { N8nOAuth2Credential, OAuth2Server } from '../../../harness/oauth2Server';

const USER = 'agent@example.com';
const TTL = 2;

let as: OAuth2Server;
let dovecot: Dovecot;

before(async () => {
	as = await new OAuth2Server({ accessTokenTtl: TTL }).start();
	dovecot = new Dovecot([{ user: USER, password: 'admin-secret' }], {
		oauth2: { introspectionUrl: as.introspectionUrlWithClient() },
	});
	await dovecot.start();
});
after(async () => {
	await dovecot.destroy();
	await as.stop();
});

describe('Email Filter mailbox actions with OAuth2', () => {
	it('moves and marks read with a token refreshed through n8n, on the account of the credential', async () => {
		const admin = await dovecot.client();
		let uid: number;
		let uidValidity: string;
		try {
			await ensureFolder(admin, 'Done');
			await appendMails(admin, 'INBOX', [makeMail({ subject: 'Filter me' })]);
			const status = await admin.mailboxOpen('INBOX');
			uidValidity = String(status.uidValidity);
			uid = status.uidNext - 1;
		} finally {
			await admin.logout();
		}
		const cred = new N8nOAuth2Credential(
			as,
			{ user: USER, imapHost: dovecot.host, imapPort: dovecot.port, imapSecurity: 'none' },
			'crmOAuth2Api',
		);
		await cred.connect(USER);
		await new Promise((r) => setTimeout(r, TTL * 1000 + 500));

		const filter = new CrmEmailFilter();
		const fx = fakeExecute({
			description: filter.description,
			parameters: {
				rulesSource: 'panel',
				applyOnServer: true,
				authentication: 'oAuth2',
				options: {},
				rules: { rule: [{ name: 'All', action: 'folder', folder: 'Done', markAsRead: true }] },
			},
			inputs: [
				[
					{
						json: {
							account: `${USER}@${dovecot.host}`,
							folder: 'INBOX',
							uid,
							uidValidity,
							subject: 'Filter me',
						},
					},
				],
			],
			credentials: { crmOAuth2Api: cred.data },
		});
		Object.assign(fx.ctx.helpers, { refreshOAuth2Token: cred.refreshOAuth2Token });
		const [kept] = await filter.execute.call(fx.ctx);
		const mailbox = (kept[0].json.filter as IDataObject).mailbox as IDataObject;
		assert.deepEqual(mailbox, { applied: true, markedRead: true, movedTo: 'Done' });
		assert.equal(cred.refreshes, 1);

		const check = await dovecot.client();
		try {
			const done = await check.status('Done', { messages: true });
			assert.equal(done && done.messages, 1);
		} finally {
			await check.logout();
		}
	});
});
