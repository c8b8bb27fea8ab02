/**
 * The trigger's intake against a real Dovecot on 127.0.0.1: every mail exactly once.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';

import { appendMails, Dovecot, ensureFolder, makeMail } from '../../../harness/dovecot';
import { DEFAULT_SEEN_LIMIT } from '../../../nodes/ImapTrigger/core/cursor';
import { setMaildirDates } from '../../helpers/hostileMail';
import { Harness, MemoryStore, options, waitFor } from '../../../harness/intake';

let dovecot: Dovecot;
let admin: ImapFlow;
let folderNo = 0;

/** Each test gets folders of its own, so tests do not see each other's mail. */
async function freshFolder(prefix = 'T'): Promise<string> {
	folderNo += 1;
	const name = `${prefix}${folderNo}`;
	await ensureFolder(admin, name);
	return name;
}

before(async () => {
	dovecot = new Dovecot();
	await dovecot.start();
	admin = await dovecot.client();
});

after(async () => {
	await current?.intake.stop();
	await admin?.logout().catch(() => undefined);
	await dovecot?.destroy();
});

let current: Harness | undefined;

describe('IMAP intake against Dovecot', () => {
	let h: Harness | undefined;
	beforeEach(async () => {
		await h?.intake.stop();
		h = undefined;
	});
	afterEach(() => {
		current = h;
	});

	it('takes mails on or after "fetch since" by internal date, to the second', async () => {
		const folder = await freshFolder();
		const since = new Date('2026-03-10T12:00:00Z');
		const at = (s: number) => new Date(since.getTime() + s * 1000);
		await appendMails(admin, folder, [
			{ raw: makeMail({ subject: 'a day before' }), date: at(-86_400) },
			{ raw: makeMail({ subject: 'one second before' }), date: at(-1) },
			{ raw: makeMail({ subject: 'exactly at' }), date: at(0) },
			{ raw: makeMail({ subject: 'one second after' }), date: at(1) },
			{ raw: makeMail({ subject: 'next year' }), date: at(86_400 * 365) },
		]);
		h = new Harness(options(dovecot, { folders: [folder], fetchSince: since }));
		await h.run();
		assert.deepEqual(h.subjects, ['exactly at', 'one second after', 'next year']);
		// A mail appended later with an old internal date is new mail: it is taken too.
		await appendMails(admin, folder, [
			{ raw: makeMail({ subject: 'late, old date' }), date: at(-7200) },
		]);
		h.intake.request();
		await h.intake.settled();
		assert.deepEqual(h.subjects.slice(3), ['late, old date']);
	});

	it('hands a backlog over in batches of at most N, in UID order', async () => {
		const folder = await freshFolder();
		await appendMails(
			admin,
			folder,
			Array.from({ length: 23 }, (_, i) => makeMail({ subject: `b${i}` })),
		);
		h = new Harness(options(dovecot, { folders: [folder], batchSize: 10 }));
		await h.run();
		assert.deepEqual(
			h.batches.map((b) => b.length),
			[10, 10, 3],
		);
		assert.deepEqual(
			h.subjects,
			Array.from({ length: 23 }, (_, i) => `b${i}`),
		);
	});

	it('emits every mail exactly once across trigger restarts, even with a batch in flight', async () => {
		const folder = await freshFolder();
		await appendMails(
			admin,
			folder,
			Array.from({ length: 30 }, (_, i) => makeMail({ subject: `r${i}` })),
		);
		const store = new MemoryStore();
		const seen: string[] = [];

		// Run 1: stopped after its first batch was received.
		const h1 = new Harness(options(dovecot, { folders: [folder], batchSize: 7 }), store);
		h1.onDeliver = async (records) => {
			seen.push(...records.map((r) => r.json.subject));
			if (h1.batches.length === 1) void h1.intake.stop();
		};
		await h1.run();

		// Run 2: stopped while its second batch is still in the workflow (never confirmed).
		const h2 = new Harness(options(dovecot, { folders: [folder], batchSize: 7 }), store);
		h2.onDeliver = async (records) => {
			seen.push(...records.map((r) => r.json.subject));
			if (h2.batches.length === 2) {
				void h2.intake.stop();
				await new Promise(() => undefined); // the execution never reports back
			}
		};
		await h2.intake.start();
		await waitFor(() => h2.batches.length === 2, 10_000, 'second batch of run 2');

		// Run 3: picks up after the unconfirmed batch, which n8n already has.
		const h3 = new Harness(options(dovecot, { folders: [folder], batchSize: 7 }), store);
		h3.onDeliver = async (records) => {
			seen.push(...records.map((r) => r.json.subject));
		};
		await h3.run();
		await h3.intake.stop();

		assert.deepEqual(
			seen,
			Array.from({ length: 30 }, (_, i) => `r${i}`),
		);
	});

	it('emits every mail exactly once when Dovecot restarts in the middle of a batch', async () => {
		const folder = await freshFolder();
		await appendMails(
			admin,
			folder,
			Array.from({ length: 25 }, (_, i) => makeMail({ subject: `d${i}` })),
		);
		h = new Harness(options(dovecot, { folders: [folder], batchSize: 10 }));
		let restarted = false;
		h.onDeliver = async () => {
			if (!restarted) {
				restarted = true;
				await admin.logout().catch(() => undefined);
				await dovecot.restart();
				admin = await dovecot.client();
			}
		};
		await h.intake.start();
		await waitFor(() => h!.mails.length >= 25, 20_000, 'all 25 mails after the restart');
		await h.intake.settled();
		assert.deepEqual(
			h.subjects,
			Array.from({ length: 25 }, (_, i) => `d${i}`),
		);
	});

	it('resumes by date after a UIDVALIDITY change, without duplicates or losses', async () => {
		const folder = await freshFolder('V');
		const base = Date.now() - 3600_000;
		const old = Array.from({ length: 5 }, (_, i) => ({
			raw: makeMail({ subject: `v${i}`, messageId: `v${i}.${base}@example.org` }),
			date: new Date(base + i * 1000),
		}));
		await appendMails(admin, folder, old);
		const store = new MemoryStore();
		h = new Harness(options(dovecot, { folders: [folder] }), store);
		await h.run();
		await h.intake.stop();
		assert.equal(h.mails.length, 5);
		const before = h.mails[0].json.uidValidity;

		// The folder is recreated (server migration): same mails, new UIDs, plus three new ones.
		await admin.mailboxDelete(folder);
		await admin.mailboxCreate(folder);
		const fresh = Array.from({ length: 3 }, (_, i) => ({
			raw: makeMail({ subject: `new${i}` }),
			date: new Date(base + 10_000 + i * 1000),
		}));
		await appendMails(admin, folder, [...old, ...fresh]);

		h = new Harness(options(dovecot, { folders: [folder] }), store);
		await h.run();
		assert.deepEqual(h.subjects, ['new0', 'new1', 'new2']);
		assert.notEqual(h.mails[0].json.uidValidity, before);
	});

	it('emits a mail whose Date JavaScript cannot parse, and every mail behind it (issue #11)', async () => {
		const folder = await freshFolder();
		const bad = makeMail({ subject: 'bad date' }).replace(
			/^Date: .*$/m,
			'Date: Thu, 29 Aug 2002 15:36:58 +-0500',
		);
		const garbage = makeMail({ subject: 'no date at all' }).replace(/^Date: .*$/m, 'Date: soon');
		await appendMails(admin, folder, [bad, garbage, makeMail({ subject: 'after' })]);
		const store = new MemoryStore();
		h = new Harness(options(dovecot, { folders: [folder] }), store);
		await h.run();
		assert.deepEqual(h.errors, []);
		assert.deepEqual(h.subjects, ['bad date', 'no date at all', 'after']);
		assert.equal(h.mails[0].json.date, '2002-08-29T20:36:58.000Z');
		assert.equal(h.mails[1].json.date, null);
		assert.equal(h.mails[1].json.headers.date, 'soon');
		assert.equal(h.mails[1].json.warnings[0].code, 'DATE_UNPARSABLE');
		// The watermark moved past them: a restart emits nothing again.
		await h.intake.stop();
		h = new Harness(options(dovecot, { folders: [folder] }), store);
		await h.run();
		assert.deepEqual(h.subjects, []);
	});

	it('emits a different mail reusing a Message-ID, flagged; passes over the same mail, logged (issue #11)', async () => {
		const folder = await freshFolder();
		const id = `reused.${Date.now()}@example.org`;
		const first = makeMail({
			subject: 'first',
			messageId: id,
			date: new Date('2026-01-01T00:00:00Z'),
		});
		const other = makeMail({
			subject: 'other',
			messageId: id,
			date: new Date('2026-01-02T00:00:00Z'),
		});
		await appendMails(admin, folder, [first, other, first]);
		h = new Harness(options(dovecot, { folders: [folder], afterFetch: 'markRead' }));
		await h.run();
		assert.deepEqual(h.subjects, ['first', 'other']);
		assert.deepEqual(h.mails[0].json.warnings, []);
		assert.equal(h.mails[1].json.warnings[0].code, 'MESSAGE_ID_REUSED');
		assert.match(h.mails[1].json.warnings[0].message, new RegExp(`${folder}:1\\b`));
		const passed = h.logs.find((l) => /Passed over/.test(l.message));
		assert.match(
			passed?.message ?? '',
			new RegExp(`${folder}:3: the same mail was handled at ${folder}:1`),
		);
	});

	it('lists the attachments of an over-size mail from its structure, without downloading it (issue #11)', async () => {
		const folder = await freshFolder();
		const big = [
			'From: a@example.org',
			'Subject: big with files',
			'Message-ID: <bigfiles@example.org>',
			'MIME-Version: 1.0',
			'Content-Type: multipart/mixed; boundary="b"',
			'',
			'--b',
			'Content-Type: text/plain',
			'',
			'see files',
			'--b',
			'Content-Type: application/pdf; name="report.pdf"',
			'Content-Disposition: attachment; filename="report.pdf"',
			'Content-Transfer-Encoding: base64',
			'',
			'QUJD'.repeat(2000).replace(/.{76}/g, '$&\r\n'),
			'--b--',
			'',
		].join('\r\n');
		await appendMails(admin, folder, [big]);
		h = new Harness(options(dovecot, { folders: [folder], maxMailBytes: 3000 }));
		await h.run();
		const [mail] = h.mails;
		assert.equal(mail.json.truncated, true);
		assert.equal(mail.json.subject, 'big with files');
		assert.deepEqual(
			mail.json.attachments.map((a) => [a.filename, a.contentType, a.skipped]),
			[['report.pdf', 'application/pdf', 'mail-too-large']],
		);
		assert.ok(mail.json.attachments[0].size > 5000);
		assert.equal(mail.binaries.length, 0);
	});

	it('resumes after a UIDVALIDITY change past a mail dated in the future (issue #11)', async () => {
		const folder = await freshFolder('F');
		const now = Date.now();
		const old = [
			{ raw: makeMail({ subject: 'o1' }), date: new Date(now - 7200_000) },
			{ raw: makeMail({ subject: 'o2 clamped' }) },
			{ raw: makeMail({ subject: 'o3' }), date: new Date(now - 3600_000) },
		];
		await appendMails(admin, folder, old);
		// A server clamped this mail's year-0102 Date to the end of 32-bit time.
		const future = new Map([['o2 clamped', new Date('2038-01-19T03:14:07Z')]]);
		setMaildirDates(dovecot, folder, future);
		const store = new MemoryStore();
		h = new Harness(options(dovecot, { folders: [folder] }), store);
		await h.run();
		assert.deepEqual(h.subjects, ['o1', 'o2 clamped', 'o3']);
		assert.equal(h.mails[1].json.internalDate, '2038-01-19T03:14:07.000Z');
		await h.intake.stop();

		await admin.mailboxDelete(folder);
		await admin.mailboxCreate(folder);
		await appendMails(admin, folder, [
			...old,
			{ raw: makeMail({ subject: 'new, dated now' }), date: new Date() },
		]);
		setMaildirDates(dovecot, folder, future);
		h = new Harness(options(dovecot, { folders: [folder] }), store);
		await h.run();
		assert.deepEqual(h.subjects, ['new, dated now']);
	});

	it('resumes after a UIDVALIDITY change of a folder larger than the de-dup memory whose dates were reset (issue #11)', async () => {
		const folder = await freshFolder('L');
		const base = Date.now() - 86_400_000;
		const old = Array.from({ length: 30 }, (_, i) =>
			makeMail({ subject: `l${i}`, messageId: `l${i}.${base}@example.org`, date: new Date(base) }),
		);
		await appendMails(
			admin,
			folder,
			old.map((raw, i) => ({ raw, date: new Date(base + i * 1000) })),
		);
		const store = new MemoryStore();
		h = new Harness(options(dovecot, { folders: [folder], batchSize: 10 }), store);
		await h.run();
		assert.equal(h.mails.length, 30);
		await h.intake.stop();
		// Since then the de-dup memory filled with other mail (another watched folder): as if the
		// folder held more mails than it remembers, without appending thousands here.
		const state = JSON.parse(store.saved!);
		state.seen = [
			...state.seen,
			...Array.from({ length: DEFAULT_SEEN_LIMIT }, (_, i) => `other${i}`),
		].slice(-DEFAULT_SEEN_LIMIT);
		store.saved = JSON.stringify(state);

		// A migration that did not keep internal dates: every old mail now has today's date.
		await admin.mailboxDelete(folder);
		await admin.mailboxCreate(folder);
		await appendMails(admin, folder, [...old, makeMail({ subject: 'after migration' })]);
		h = new Harness(options(dovecot, { folders: [folder], batchSize: 10 }), store);
		await h.run();
		assert.deepEqual(h.subjects, ['after migration']);
	});

	it('emits a mail present in two watched folders once', async () => {
		const a = await freshFolder('A');
		const b = await freshFolder('B');
		const mail = makeMail({ subject: 'in both', messageId: `both.${Date.now()}@example.org` });
		await appendMails(admin, a, [mail, makeMail({ subject: 'only a' })]);
		await appendMails(admin, b, [mail, makeMail({ subject: 'only b' })]);
		h = new Harness(options(dovecot, { folders: [a, b] }));
		await h.run();
		assert.deepEqual(h.subjects.sort(), ['in both', 'only a', 'only b']);
	});

	it('emits a malformed mail as an error item with its raw source, and the mails behind it', async () => {
		const folder = await freshFolder();
		const garbage = Buffer.concat([
			Buffer.from([0, 1, 2, 0xff, 0xfe]),
			Buffer.from('\r\n\r\nnot a mail'),
		]);
		await admin.append(folder, garbage);
		await appendMails(admin, folder, [makeMail({ subject: 'after the bad one' })]);
		h = new Harness(options(dovecot, { folders: [folder] }));
		await h.run();
		assert.equal(h.mails.length, 2);
		const [bad, good] = h.mails;
		assert.equal(bad.json.error?.code, 'MAIL_PARSE_FAILED');
		assert.equal(bad.binaries[0].property, 'raw');
		// Dovecot stores NUL bytes as 0x80; the rest comes back byte for byte.
		assert.ok(bad.binaries[0].content.toString('latin1').endsWith('\r\n\r\nnot a mail'));
		assert.equal(good.json.subject, 'after the bad one');
		assert.equal(good.json.error, null);
	});

	it('hands a mail over the size limit over with its headers only', async () => {
		const folder = await freshFolder();
		await appendMails(admin, folder, [
			makeMail({ subject: 'big one', body: 'x'.repeat(6000) }),
			makeMail({ subject: 'small one' }),
		]);
		h = new Harness(options(dovecot, { folders: [folder], maxMailBytes: 3000 }));
		await h.run();
		const [big, small] = h.mails;
		assert.equal(big.json.subject, 'big one');
		assert.equal(big.json.truncated, true);
		assert.equal(big.json.text, null);
		assert.ok(big.json.size > 6000);
		assert.equal(small.json.truncated, false);
		assert.match(small.json.text ?? '', /Body/);
	});

	it('marks fetched mails as read when asked, and leaves them unread otherwise', async () => {
		const folder = await freshFolder();
		await appendMails(admin, folder, [makeMail({ subject: 'read me' })]);
		h = new Harness(options(dovecot, { folders: [folder], afterFetch: 'nothing' }));
		await h.run();
		const flagsOf = async (f: string) => {
			const lock = await admin.getMailboxLock(f);
			try {
				return (await admin.fetchAll('1:*', { flags: true })).map((m) => [...(m.flags ?? [])]);
			} finally {
				lock.release();
			}
		};
		assert.deepEqual(await flagsOf(folder), [[]]);
		await h.intake.stop();

		const folder2 = await freshFolder();
		await appendMails(admin, folder2, [makeMail({ subject: 'read me' })]);
		h = new Harness(options(dovecot, { folders: [folder2], afterFetch: 'markRead' }));
		await h.run();
		assert.deepEqual(await flagsOf(folder2), [['\\Seen']]);
	});

	it('moves fetched mails to a folder when asked', async () => {
		const folder = await freshFolder();
		const done = await freshFolder('Done');
		await appendMails(admin, folder, [
			makeMail({ subject: 'move me' }),
			makeMail({ subject: 'me too' }),
		]);
		h = new Harness(options(dovecot, { folders: [folder], afterFetch: 'move', moveTo: done }));
		await h.run();
		assert.equal(h.mails.length, 2);
		const src = await admin.status(folder, { messages: true });
		const dst = await admin.status(done, { messages: true });
		assert.equal(src && src.messages, 0);
		assert.equal(dst && dst.messages, 2);
	});

	it('notices a new mail through IDLE within seconds (the poll interval is a minute)', async () => {
		const folder = await freshFolder();
		h = new Harness(options(dovecot, { folders: [folder], mode: 'idle', pollIntervalMs: 60_000 }));
		await h.run();
		assert.equal(h.mails.length, 0);
		await new Promise((r) => setTimeout(r, 600)); // let IDLE start
		await appendMails(admin, folder, [makeMail({ subject: 'pushed' })]);
		await waitFor(() => h!.mails.length === 1, 5_000, 'the mail announced by IDLE');
		assert.equal(h.mails[0].json.subject, 'pushed');
	});

	it('refuses to start on a missing folder, naming it', async () => {
		h = new Harness(options(dovecot, { folders: ['INBOX', 'Nope'] }));
		await assert.rejects(h.intake.start(), (e: Error & { code?: string }) => {
			assert.equal(e.code, 'IMAP_FOLDER_MISSING');
			assert.match(e.message, /"Nope"/);
			return true;
		});
		// Refused is refused: the connection it logged out of is not reopened behind the admin's back.
		await new Promise((r) => setTimeout(r, 600));
		assert.deepEqual(
			h.logs.filter((l) => /reconnect|connection back/i.test(l.message)),
			[],
		);
		assert.equal(h.batches.length, 0);
	});

	it('reports a server that stays down, then picks up where it stopped once it is back', async () => {
		const folder = await freshFolder();
		await appendMails(admin, folder, [makeMail({ subject: 'before outage' })]);
		h = new Harness(
			options(dovecot, {
				folders: [folder],
				reconnect: { initialMs: 50, maxMs: 200, reportAfter: 3 },
			}),
		);
		await h.run();
		await admin.logout().catch(() => undefined);
		await dovecot.stop();
		await waitFor(() => h!.errors.length > 0, 10_000, 'an outage report');
		assert.equal(h.errors[0].code, 'IMAP_CONNECTION_REFUSED');
		assert.doesNotMatch(h.errors[0].message, /secret/);
		await dovecot.start();
		admin = await dovecot.client();
		await appendMails(admin, folder, [makeMail({ subject: 'after outage' })]);
		// The reconnect may have drained before this mail came: the next poll (a minute away in
		// these options) would find it; ask for it now.
		h.intake.request();
		await waitFor(() => h!.mails.length === 2, 10_000, 'the mail sent during recovery');
		assert.deepEqual(h.subjects, ['before outage', 'after outage']);
	});
});
