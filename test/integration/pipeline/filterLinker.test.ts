/**
 * Mails fetched from a real Dovecot by the trigger's intake, through the Email Filter (moving and
 * marking mails on the server) and the Parent Linker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { CrmEmailFilter } from '../../../nodes/EmailFilter/CrmEmailFilter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { applyMailboxActions } from '../../../nodes/EmailFilter/mailbox';
import { CrmEmailParentLinker } from '../../../nodes/ParentLinker/CrmEmailParentLinker.node.ts';
import { appendMails, Dovecot, ensureFolder, makeMail } from '../../../harness/dovecot';
import { fakeExecute, items } from '../../../harness/fakeExecute';
import { Harness, options } from '../../../harness/intake';

let dovecot: Dovecot;
let admin: ImapFlow;

before(async () => {
	dovecot = new Dovecot();
	await dovecot.start();
	admin = await dovecot.client();
});
after(async () => {
	await admin.logout().catch(() => undefined);
	await dovecot.destroy();
});

async function folderState(folder: string): Promise<Array<{ subject: string; seen: boolean }>> {
	const lock = await admin.getMailboxLock(folder);
	try {
		const out: Array<{ subject: string; seen: boolean }> = [];
		for await (const m of admin.fetch('1:*', { envelope: true, flags: true }))
			out.push({ subject: m.envelope?.subject ?? '', seen: m.flags?.has('\\Seen') ?? false });
		return out;
	} catch {
		return [];
	} finally {
		lock.release();
	}
}

describe('trigger → filter → linker against Dovecot', () => {
	it('skips, moves and marks on the server, then links the kept mails', async () => {
		await ensureFolder(admin, 'Pipe');
		await ensureFolder(admin, 'Newsletters');
		await appendMails(admin, 'Pipe', [
			makeMail({ from: 'Ann Smith <ann@acme.example>', subject: 'Printer broken' }),
			makeMail({
				from: 'News <noreply@news.example>',
				subject: 'Weekly digest',
				headers: { 'List-Id': '<weekly.news.example>' },
			}),
			makeMail({ from: 'Promo <promo@shop.example>', subject: 'Sale!', body: '<p>50% off</p>' }),
			makeMail({ from: 'Carl New <carl@newco.example>', subject: 'Question' }),
		]);
		const h = new Harness(options(dovecot, { folders: ['Pipe'] }));
		await h.run();
		await h.intake.stop();
		assert.equal(h.mails.length, 4);
		const fetched = h.mails.map((m) => ({ json: m.json as unknown as IDataObject }));

		const filter = new CrmEmailFilter();
		const fx = fakeExecute({
			description: filter.description,
			parameters: {
				rulesSource: 'panel',
				applyOnServer: true,
				options: {},
				rules: {
					rule: [
						{
							name: 'Lists',
							conditions: {
								condition: [
									{ field: 'header', header: 'list-id', operator: 'contains', value: '' },
								],
							},
							action: 'skip',
							markAsRead: true,
						},
						{
							name: 'Promotions',
							conditions: { condition: [{ field: 'from', operator: 'glob', value: 'promo@*' }] },
							action: 'folder',
							folder: 'Newsletters',
							markAsRead: true,
						},
					],
				},
			},
			inputs: [fetched],
			credentials: { crmImapApi: { ...dovecot.credentials() } },
		});
		const [kept, skipped] = await filter.execute.call(fx.ctx);
		assert.deepEqual(
			skipped.map((i) => i.json.subject),
			['Weekly digest'],
		);
		assert.deepEqual(
			kept.map((i) => i.json.subject),
			['Printer broken', 'Sale!', 'Question'],
		);
		const promo = kept[1].json.filter as IDataObject;
		assert.deepEqual(promo.mailbox, { applied: true, markedRead: true, movedTo: 'Newsletters' });

		assert.deepEqual(await folderState('Pipe'), [
			{ subject: 'Printer broken', seen: false },
			{ subject: 'Weekly digest', seen: true },
			{ subject: 'Question', seen: false },
		]);
		assert.deepEqual(await folderState('Newsletters'), [{ subject: 'Sale!', seen: true }]);

		const linker = new CrmEmailParentLinker();
		const lx = fakeExecute({
			description: linker.description,
			parameters: {
				mode: 'b2b',
				recordType: 'field',
				typeField: 'type',
				recordFields: {},
				threadIds: 'ignore',
				options: {},
			},
			inputs: [
				kept as INodeExecutionData[],
				items(
					{ type: 'Contact', id: 'c1', emailAddress: 'ann@acme.example', accountId: 'a1' },
					{ type: 'Account', id: 'a1', name: 'Acme' },
				),
			],
		});
		const [linked, unknown] = await linker.execute.call(lx.ctx);
		assert.deepEqual(
			linked.map((i) => [
				i.json.subject,
				(i.json.parent as IDataObject).type,
				(i.json.parent as IDataObject).name,
			]),
			[['Printer broken', 'Account', 'Acme']],
		);
		assert.deepEqual(
			unknown.map((i) => (i.json.unknownSender as IDataObject).lastName),
			['Promo', 'New'],
		);
		assert.deepEqual(linked[0].pairedItem, { item: 0 });
	});

	it('mailbox actions report a missing target folder and a renumbered folder per mail', async () => {
		await ensureFolder(admin, 'Acts');
		await appendMails(admin, 'Acts', [makeMail({ subject: 'one' }), makeMail({ subject: 'two' })]);
		const status = await admin.status('Acts', { uidValidity: true });
		const creds = dovecot.credentials();
		const out = await applyMailboxActions(creds, [
			{
				key: 0,
				folder: 'Acts',
				uid: 1,
				uidValidity: String(status && status.uidValidity),
				moveTo: 'No Such Folder',
				markAsRead: true,
			},
			{ key: 1, folder: 'Acts', uid: 2, uidValidity: '1', moveTo: null, markAsRead: true },
			{ key: 2, folder: 'Missing', uid: 1, uidValidity: '', moveTo: null, markAsRead: true },
		]);
		assert.equal(out[0].markedRead, true);
		assert.equal(out[0].error?.code, 'IMAP_FOLDER_MISSING');
		assert.match(
			out[0].error?.message ?? '',
			/"No Such Folder" does not exist in the mailbox of "support"/,
		);
		assert.match(out[1].error?.message ?? '', /renumbered/);
		assert.equal(out[1].markedRead, false);
		assert.equal(out[2].error?.code, 'IMAP_FOLDER_MISSING');
		assert.deepEqual(
			(await folderState('Acts')).map((m) => m.seen),
			[true, false],
		);
	});
});
