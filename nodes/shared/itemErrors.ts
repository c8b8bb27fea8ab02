/**
 * The one per-item error contract of this package's nodes (n8n glue).
 *
 * - A failure the node cannot pass on (Continue On Fail off) fails the execution with
 *   `toNodeError`: the message names what to change, the description reads `Error code: X`.
 * - With Continue On Fail on, the item goes to the node's **Failed** output as `failedItem`:
 *   the input item, plus `error: {code, message, …details}`, its binary data and its pairedItem.
 *   The item also carries n8n's `error`, so with *On Error: Continue (using error output)* n8n
 *   moves it to its own Error output instead. A mail that failed a node is never on a success
 *   output.
 */
import {
	type IDataObject,
	type IExecuteFunctions,
	type INode,
	type INodeExecutionData,
	type ITriggerFunctions,
	NodeError,
	NodeOperationError,
} from 'n8n-workflow';

import { isCrmEmailError } from './errors';

type Context = Pick<IExecuteFunctions | ITriggerFunctions, 'getNode'>;

/** `Error code: X` for a typed error, joined with an optional hint; undefined when neither. */
export function errorDescription(error: unknown, hint?: string): string | undefined {
	const code = isCrmEmailError(error) ? `Error code: ${error.code}` : undefined;
	return [code, hint].filter(Boolean).join('. ') || undefined;
}

/** The error as an n8n NodeOperationError naming the item; an n8n error passes unchanged. */
export function toNodeError(
	ctx: Context,
	error: unknown,
	itemIndex?: number,
	hint?: string,
): NodeError {
	if (error instanceof NodeError) return error;
	const message = error instanceof Error ? error.message : String(error);
	const nodeError = new NodeOperationError(ctx.getNode() as INode, message, {
		itemIndex,
		description: errorDescription(error, hint),
	});
	// n8n swaps a message containing an OS error code (EISDIR, EACCES…) for a generic sentence
	// that names no file: keep ours, which names the file and the code.
	nodeError.message = message;
	// The typed error stays reachable, so an item failed by a wrapped error still gets its code.
	if (isCrmEmailError(error)) Object.defineProperty(nodeError, 'cause', { value: error });
	return nodeError;
}

/** The `error` field of a failed item: code, message and the typed error's details. */
export function errorJson(error: unknown): IDataObject {
	if (isCrmEmailError(error))
		return { code: error.code, message: error.message, ...error.details } as IDataObject;
	if (error instanceof NodeError && isCrmEmailError(error.cause)) return errorJson(error.cause);
	if (error instanceof NodeError)
		return { code: 'NODE_ERROR', message: error.message, description: error.description ?? null };
	return { code: 'UNEXPECTED', message: error instanceof Error ? error.message : String(error) };
}

/** The item for the Failed output: the input item, its binary and pairedItem, and the error. */
export function failedItem(
	ctx: Context,
	input: INodeExecutionData,
	itemIndex: number,
	error: unknown,
): INodeExecutionData {
	return {
		json: { ...input.json, error: errorJson(error) },
		...(input.binary ? { binary: input.binary } : {}),
		pairedItem: { item: itemIndex },
		error: toNodeError(ctx, error, itemIndex) as NodeOperationError,
	};
}
