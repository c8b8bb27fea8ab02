/**
 * npm run bench:intake — the trigger's intake path against the baseline "raw imapflow fetch of
 * the full source + mailparser simpleParser", on the same Dovecot mailbox of generated mails.
 * Each measurement runs in a fresh child process, so its peak memory (max RSS) is its own.
 *
 *   npm run bench:intake [-- --mails 10000 --small 1000]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { simpleParser } from 'mailparser';

import { ImapIntake } from '../nodes/ImapTrigger/intake';
import { Dovecot } from '../harness/dovecot';
import { options } from '../harness/intake';

const arg = (name: string, fallback: number) => {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** Plain, HTML, multipart with an attachment, ISO-8859-1 and windows-1251, in turn. */
export function variedMail(i: number): Buffer {
	const head = [
		`From: Customer ${i} <c${i}@example.org>`,
		'To: support@example.com',
		`Subject: Benchmark mail ${i}`,
		`Date: ${new Date(Date.UTC(2026, 0, 1, 0, 0, i % 86400)).toUTCString()}`,
		`Message-ID: <bench.${i}@example.org>`,
		'MIME-Version: 1.0',
	];
	const text = `Hello,\r\n${'this is line of a support request. '.repeat(20)}\r\nRegards ${i}\r\n`;
	switch (i % 5) {
		case 0:
			return Buffer.from(
				[...head, 'Content-Type: text/plain; charset=utf-8', '', text].join('\r\n'),
			);
		case 1:
			return Buffer.from(
				[
					...head,
					'Content-Type: text/html; charset=utf-8',
					'',
					`<html><body><p>${text}</p><table><tr><td>x</td></tr></table></body></html>`,
				].join('\r\n'),
			);
		case 2: {
			const file = randomBytes(20_000).toString('base64').replace(/.{76}/g, '$&\r\n');
			return Buffer.from(
				[
					...head,
					'Content-Type: multipart/mixed; boundary="bb"',
					'',
					'--bb',
					'Content-Type: text/plain; charset=utf-8',
					'',
					text,
					'--bb',
					'Content-Type: application/pdf; name="invoice.pdf"',
					'Content-Disposition: attachment; filename="invoice.pdf"',
					'Content-Transfer-Encoding: base64',
					'',
					file,
					'--bb--',
					'',
				].join('\r\n'),
			);
		}
		case 3:
			return Buffer.concat([
				Buffer.from(
					[
						...head,
						'Content-Type: text/plain; charset=iso-8859-1',
						'Content-Transfer-Encoding: 8bit',
						'',
						'',
					].join('\r\n'),
				),
				Buffer.from(`Grüße aus Köln, ${text}`, 'latin1'),
			]);
		default:
			return Buffer.concat([
				Buffer.from(
					[
						...head,
						'Content-Type: text/plain; charset=windows-1251',
						'Content-Transfer-Encoding: 8bit',
						'',
						'',
					].join('\r\n'),
				),
				Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2, 0x2c, 0x20]), // "Привет, " in windows-1251
				Buffer.from(text),
			]);
	}
}

interface Result {
	mails: number;
	seconds: number;
	maxRssMb: number;
}

async function child(kind: 'intake' | 'baseline', port: number, folder: string): Promise<Result> {
	const dovecot = new Dovecot();
	dovecot.port = port;
	const started = process.hrtime.bigint();
	let mails = 0;
	if (kind === 'intake') {
		// Like n8n's static data: an object the node changes in place, serialised once per emit.
		const staticData: { intake?: unknown } = {};
		const store = {
			load: () => staticData.intake,
			save: (s: unknown) => void (staticData.intake = s),
		};
		const intake = new ImapIntake(
			options(dovecot, {
				folders: [folder],
				batchSize: 50,
				attachments: { include: true, maxBytes: 10 << 20 },
			}),
			store,
			{
				deliver: async (records) => {
					JSON.stringify(staticData);
					mails += records.length;
				},
				reportError: (e) => console.error(e.message),
			},
		);
		await intake.start();
		await intake.settled();
		await intake.stop();
	} else {
		const client = await dovecot.client();
		const lock = await client.getMailboxLock(folder);
		try {
			for await (const msg of client.fetch('1:*', { uid: true, source: true })) {
				await simpleParser(msg.source!);
				mails += 1;
			}
		} finally {
			lock.release();
			await client.logout();
		}
	}
	const seconds = Number(process.hrtime.bigint() - started) / 1e9;
	return { mails, seconds, maxRssMb: process.resourceUsage().maxRSS / 1024 };
}

function measure(kind: string, port: number, folder: string): Result {
	const r = spawnSync(
		process.execPath,
		['--import', 'tsx', __filename, '--child', kind, '--port', String(port), '--folder', folder],
		{
			encoding: 'utf8',
		},
	);
	if (r.status !== 0) throw new Error(`${kind} run failed: ${r.stderr}`);
	return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
}

async function main(): Promise<void> {
	const ci = process.argv.indexOf('--child');
	if (ci > 0) {
		const kind = process.argv[ci + 1] as 'intake' | 'baseline';
		const folder = process.argv[process.argv.indexOf('--folder') + 1];
		console.log(JSON.stringify(await child(kind, arg('port', 0), folder)));
		return;
	}
	const large = arg('mails', 10_000);
	const small = arg('small', 1_000);
	const dovecot = new Dovecot();
	await dovecot.start();
	try {
		const client = await dovecot.client();
		for (const [folder, count] of [
			['Small', small],
			['Large', large],
		] as const) {
			await client.mailboxCreate(folder);
			process.stdout.write(`filling ${folder} with ${count} mails… `);
			const t = Date.now();
			for (let i = 0; i < count; i++)
				await client.append(folder, variedMail(i), [], new Date(Date.UTC(2026, 0, 1, 0, 0, i)));
			console.log(`${((Date.now() - t) / 1000).toFixed(1)} s`);
		}
		await client.logout();

		const rows: Array<[string, Result]> = [];
		for (const kind of ['baseline', 'intake']) {
			for (const folder of ['Small', 'Large']) {
				const r = measure(kind, dovecot.port, folder);
				rows.push([`${kind} ${folder.toLowerCase()}`, r]);
				console.log(
					`${kind.padEnd(8)} ${String(r.mails).padStart(6)} mails  ${r.seconds.toFixed(2).padStart(7)} s  ${(r.mails / r.seconds).toFixed(0).padStart(6)} mails/s  peak RSS ${r.maxRssMb.toFixed(0)} MB`,
				);
			}
		}
		const get = (name: string) => rows.find(([n]) => n === name)![1];
		const rate = (r: Result) => r.mails / r.seconds;
		const throughput = rate(get('intake large')) / rate(get('baseline large'));
		const growth = get('intake large').maxRssMb / get('intake small').maxRssMb;
		const baseGrowth = get('baseline large').maxRssMb / get('baseline small').maxRssMb;
		console.log('');
		console.log(
			`throughput, intake / baseline at ${large} mails: ${throughput.toFixed(2)}× (target ≥ 0.80×)`,
		);
		console.log(
			`peak memory, intake ${large} / ${small} mails: ${growth.toFixed(2)}× (target ≤ 1.20×; baseline: ${baseGrowth.toFixed(2)}×)`,
		);
	} finally {
		await dovecot.destroy();
	}
}

if (require.main === module)
	main().catch((error) => {
		console.error(error);
		process.exit(1);
	});
