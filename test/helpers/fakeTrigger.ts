/**
 * A fake n8n trigger context: parameters and credentials in, emitted items out. Like n8n, it
 * resolves an emit's done-promise once the "execution" has run; getNodeParameter throws on a
 * name the node does not declare, so description and code cannot drift apart.
 */
import type {
	IDataObject,
	INodeExecutionData,
	INodeTypeDescription,
	IRun,
	ITriggerFunctions,
} from 'n8n-workflow';

export interface FakeTriggerOptions {
	description: INodeTypeDescription;
	parameters: Record<string, unknown>;
	credentials: Record<string, unknown>;
	staticData?: IDataObject;
	mode?: 'trigger' | 'manual';
	/** Runs for each emitted execution before its done-promise resolves, with what it returns. */
	execution?: (items: INodeExecutionData[]) => Promise<IRun | void> | IRun | void;
}

export interface FakeTrigger {
	ctx: ITriggerFunctions;
	emitted: INodeExecutionData[][];
	failures: Error[];
	logs: string[];
	staticData: IDataObject;
}

export function fakeTrigger(o: FakeTriggerOptions): FakeTrigger {
	const declared = new Set(o.description.properties.map((p) => p.name));
	const staticData = o.staticData ?? {};
	const emitted: INodeExecutionData[][] = [];
	const failures: Error[] = [];
	const logs: string[] = [];
	const node = {
		id: 'n1',
		name: 'Trigger',
		type: o.description.name,
		typeVersion: 1,
		position: [0, 0],
		parameters: {},
	};
	const log = (level: string) => (message: string) => logs.push(`${level}: ${message}`);
	const ctx = {
		getNode: () => node,
		getMode: () => o.mode ?? 'trigger',
		getNodeParameter: (name: string, fallback?: unknown) => {
			if (!declared.has(name))
				throw new Error(`getNodeParameter("${name}") is not declared by the node`);
			return name in o.parameters ? o.parameters[name] : fallback;
		},
		getCredentials: async () => o.credentials,
		getWorkflowStaticData: () => staticData,
		emit: (
			data: INodeExecutionData[][],
			_response?: unknown,
			done?: { resolve: (r: IRun) => void },
		) => {
			emitted.push(data[0]);
			void (async () => {
				const run = await o.execution?.(data[0]);
				done?.resolve(run ?? ({} as IRun));
			})();
		},
		emitError: (e: Error) => failures.push(e),
		saveFailedExecution: (e: Error) => failures.push(e),
		logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
		helpers: {
			createDeferredPromise: <T>() => {
				let resolve!: (v: T) => void;
				let reject!: (e: Error) => void;
				const promise = new Promise<T>((res, rej) => {
					resolve = res;
					reject = rej;
				});
				return { promise, resolve, reject };
			},
			prepareBinaryData: async (data: Buffer, fileName?: string, mimeType?: string) => ({
				data: data.toString('base64'),
				fileName,
				mimeType: mimeType ?? 'application/octet-stream',
				fileSize: String(data.length),
			}),
		},
	};
	return { ctx: ctx as unknown as ITriggerFunctions, emitted, failures, logs, staticData };
}
