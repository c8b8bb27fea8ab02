/**
 * npm run bench:linker — 10,000 mails linked against 1,000,000 CRM records through the Parent
 * Linker node (records normalized and indexed once per execution), against the baseline a
 * hand-written Code node would do: scan the records for each mail's From address (timed on a
 * 1 % sample and scaled up). Target: the whole run ≤ 2 s.
 *
 *   npm run bench:linker [-- --mails 10000 --records 1000000]
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { CrmEmailParentLinker } from '../nodes/ParentLinker/CrmEmailParentLinker.node.ts'; // explicit: ".node" resolves to the codex .node.json
import { fakeExecute } from '../harness/fakeExecute';

const arg = (name: string, fallback: number) => {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

function makeRecords(n: number): INodeExecutionData[] {
	const out: INodeExecutionData[] = new Array(n);
	for (let i = 0; i < n; i++) {
		const kind = i % 10;
		const json: IDataObject =
			kind === 0
				? {
						type: 'Account',
						id: `a${i}`,
						name: `Company ${i}`,
						emailAddress: `office${i}@company${i}.example`,
					}
				: kind < 8
					? {
							type: 'Contact',
							id: `c${i}`,
							name: `Person ${i}`,
							accountId: `a${i - kind}`,
							emailAddressData: [{ emailAddress: `Person${i}@Company${i - kind}.example` }],
						}
					: {
							type: 'Lead',
							id: `l${i}`,
							name: `Lead ${i}`,
							emailAddress: `lead${i}@prospect.example`,
						};
		out[i] = { json };
	}
	return out;
}

function makeMails(n: number, records: number): INodeExecutionData[] {
	const out: INodeExecutionData[] = [];
	for (let i = 0; i < n; i++) {
		// 9 in 10 from a known person, spread over the whole record set; the rest unknown.
		const r = Math.floor(((i * 7919) % n) * (records / n));
		const kind = r % 10;
		const address =
			i % 10 === 9
				? `stranger${i}@nowhere.example`
				: kind === 0
					? `office${r}@company${r}.example`
					: kind < 8
						? `person${r}@company${r - kind}.example`
						: `lead${r}@prospect.example`;
		out.push({
			json: {
				messageId: `<m${i}@example.org>`,
				subject: `Mail ${i}`,
				from: { address, name: `Sender ${i}` },
				to: [{ address: 'support@example.com', name: '' }],
			},
		});
	}
	return out;
}

/** The baseline: for each mail, a linear scan of the records for its From address. */
function naiveLink(mail: IDataObject, records: INodeExecutionData[]): IDataObject | null {
	const address = String((mail.from as IDataObject).address).toLowerCase();
	for (const type of ['Contact', 'Account', 'Lead']) {
		for (const r of records) {
			const j = r.json;
			if (j.type !== type) continue;
			const emails = [
				j.emailAddress,
				...((j.emailAddressData as IDataObject[] | undefined) ?? []).map((e) => e.emailAddress),
			];
			if (emails.some((e) => typeof e === 'string' && e.toLowerCase() === address)) return j;
		}
	}
	return null;
}

async function main() {
	const nMails = arg('mails', 10_000);
	const nRecords = arg('records', 1_000_000);
	console.log(
		`Parent Linker: ${nMails.toLocaleString()} mails against ${nRecords.toLocaleString()} records`,
	);
	const records = makeRecords(nRecords);
	const mails = makeMails(nMails, nRecords);

	const node = new CrmEmailParentLinker();
	const f = fakeExecute({
		description: node.description,
		parameters: {
			mode: 'b2b',
			recordType: 'field',
			typeField: 'type',
			recordFields: {},
			threadIds: 'ignore',
			options: { rememberThreads: true },
		},
		inputs: [mails, records],
	});
	// Collect the benchmark's own garbage (a million generated rows) so it is not billed to the node.
	(globalThis as { gc?: () => void }).gc?.();
	const started = process.hrtime.bigint();
	const [linked, unknown] = await node.execute.call(f.ctx);
	const ours = Number(process.hrtime.bigint() - started) / 1e9;

	const sample = mails.filter((_, i) => i % 100 === 0);
	const t0 = process.hrtime.bigint();
	let naiveFound = 0;
	for (const m of sample) if (naiveLink(m.json, records)) naiveFound++;
	const naive = ((Number(process.hrtime.bigint() - t0) / 1e9) * mails.length) / sample.length;
	const oursSampleFound = sample.filter((m) =>
		linked.some((l) => l.json.messageId === m.json.messageId),
	).length;

	console.log(
		`  linked ${linked.length.toLocaleString()}, unknown sender ${unknown.length.toLocaleString()}`,
	);
	console.log(
		`  Parent Linker (index + link, whole run):   ${ours.toFixed(2)} s  (target ≤ 2 s: ${ours <= 2 ? 'met' : 'NOT met'})`,
	);
	console.log(
		`  baseline naive scan per mail (1 % sample): ${naive.toFixed(1)} s for ${nMails.toLocaleString()} mails (scaled)`,
	);
	console.log(`  ratio: ${(naive / ours).toFixed(0)}× faster than the baseline`);
	console.log(
		`  sample agreement: baseline found ${naiveFound}/${sample.length}, linker ${oursSampleFound}/${sample.length}`,
	);
}

if (require.main === module) void main();
