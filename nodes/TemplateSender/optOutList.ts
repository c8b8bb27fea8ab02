/**
 * n8n glue of the named opt-out lists in the Template Sender: before any mail is planned, the
 * recipients of the execution's bulk mail are looked up on the lists their items honour — one
 * store call per list, whatever the number of items.
 */
import type { IExecuteFunctions } from 'n8n-workflow';

import { parseAddresses } from '../shared/addresses';
import { withOptOutStore } from '../shared/state/nodeStore';
import { honouredOptOutList } from './core/optOut';
import type { SenderParameters } from './core/plan';

export async function readOptedOut(
	ctx: IExecuteFunctions,
	count: number,
	parameters: (i: number) => SenderParameters,
): Promise<Map<string, Set<string>>> {
	const wanted = new Map<string, string[]>();
	for (let i = 0; i < count; i++) {
		let list: string | null;
		let p: SenderParameters;
		try {
			p = parameters(i);
			if (p.operation !== 'send') return new Map();
			list = honouredOptOutList(p.options);
		} catch {
			// The item's own run reports its parameter error (or bad list name).
			continue;
		}
		if (!list) continue;
		const addresses = wanted.get(list) ?? [];
		for (const value of [p.to, p.cc, p.bcc])
			for (const m of parseAddresses(value).mailboxes) addresses.push(m.address);
		wanted.set(list, addresses);
	}
	const found = new Map<string, Set<string>>();
	if (!wanted.size) return found;
	await withOptOutStore(ctx, async (store) => {
		for (const [list, addresses] of wanted) found.set(list, await store.optedOut(list, addresses));
	});
	return found;
}
