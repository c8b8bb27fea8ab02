/**
 * The Template Sender and the named opt-out list (This Instance store, a real SMTP server on
 * loopback): bulk mail to an address on the list is Not Sent with OPTED_OUT, whatever its case
 * and wherever it is (To, Cc); transactional Send mail is sent; a damaged list sends nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { IDataObject } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { FileOptOutStore } from '../../../nodes/shared/state/optOutFile';
import { fakeExecute } from '../../../harness/fakeExecute';
import { SmtpSink, signingCredential } from '../../../harness/smtp';

const node = new CrmEmailTemplateSender();
let sink: SmtpSink;
let dir: string;

before(async () => {
	sink = await new SmtpSink().start();
	dir = mkdtempSync(join(tmpdir(), 'crm-email-sender-optout-'));
	process.env.CRM_EMAIL_STATE_DIR = dir;
	await new FileOptOutStore(dir).addOptOuts('news', ['gone@x.example'], 1);
});
after(async () => {
	await sink.stop();
	delete process.env.CRM_EMAIL_STATE_DIR;
	rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
	sink.messages.length = 0;
});

const recipients = [
	{ to: 'Gone <GONE@x.example>', cc: '' },
	{ to: 'stays@x.example', cc: '' },
	{ to: 'stays@x.example', cc: 'gone@x.example' },
];

let runs = 0;

// Each run its own workflow: the list is shared across workflows, and the Sender's marks of mails
// it sent (ALREADY_SENT on a rerun) are not.
function run(options: IDataObject) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'send',
			from: '',
			to: (i: number) => recipients[i].to,
			cc: (i: number) => recipients[i].cc,
			bcc: '',
			subject: 'News',
			bodyHtml: '',
			bodyText: 'Our news',
			appendToSent: false,
			stateStore: 'instance',
			options: {
				retryDelayMs: 10,
				optOutBaseUrl: 'https://n8n.example/webhook/unsubscribe',
				...options,
			},
		},
		inputs: [recipients.map((r) => ({ json: { ...r } }))],
		credentials: { crmSmtpApi: sink.credentials(), crmEmailSigningApi: signingCredential },
		mode: 'webhook',
		workflowId: `newsletter-${++runs}`,
	});
	return node.execute.call(f.ctx);
}

describe('Template Sender: the named opt-out list', () => {
	it('bulk mail skips addresses on the list (To or Cc, any case) with OPTED_OUT', async () => {
		const [sent, notSent] = await run({ bulk: true, optOutListName: 'news' });
		assert.deepEqual(
			sent.map((s) => s.pairedItem),
			[{ item: 1 }],
		);
		assert.deepEqual(
			notSent.map((n) => [n.pairedItem, (n.json.notSent as IDataObject).code]),
			[
				[{ item: 0 }, 'OPTED_OUT'],
				[{ item: 2 }, 'OPTED_OUT'],
			],
		);
		assert.deepEqual(
			sink.messages.map((m) => m.to),
			[['stays@x.example']],
		);
	});

	it('another list, or mail that is not bulk, does not look at it', async () => {
		const [sent] = await run({ bulk: false, optOutListName: 'news' });
		assert.equal(sent.length, 3);
		const [other] = await run({ bulk: true, optOutListName: 'offers' });
		assert.equal(other.length, 3);
	});

	it('a damaged list fails the execution, naming the file, and sends nothing', async () => {
		writeFileSync(join(dir, 'opt-out-broken.json'), 'not json');
		await assert.rejects(
			run({ bulk: true, optOutListName: 'broken' }),
			/opt-out-broken\.json is damaged/,
		);
		assert.equal(sink.messages.length, 0);
	});
});
