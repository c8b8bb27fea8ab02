/**
 * n8n glue of the CRM Email Opt-Out node: "Verify Unsubscribe Token" splits links into Done and
 * Refused; "Add to Opt-Out List" adds the items' addresses to their lists, one atomic add per
 * list, and gives the confirmation page.
 */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { failedItem, toNodeError } from '../shared/itemErrors';
import { nodeThreadKey } from '../shared/signingMethods';
import { withOptOutStore } from '../shared/state/nodeStore';
import { unsubscribedPage } from './core/page';
import { addressToAdd, listToAdd, verifyLink } from './core/unsubscribe';

type Outputs = [INodeExecutionData[], INodeExecutionData[], INodeExecutionData[]];

export async function executeOptOut(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const operation = this.getNodeParameter('operation', 0) as string;
	return operation === 'add' ? await add(this) : await verify(this);
}

async function verify(ctx: IExecuteFunctions): Promise<Outputs> {
	const out: Outputs = [[], [], []];
	const key = await nodeThreadKey(ctx);
	const now = Date.now();
	ctx.getInputData().forEach((item, i) => {
		try {
			const email = ctx.getNodeParameter('email', i, '');
			const token = ctx.getNodeParameter('token', i, '');
			const v = verifyLink(key, email, token, now);
			out[v.ok ? 0 : 1].push({
				json: { ...item.json, optOut: v.optOut },
				pairedItem: { item: i },
			});
		} catch (error) {
			if (!ctx.continueOnFail()) throw toNodeError(ctx, error, i);
			out[2].push(failedItem(ctx, item, i, error));
		}
	});
	return out;
}

async function add(ctx: IExecuteFunctions): Promise<Outputs> {
	const out: Outputs = [[], [], []];
	const items = ctx.getInputData();
	const now = Date.now();
	const wanted: Array<{ i: number; email: string; list: string }> = [];
	items.forEach((item, i) => {
		try {
			const list = listToAdd(ctx.getNodeParameter('list', i, ''));
			const raw = ctx.getNodeParameter('email', i, '');
			const email = addressToAdd(raw);
			if (email) wanted.push({ i, email, list });
			else
				out[1].push({
					json: {
						...item.json,
						optOut: { code: 'EMAIL_INVALID', reason: `not one address: ${JSON.stringify(raw)}` },
					},
					pairedItem: { item: i },
				});
		} catch (error) {
			if (!ctx.continueOnFail()) throw toNodeError(ctx, error, i);
			out[2].push(failedItem(ctx, item, i, error));
		}
	});
	const byList = new Map<string, string[]>();
	for (const w of wanted) byList.set(w.list, [...(byList.get(w.list) ?? []), w.email]);
	const added = new Map<string, Set<string>>();
	await withOptOutStore(ctx, async (store) => {
		for (const [list, emails] of byList)
			added.set(list, new Set(await store.addOptOuts(list, emails, now)));
	});
	for (const { i, email, list } of wanted) {
		const before = items[i].json.optOut;
		out[0].push({
			json: {
				...items[i].json,
				optOut: {
					...(before && typeof before === 'object' ? before : {}),
					email,
					list,
					// False: it was on the list already (a second click, or both GET and POST).
					added: added.get(list)?.has(email) === true,
					page: unsubscribedPage(email),
				},
			},
			pairedItem: { item: i },
		});
	}
	out[0].sort(
		(a, b) => (a.pairedItem as { item: number }).item - (b.pairedItem as { item: number }).item,
	);
	return out;
}
