/**
 * n8n glue of the Case Router: reads the settings once, routes items in order against the store
 * (the node's state on this n8n instance, or PostgreSQL), or updates cases (operation "Update
 * Case"). A failed item goes to the last output, Failed.
 */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { ownAddressSet } from '../shared/addresses';
import { failedItem, toNodeError } from '../shared/itemErrors';
import { parseJsonParameter } from '../shared/jsonParameter';
import { withNodeState, type NodeStateHandle } from '../shared/nodeState';
import { compileRegex } from '../shared/safeRegex';
import { ownMessageIdParser } from '../shared/signingMethods';
import { parseMembers, type Member, type Strategy } from './core/assign';
import { routeMail, updateCase, type JoinPolicy, type RouterConfig } from './core/router';
import { highestCaseNumber, ObjectCaseStore, type CaseStore } from './core/store';
import { stateStoreKind, withPostgresStore } from '../shared/state/nodeStore';

interface RouterOptions {
	tagPattern?: string;
	unknownTag?: 'newCase' | 'ignore';
	joinPolicy?: JoinPolicy;
	reopenOnReply?: boolean;
	closedStatuses?: string;
	ownAddresses?: string;
	retentionDays?: number;
	maxThreads?: number;
}

const DAY = 86_400_000;

function list(value: string | undefined, fallback: string): string[] {
	return (value ?? fallback)
		.split(/[,;]/)
		.map((s) => s.trim())
		.filter(Boolean);
}

function members(ctx: IExecuteFunctions, i: number): Member[] {
	if (ctx.getNodeParameter('membersSource', i) === 'json') {
		const raw = ctx.getNodeParameter('membersJson', i) as unknown;
		return parseMembers(
			typeof raw === 'string' && raw.trim() ? parseJsonParameter(raw, 'Team Members (JSON)') : raw,
		);
	}
	const panel = ctx.getNodeParameter('members', i, {}) as { member?: IDataObject[] };
	return parseMembers(panel.member ?? []);
}

function strategy(ctx: IExecuteFunctions, i: number): Strategy {
	const kind = ctx.getNodeParameter('assignment', i) as string;
	if (kind === 'direct')
		return { kind, userId: String(ctx.getNodeParameter('userId', i, '')).trim() };
	if (kind === 'roundRobin' || kind === 'leastBusy')
		return {
			kind,
			members: members(ctx, i),
			role: String(ctx.getNodeParameter('role', i, '')).trim() || undefined,
		};
	return { kind: 'none' };
}

function openCounts(ctx: IExecuteFunctions, i: number): Map<string, number> | null {
	if (ctx.getNodeParameter('assignment', i) !== 'leastBusy') return null;
	if (ctx.getNodeParameter('openCountsSource', i) !== 'field') return null;
	let raw = ctx.getNodeParameter('openCounts', i, {}) as unknown;
	if (typeof raw === 'string') raw = raw.trim() ? parseJsonParameter(raw, 'Open Cases') : {};
	const out = new Map<string, number>();
	if (Array.isArray(raw)) {
		for (const r of raw as IDataObject[])
			out.set(String(r.id ?? r.userId), Number(r.count ?? r.open ?? 0));
	} else if (raw && typeof raw === 'object') {
		for (const [k, v] of Object.entries(raw)) out.set(k, Number(v) || 0);
	}
	return out;
}

export async function executeRouter(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	if (stateStoreKind(this) === 'postgres')
		return await withPostgresStore(this, async (store) => await run.call(this, store));
	return await withNodeState(this, async (data, state) => {
		const store = new ObjectCaseStore(
			data,
			state.floor,
			state.damaged ? highestCaseNumber(state.damaged.text) : 0,
		);
		const warning = stateWarning(state, store);
		if (warning) this.logger.warn(`Case Router: ${warning}`);
		const outputs = await run.call(this, store);
		// On the items too: an admin looking at the execution sees it, not only the log.
		if (warning)
			for (const output of outputs) for (const item of output) item.json.warning = warning;
		return outputs;
	});
}

