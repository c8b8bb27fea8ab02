/**
 * A fake n8n execute context: input items, parameters and credentials in. getNodeParameter
 * throws on a name the node does not declare (top level), so description and code cannot drift
 * apart; parameters given as functions are evaluated per item, like n8n expressions, and
 * `expression(text, value)` gives one with its text too, for `rawExpressions`.
 */
import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeTypeDescription,
} from 'n8n-workflow';

/** An n8n expression parameter: its text as stored (`={{ … }}`) and its value per item. */
export class Expression {
	constructor(
		readonly text: string,
		readonly value: (itemIndex: number) => unknown,
	) {}
}

export function expression(text: string, value: (itemIndex: number) => unknown): Expression {
	return new Expression(text, value);
}

export interface FakeExecuteOptions {
	description: INodeTypeDescription;
	parameters: Record<string, unknown>;
	/** Items per input (index 0 = first input). */
	inputs: INodeExecutionData[][];
	credentials?: Record<string, Record<string, unknown>>;
	continueOnFail?: boolean;
	staticData?: IDataObject;
	/** 'manual' (default) or a production mode such as 'trigger'. */
	mode?: string;
	workflowId?: string;
}

export interface FakeExecute {
	ctx: IExecuteFunctions;
	staticData: IDataObject;
	logs: string[];
	credentialsAsked: string[];
}

export function items(...json: IDataObject[]): INodeExecutionData[] {
	return json.map((j) => ({ json: j }));
}

export function fakeExecute(o: FakeExecuteOptions): FakeExecute {
	const declared = new Set(o.description.properties.map((p) => p.name));
	const staticData = o.staticData ?? {};
	const logs: string[] = [];
	const credentialsAsked: string[] = [];
	const node = {
		id: 'n1',
		name: o.description.defaults.name ?? 'Node',
		type: o.description.name,
		typeVersion: 1,
		position: [0, 0],
		parameters: {},
		// As n8n: the credentials chosen on the node, by type.
		credentials: Object.fromEntries(
			Object.keys(o.credentials ?? {}).map((type) => [type, { id: type, name: type }]),
		),
	};
	const log = (level: string) => (message: string) => logs.push(`${level}: ${message}`);
	const ctx = {
		getNode: () => node,
		getMode: () => o.mode ?? 'manual',
		getWorkflow: () => ({
			id: o.workflowId ?? 'wf1',
			name: 'Workflow',
			active: o.mode !== undefined,
		}),
		getInputData: (input = 0) => o.inputs[input] ?? [],
		getNodeParameter: (
			name: string,
			itemIndex: number,
			fallback?: unknown,
			options?: { rawExpressions?: boolean },
		) => {
			if (!declared.has(name))
				throw new Error(`getNodeParameter("${name}") is not declared by the node`);
			const value = name in o.parameters ? o.parameters[name] : fallback;
			// As n8n: rawExpressions gives the stored text, `=` first for an expression.
			if (value instanceof Expression)
				return options?.rawExpressions ? value.text : value.value(itemIndex);
			if (typeof value === 'function')
				return options?.rawExpressions ? '={{ … }}' : (value as (i: number) => unknown)(itemIndex);
			return value;
		},
		getCredentials: async (name: string) => {
			credentialsAsked.push(name);
			const c = o.credentials?.[name];
			if (!c) throw new Error(`Node does not have credentials of type "${name}"`);
			return c;
		},
		continueOnFail: () => o.continueOnFail === true,
		getWorkflowStaticData: () => staticData,
		logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
		helpers: {
			getBinaryDataBuffer: async (itemIndex: number, property: string) => {
				const b = o.inputs[0][itemIndex]?.binary?.[property];
				if (!b) throw new Error(`No binary property "${property}" on item ${itemIndex}`);
				return Buffer.from(b.data, 'base64');
			},
			assertBinaryData: (itemIndex: number, property: string) => {
				const b = o.inputs[0][itemIndex]?.binary?.[property];
				if (!b) throw new Error(`No binary property "${property}" on item ${itemIndex}`);
				return b;
			},
		},
	};
	return { ctx: ctx as unknown as IExecuteFunctions, staticData, logs, credentialsAsked };
}
