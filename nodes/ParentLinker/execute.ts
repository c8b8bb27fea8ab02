/**
 * n8n glue of the Parent Linker: mails on the first input, CRM records on the second; the records
 * are indexed once, each mail is linked, and the result split into Linked / Unknown Sender /
 * Failed.
 */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { ownAddressSet } from '../shared/addresses';
import { failedItem, toNodeError } from '../shared/itemErrors';
import { withNodeState } from '../shared/nodeState';
import { normalizeMessageId, threadMessageIds } from '../shared/threadId';
import { ownMessageIdParser } from '../shared/signingMethods';
import { linkMail, wanted, type LinkOptions } from './core/link';
import { ObjectThreadMemory, prefetchedMemory } from './core/memory';
import { stateStoreKind, withPostgresStore } from '../shared/state/nodeStore';
import type { LinkStore } from '../shared/state/types';
import {
	DEFAULT_MAPPING,
	indexRecords,
	parseTypeOrder,
	RECORD_TYPES,
	type RecordMapping,
	type RecordType,
} from './core/records';

interface RecordFields {
	idField?: string;
	nameField?: string;
	emailFields?: string;
	accountIdField?: string;
	statusField?: string;
	convertedAccountField?: string;
	convertedContactField?: string;
}

interface LinkerOptions {
	typeOrder?: string;
	ownAddresses?: string;
	rememberThreads?: boolean;
	memorySize?: number;
}

function mapping(ctx: IExecuteFunctions): RecordMapping {
	const recordType = ctx.getNodeParameter('recordType', 0) as string;
	const fields = ctx.getNodeParameter('recordFields', 0, {}) as RecordFields;
	const pick = (v: string | undefined, fallback: string) => (v && v.trim() ? v.trim() : fallback);
	return {
		typeField:
			recordType === 'field'
				? pick(ctx.getNodeParameter('typeField', 0, 'type') as string, 'type')
				: DEFAULT_MAPPING.typeField,
		fixedType: (RECORD_TYPES as readonly string[]).includes(recordType)
			? (recordType as RecordType)
			: null,
		idField: pick(fields.idField, DEFAULT_MAPPING.idField),
		nameField: pick(fields.nameField, DEFAULT_MAPPING.nameField),
		emailFields: fields.emailFields?.trim()
			? fields.emailFields
					.split(',')
					.map((f) => f.trim())
					.filter(Boolean)
			: DEFAULT_MAPPING.emailFields,
		accountIdField: pick(fields.accountIdField, DEFAULT_MAPPING.accountIdField),
		statusField: pick(fields.statusField, DEFAULT_MAPPING.statusField),
		convertedAccountField: pick(
			fields.convertedAccountField,
			DEFAULT_MAPPING.convertedAccountField,
		),
		convertedContactField: pick(
			fields.convertedContactField,
			DEFAULT_MAPPING.convertedContactField,
		),
	};
}

export async function executeLinker(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	if (stateStoreKind(this) === 'postgres')
		return await withPostgresStore(this, async (store) => await run.call(this, store));
	return await withNodeState(this, async (data) => {
		data.threads ??= {};
		// Bounded by run's trimLinks (Memory Size), not by the memory's own limit.
		const memory = new ObjectThreadMemory(data.threads as Record<string, string>, Infinity);
		return await run.call(this, memory);
	});
}

async function run(this: IExecuteFunctions, store: LinkStore): Promise<INodeExecutionData[][]> {
	const mails = this.getInputData(0);
	const rows = this.getInputData(1).map((i) => i.json);
	const options = this.getNodeParameter('options', 0, {}) as LinkerOptions;
	let typeOrder;
	try {
		typeOrder = parseTypeOrder(options.typeOrder ?? 'Contact, Account, Lead');
	} catch (error) {
		throw toNodeError(this, error);
	}

	const parseOwnId = await ownMessageIdParser(this);
	const remember = options.rememberThreads !== false;
	// The links these mails can use, read in one go; new ones written in one go after linking.
	const memory = remember
		? await prefetchedMemory(
				store,
				mails.flatMap((m) => threadMessageIds(m.json)),
			)
		: null;
	const linkOptions: LinkOptions = {
		mode: this.getNodeParameter('mode', 0) === 'b2c' ? 'b2c' : 'b2b',
		typeOrder,
		parseOwnId,
		memory,
		ignore: ownAddressSet(options.ownAddresses ?? ''),
	};

	const { index, skipped } = indexRecords(
		rows,
		mapping(this),
		wanted(
			mails.map((m) => m.json),
			linkOptions,
		),
	);
	if (skipped.length)
		this.logger.warn(
			`Parent Linker: ${skipped.length} of ${rows.length} records skipped, e.g. record ${skipped[0].index + 1}: ${skipped[0].reason}`,
		);

	const linked: INodeExecutionData[] = [];
	const unknown: INodeExecutionData[] = [];
	const failed: INodeExecutionData[] = [];
	for (let i = 0; i < mails.length; i++) {
		const item = mails[i];
		const pairedItem = { item: i };
		try {
			const result = linkMail(item.json, index, linkOptions);
			if (!result.parent) {
				unknown.push({
					json: {
						...item.json,
						parent: null,
						unknownSender: result.unknownSender as unknown as IDataObject,
					},
					binary: item.binary,
					pairedItem,
				});
				continue;
			}
			const messageId =
				typeof item.json.messageId === 'string' ? normalizeMessageId(item.json.messageId) : null;
			if (memory && messageId)
				memory.set(messageId, {
					parentType: result.parent.type,
					parentId: result.parent.id,
					caseNumber: result.caseNumber,
				});
			linked.push({
				json: {
					...item.json,
					parent: { ...result.parent, caseNumber: result.caseNumber },
					account: result.account as unknown as IDataObject,
					contact: result.contact as unknown as IDataObject,
					lead: result.lead as unknown as IDataObject,
				},
				binary: item.binary,
				pairedItem,
			});
		} catch (error) {
			if (!this.continueOnFail()) throw toNodeError(this, error, i);
			failed.push(failedItem(this, item, i, error));
		}
	}
	if (memory) {
		await store.putLinks(memory.added);
		await store.trimLinks(Math.max(0, Number(options.memorySize ?? 50_000)));
	}
	return [linked, unknown, failed];
}
