/**
 * n8n glue of the named opt-out lists in the Template Sender: before any mail is planned, the
 * recipients of the execution's bulk mail are looked up on the lists their items honour — one
 * store call per list, whatever the number of items. Only Send reads a list (bulk mail).
 */
import type { IExecuteFunctions } from 'n8n-workflow';

import { parseAddresses } from '../shared/addresses';
import { withOptOutStore } from '../shared/state/nodeStore';
import { honouredOptOutList } from './core/optOut';
import type { Operation, SenderOptions } from './core/plan';

export async function readOptedOut(
	ctx: IExecuteFunctions,
	operation: Operation,
	count: number,
): Promise<Map<string, Set<string>>> {
	if (operation !== 'send') return new Map();
	const wanted = new Map<string, string[]>();
	for (let i = 0; i < count; i++) {
		try {
			const list = honouredOptOutList(ctx.getNodeParameter('options', i, {}) as SenderOptions);
			if (!list) continue;
			const addresses = wanted.get(list) ?? [];
			for (const name of ['to', 'cc', 'bcc'])
				for (const m of parseAddresses(ctx.getNodeParameter(name, i, '')).mailboxes)
					addresses.push(m.address);
			wanted.set(list, addresses);
		} catch {
			// The item's own run reports its parameter error (or bad list name), and plans nothing
			// for a list that was not read.
		}
	}
	const found = new Map<string, Set<string>>();
	if (!wanted.size) return found;
	await withOptOutStore(ctx, async (store) => {
		for (const [list, addresses] of wanted) found.set(list, await store.optedOut(list, addresses));
	});
	return found;
}
