/**
 * A generated corpus of hostile mail (test/helpers/hostileMail.ts) through the intake against a
 * real Dovecot: every mail comes out exactly once, across a restart with a batch in flight and a
 * UIDVALIDITY change, whatever its headers and internal date.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';

import type { MailRecord } from '../../../nodes/ImapTrigger/core/mail';
import { Dovecot, ensureFolder } from '../../../harness/dovecot';
import { hostileCorpus, setMaildirDates, type CorpusMail } from '../../helpers/hostileMail';
import { Harness, MemoryStore, options, waitFor } from '../../../harness/intake';

let dovecot: Dovecot;
let admin: ImapFlow;

before(async () => {
	dovecot = new Dovecot();
	await dovecot.start();
	admin = await dovecot.client();
});

let h: Harness | undefined;

after(async () => {
	await h?.intake.stop();
	await admin?.logout().catch(() => undefined);
	await dovecot?.destroy();
});

/** The corpus tag of an item: from its headers, or from the raw source of an error item. */
function tagOf(r: MailRecord): string {
	const raw = r.binaries.find((b) => b.property === 'raw')?.content.toString('latin1') ?? '';
	return r.json.headers['x-corpus'] ?? /X-Corpus: (\S+)/.exec(raw)?.[1] ?? `uid ${r.json.uid}`;
}

/** Appends the mails byte for byte, with their internal dates. */
async function append(folder: string, mails: CorpusMail[]): Promise<void> {
	for (const m of mails) await admin.append(folder, m.raw, [], m.internalDate);
	// Dovecot clamps APPEND dates to now: the future ones are set on the files.
	setMaildirDates(
		dovecot,
		folder,
		new Map(mails.map((m) => [`X-Corpus: ${m.tag}`, m.internalDate])),
	);
}

describe('hostile corpus against Dovecot', () => {
	it('emits every generated mail exactly once, across a restart and a UIDVALIDITY change', async () => {
		const folder = 'Hostile';
		await ensureFolder(admin, folder);
		const store = new MemoryStore();
		const opts = options(dovecot, { folders: [folder], batchSize: 40 });
		const out: string[] = [];
		const record = (records: MailRecord[]) => {
			for (const r of records) {
				out.push(tagOf(r));
				const j = r.json;
				assert.ok(j.date === null || !Number.isNaN(Date.parse(j.date)), `date of ${tagOf(r)}`);
				for (const id of [j.messageId, j.inReplyTo, ...j.references])
					assert.ok(id === null || /^<[^<>\s]+>$/.test(id), `${id} of ${tagOf(r)}`);
			}
		};

		// The trigger was watching the folder before the mail came in.
		h = new Harness(opts, store);
		await h.run();
		await h.intake.stop();

		const corpus = hostileCorpus(300);
		// The same mail twice (delivered to two addresses of the mailbox) is one mail.
		await append(folder, [...corpus, corpus[5]]);

		// Run 2 is stopped while its third batch is still in the workflow.
		h = new Harness(opts, store);
		const h2 = h;
		h2.onDeliver = async (records) => {
			record(records);
			if (h2.batches.length === 3) {
				void h2.intake.stop();
				await new Promise(() => undefined);
			}
		};
		await h2.intake.start();
		await waitFor(() => h2.batches.length === 3, 20_000, 'third batch of run 2');
		assert.deepEqual(h2.errors, []);

		// Run 3 picks up after the batch n8n already has.
		h = new Harness(opts, store);
		h.onDeliver = record;
		await h.run();
		await h.intake.stop();
		assert.deepEqual(h.errors, []);
		assert.deepEqual(
			out.slice().sort(),
			corpus.map((m) => m.tag),
		);
		const reused = h.mails
			.concat(h2.mails)
			.filter((m) => m.json.warnings.some((w) => w.code === 'MESSAGE_ID_REUSED'));
		assert.ok(reused.length > 0, 'mails reusing a Message-ID are flagged');

		// The folder is recreated (server migration): the same mails with new UIDs, then new ones.
		await admin.mailboxDelete(folder);
		await admin.mailboxCreate(folder);
		const later = hostileCorpus(60, 12, 'n');
		await append(folder, [...corpus, corpus[5], ...later]);
		out.length = 0;
		h = new Harness(opts, store);
		h.onDeliver = record;
		await h.run();
		await h.intake.stop();
		assert.deepEqual(h.errors, []);
		assert.deepEqual(
			out.slice().sort(),
			later.map((m) => m.tag),
		);
		assert.ok(h.logs.some((l) => /resuming above it/.test(l.message)));
	});
});
