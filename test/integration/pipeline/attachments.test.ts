/**
 * Attachments on the case: a customer's reply with a PDF attachment and an inline (Content-ID)
 * logo, fetched from a real Dovecot by the trigger, turned into n8n items as the trigger emits
 * them, then through the Email Filter, the Parent Linker and the Case Router as in
 * workflows/email-to-case.json. The binary data reaches the New Case output byte for byte, the
 * Content-ID image is marked inline, and the case description is the reply without its quote.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { CrmEmailCaseRouter } from '../../../nodes/CaseRouter/CrmEmailCaseRouter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { CrmEmailFilter } from '../../../nodes/EmailFilter/CrmEmailFilter.node.ts';
import { CrmEmailParentLinker } from '../../../nodes/ParentLinker/CrmEmailParentLinker.node.ts';
import { toExecutionItems } from '../../../nodes/ImapTrigger/trigger';
import { appendMails, Dovecot, ensureFolder } from '../../../harness/dovecot';
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

const LOGO = Buffer.from(
	'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
	'base64',
);
const PDF = Buffer.from("%PDF-1.4\n% the customer's invoice\n%%EOF\n");

/** Gmail's form: multipart/mixed of (multipart/related of HTML + logo) and a PDF attachment. */
function replyWithAttachments(): string {
	const b64 = (b: Buffer) => b.toString('base64').replace(/.{76}/g, '$&\r\n');
	return [
		'From: Ann Smith <ann@acme.example>',
		'To: support@example.com',
		'Subject: Invoice attached',
		'Date: Mon, 04 Mar 2024 10:15:00 +0000',
		'Message-ID: <att1@acme.example>',
		'MIME-Version: 1.0',
		'Content-Type: multipart/mixed; boundary="mixed"',
		'',
		'--mixed',
		'Content-Type: multipart/related; boundary="related"',
		'',
		'--related',
		'Content-Type: text/html; charset=utf-8',
		'',
		'<div>Here is the invoice you asked for.</div><div><img src="cid:logo@acme.example"></div>' +
			'<div class="gmail_quote">On Fri, 1 Mar 2024 Support &lt;support@example.com&gt; wrote:' +
			'<blockquote class="gmail_quote">Please send us the invoice.</blockquote></div>',
		'--related',
		'Content-Type: image/png',
		'Content-ID: <logo@acme.example>',
		'Content-Transfer-Encoding: base64',
		'',
		b64(LOGO),
		'--related--',
		'--mixed',
		'Content-Type: application/pdf; name="invoice.pdf"',
		'Content-Disposition: attachment; filename="invoice.pdf"',
		'Content-Transfer-Encoding: base64',
		'',
		b64(PDF),
		'--mixed--',
		'',
	].join('\r\n');
}

const helpers = {
	prepareBinaryData: async (data: Buffer, fileName?: string, mimeType?: string) => ({
		data: data.toString('base64'),
		fileName,
		mimeType: mimeType ?? 'application/octet-stream',
		fileSize: String(data.length),
	}),
};

describe('attachments on the case: trigger → filter → linker → router', () => {
	it('keeps the binary data to the New Case output and marks the Content-ID image inline', async () => {
		await ensureFolder(admin, 'Attach');
		await appendMails(admin, 'Attach', [replyWithAttachments()]);
		const h = new Harness(options(dovecot, { folders: ['Attach'] }));
		await h.run();
		await h.intake.stop();
		const emitted = await toExecutionItems(
			{ helpers } as unknown as Parameters<typeof toExecutionItems>[0],
			h.mails,
		);
		assert.equal(emitted.length, 1);

		const filter = new CrmEmailFilter();
		const fx = fakeExecute({
			description: filter.description,
			parameters: {
				rulesSource: 'panel',
				applyOnServer: false,
				options: {},
				rules: {
					rule: [
						{
							name: 'Lists',
							conditions: {
								condition: [{ field: 'header', header: 'list-id', operator: 'regex', value: '.' }],
							},
							action: 'skip',
						},
					],
				},
			},
			inputs: [emitted],
		});
		const [kept] = await filter.execute.call(fx.ctx);

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
				items({ type: 'Contact', id: 'c1', emailAddress: 'ann@acme.example' }),
			],
		});
		const [linked, unknown] = await linker.execute.call(lx.ctx);

		const router = new CrmEmailCaseRouter();
		const rx = fakeExecute({
			description: router.description,
			parameters: {
				operation: 'route',
				team: '',
				assignment: 'none',
				threadIds: 'ignore',
				options: { ownAddresses: 'support@example.com' },
			},
			inputs: [[...linked, ...unknown]],
		});
		const [created] = await router.execute.call(rx.ctx);

		assert.equal(created.length, 1);
		const item = created[0];
		const attachments = item.json.attachments as IDataObject[];
		assert.deepEqual(
			attachments.map((a) => [a.contentType, a.contentId, a.inline, a.binaryProperty]),
			[
				['image/png', 'logo@acme.example', true, 'attachment_0'],
				['application/pdf', null, false, 'attachment_1'],
			],
		);
		assert.deepEqual(Object.keys(item.binary ?? {}).sort(), ['attachment_0', 'attachment_1']);
		assert.deepEqual(Buffer.from(item.binary!.attachment_0.data, 'base64'), LOGO);
		assert.deepEqual(Buffer.from(item.binary!.attachment_1.data, 'base64'), PDF);
		assert.equal(item.binary!.attachment_1.fileName, 'invoice.pdf');
		const kase = item.json.case as IDataObject;
		assert.equal(kase.description, 'Here is the invoice you asked for.');
		assert.match(String(item.json.html), /Please send us the invoice/, 'the original body stays');
		assert.equal(item.pairedItem && (item.pairedItem as { item: number }).item, 0);
	});
});