/** What an admin must know when the router's state was damaged or missing. */
function stateWarning(state: NodeStateHandle, store: ObjectCaseStore): string | null {
	const numbers =
		store.resumedAbove !== null
			? `new case numbers continue above ${store.resumedAbove}, the highest one that may have been handed out`
			: 'no earlier case number was found: numbering starts at 1';
	if (state.damaged)
		return `the node state file was damaged (${state.damaged.reason}) and set aside as ${state.damaged.setAside}; the cases, threads and round-robin positions in it are not known to this execution; ${numbers}. See "Node state" in the README to recover.`;
	if (store.resumedAbove !== null)
		return `the node state file is missing or older than its floor file; ${numbers}. See "Node state" in the README.`;
	return null;
}

async function run(this: IExecuteFunctions, store: CaseStore): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const options = this.getNodeParameter('options', 0, {}) as RouterOptions;
	const closed = new Set(
		list(options.closedStatuses, 'Closed, Rejected, Duplicate').map((s) => s.toLowerCase()),
	);
	const now = Date.now();

	if (this.getNodeParameter('operation', 0) === 'updateCase') {
		const updated: INodeExecutionData[] = [];
		const missing: INodeExecutionData[] = [];
		const failed: INodeExecutionData[] = [];
		for (let i = 0; i < items.length; i++) {
			try {
				const number = Number(this.getNodeParameter('caseNumber', i));
				const status = String(this.getNodeParameter('newStatus', i, '')).trim();
				const assignee = String(this.getNodeParameter('newAssignee', i, '')).trim();
				const record = Number.isSafeInteger(number)
					? await updateCase(store, {
							number,
							status: status || undefined,
							assignee: assignee || undefined,
							now,
						})
					: null;
				const out = {
					json: { ...items[i].json, case: record as unknown as IDataObject },
					pairedItem: { item: i },
				};
				(record ? updated : missing).push(out);
			} catch (error) {
				if (!this.continueOnFail()) throw toNodeError(this, error, i);
				failed.push(failedItem(this, items[i], i, error));
			}
		}
		return [updated, missing, failed];
	}

	let tagPattern: RegExp;
	try {
		tagPattern = compileRegex(
			options.tagPattern || '\\[#(\\d+)\\]',
			true,
			'Options → Case Tag Pattern',
		);
	} catch (error) {
		throw toNodeError(this, error);
	}
	const parseOwnId = await ownMessageIdParser(this);
	const own = ownAddressSet(options.ownAddresses ?? '');
	const outputs: Record<'newCase' | 'followUp' | 'ignored', INodeExecutionData[]> = {
		newCase: [],
		followUp: [],
		ignored: [],
	};
	const failed: INodeExecutionData[] = [];
	for (let i = 0; i < items.length; i++) {
		const item = items[i];
		try {
			const config: RouterConfig = {
				tagPattern,
				unknownTag: options.unknownTag ?? 'newCase',
				joinPolicy: options.joinPolicy ?? 'participants',
				reopenOnReply: options.reopenOnReply !== false,
				closed,
				own,
				team: String(this.getNodeParameter('team', i, '')).trim() || null,
				strategy: strategy(this, i),
				openCounts: openCounts(this, i),
				parseOwnId,
				now,
			};
			const routed = await routeMail(item.json, store, config);
			outputs[routed.route].push({
				json: {
					...item.json,
					case: routed.case as unknown as IDataObject,
					routing: { route: routed.route, reason: routed.reason },
				},
				binary: item.binary,
				pairedItem: { item: i },
			});
		} catch (error) {
			if (!this.continueOnFail()) throw toNodeError(this, error, i);
			failed.push(failedItem(this, item, i, error));
		}
	}
	await store.prune(
		now,
		{
			closedMs: Math.max(0, Number(options.retentionDays ?? 90)) * DAY,
			maxThreads: Math.max(1000, Number(options.maxThreads ?? 200_000)),
		},
		closed,
	);
	return [outputs.newCase, outputs.followUp, outputs.ignored, failed];
}
