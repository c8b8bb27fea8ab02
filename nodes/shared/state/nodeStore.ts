/**
 * n8n glue of the state stores: the State Store parameter, the PostgreSQL credential's settings,
 * its credential test, and the store of the executing node.
 */
import type {
	ICredentialDataDecryptedObject,
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	IExecuteFunctions,
	INodeCredentialDescription,
	INodeCredentialTestResult,
	INodeProperties,
} from 'n8n-workflow';

import { toNodeError } from '../itemErrors';
import { nodeKey, stateDirectory } from '../nodeState';
import { FileOptOutStore } from './optOutFile';
import { PostgresStateStore, type PostgresSettings } from './postgres';
import type { OptOutStore } from './types';

export const POSTGRES_CREDENTIAL = 'crmEmailPostgresApi';

export type StateStoreKind = 'instance' | 'postgres';

/** The node's PostgreSQL credential, asked for when the State Store is PostgreSQL. */
export const postgresCredential: INodeCredentialDescription = {
	name: POSTGRES_CREDENTIAL,
	required: true,
	testedBy: 'crmEmailPostgresTest',
	displayOptions: { show: { stateStore: ['postgres'] } },
};

export const stateStoreProperty: INodeProperties = {
	displayName: 'State Store',
	name: 'stateStore',
	type: 'options',
	noDataExpression: true,
	default: 'instance',
	options: [
		{
			name: 'This Instance',
			value: 'instance',
			description:
				"A file per node in n8n's user folder: no set-up; right for one n8n process (not for queue mode's workers)",
		},
		{
			name: 'PostgreSQL',
			value: 'postgres',
			description:
				"Shared by every n8n process: needed in queue mode (several workers or mains); n8n's own database will do",
		},
	],
	description: 'Where this node keeps what it remembers between executions',
};

export function postgresSettings(c: ICredentialDataDecryptedObject): PostgresSettings {
	const ssl = String(c.ssl ?? 'disable');
	return {
		host: String(c.host ?? 'localhost'),
		port: Number(c.port) || 5432,
		database: String(c.database ?? ''),
		user: String(c.user ?? ''),
		password: String(c.password ?? ''),
		ssl: ssl === 'require' || ssl === 'verify' ? ssl : 'disable',
		schema: String(c.schema ?? '').trim() || 'crm_email',
		tablePrefix: String(c.tablePrefix ?? '').trim(),
	};
}

export function stateStoreKind(ctx: IExecuteFunctions): StateStoreKind {
	return ctx.getNodeParameter('stateStore', 0, 'instance') === 'postgres' ? 'postgres' : 'instance';
}

/**
 * Runs `fn` with the executing node's PostgreSQL store (its credential's database, rows of this
 * workflow and node). A store failure outside the items' own handling fails the execution.
 */
export async function withPostgresStore<T>(
	ctx: IExecuteFunctions,
	fn: (store: PostgresStateStore) => Promise<T>,
): Promise<T> {
	try {
		const settings = postgresSettings(await ctx.getCredentials(POSTGRES_CREDENTIAL));
		const node = `${ctx.getWorkflow().id ?? 'unsaved'}:${nodeKey(ctx)}`;
		return await fn(new PostgresStateStore(settings, node));
	} catch (error) {
		throw toNodeError(ctx, error);
	}
}

/**
 * Runs `fn` with the named opt-out lists of the node's State Store: files in the state folder
 * (This Instance, also in manual executions: the lists are not the node's) or the PostgreSQL
 * table. A store failure fails the execution.
 */
export async function withOptOutStore<T>(
	ctx: IExecuteFunctions,
	fn: (store: OptOutStore) => Promise<T>,
): Promise<T> {
	if (stateStoreKind(ctx) === 'postgres') return await withPostgresStore(ctx, fn);
	try {
		return await fn(new FileOptOutStore(stateDirectory()));
	} catch (error) {
		throw toNodeError(ctx, error);
	}
}

/** Connects, and creates or migrates the tables: what the nodes will do on first use. */
export async function crmEmailPostgresTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	try {
		const store = new PostgresStateStore(
			postgresSettings(credential.data ?? {}),
			'credential-test',
		);
		await store.routedMail('<credential-test>');
		return { status: 'OK', message: 'Connected; the state tables are ready' };
	} catch (error) {
		return { status: 'Error', message: (error as Error).message };
	}
}
