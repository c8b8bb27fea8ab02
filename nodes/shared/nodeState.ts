/**
 * Where the Parent Linker, Case Router and Template Sender keep what they remember between
 * executions. n8n's workflow static data is not safe for it: in n8n 2.41 every `emit` of a trigger
 * that keeps its own static data (ours keeps its watermark there) writes the trigger's in-memory
 * copy of the whole blob back, overwriting what execute nodes saved since activation — the Case
 * Router's counter went back and case numbers were reused (seen in the real-n8n test).
 *
 * So production executions keep node state in a JSON file per workflow and node, in n8n's user
 * folder, read and written under an in-process lock: executions of one n8n process are serialized
 * per node (better than static data's last-writer-wins): the "This Instance" state store. Several
 * processes (queue mode's workers) need the PostgreSQL store (see state/). Manual executions use
 * static data, which n8n does not keep for them anyway.
 *
 * State is never reset behind the admin's back: a file that cannot be read fails the execution and
 * is left alone; only a file that reads but is not a JSON object counts as damaged (set aside, with
 * a warning). Writes are durable (temp file, fsync, rename, fsync of the folder); a failed write
 * is an error naming the file.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { toNodeError } from './itemErrors';
import { floorFile, loadStateFile, writeStateFile, type DamagedState } from './stateFile';

const locks = new Map<string, Promise<unknown>>();

/**
 * State of an execution whose save failed: newer than the file, which holds the last state saved.
 * The next execution in this process continues from it (going back to the file would undo what
 * that execution did, e.g. forget mails it sent) — unless the file changed meanwhile (an admin
 * restored it): then the file wins.
 */
const unsaved = new Map<string, { data: IDataObject; signature: string | null }>();

function signature(file: string): string | null {
	try {
		const s = statSync(file);
		return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'none' : null;
	}
}

export function stateDirectory(): string {
	return (
		process.env.CRM_EMAIL_STATE_DIR ??
		join(process.env.N8N_USER_FOLDER ?? homedir(), '.n8n', 'crm-email-state')
	);
}

/** Names a node's state in any store: its id (kept when the node is renamed), hashed. */
export function nodeKey(ctx: IExecuteFunctions): string {
	const node = ctx.getNode();
	return createHash('sha256')
		.update(node.id || node.name)
		.digest('hex')
		.slice(0, 16);
}

function stateFile(ctx: IExecuteFunctions): string {
	const workflow = ctx.getWorkflow().id ?? 'unsaved';
	return join(stateDirectory(), `${String(workflow).replace(/[^\w-]/g, '_')}-${nodeKey(ctx)}.json`);
}

/**
 * What a node may do with its state beyond reading and changing `data`, which is saved after the
 * node's work in any case.
 */
export interface NodeStateHandle {
	/** Set when the file was damaged: the node starts from empty `data`. */
	readonly damaged: DamagedState | null;
	/** Saves `data` now, durably — before an irreversible step such as sending mail. */
	save(): void;
	/**
	 * A number kept in a small file of its own, so that it survives damage of the state file (the
	 * Case Router's highest case number that may have been handed out): `read` it, `raise` it
	 * (durably; never lowered). Null in manual executions.
	 */
	readonly floor: { read(): number; raise(value: number): void } | null;
}

const manualHandle: NodeStateHandle = {
	damaged: null,
	save: () => undefined,
	floor: null,
};

/**
 * Runs `fn` with this node's state; saves it afterwards, also when `fn` throws. A state file that
 * cannot be read, or a save that fails, fails the execution with a NodeOperationError naming the
 * file and the OS error.
 */
export async function withNodeState<T>(
	ctx: IExecuteFunctions,
	fn: (data: IDataObject, state: NodeStateHandle) => Promise<T>,
): Promise<T> {
	if (ctx.getMode() === 'manual') return await fn(ctx.getWorkflowStaticData('node'), manualHandle);
	const file = stateFile(ctx);
	const warn = (message: string) => ctx.logger.warn(message);
	const previous = locks.get(file) ?? Promise.resolve();
	const guard =
		<A extends unknown[], R>(f: (...args: A) => R) =>
		(...args: A): R => {
			try {
				return f(...args);
			} catch (error) {
				throw toNodeError(ctx, error);
			}
		};
	const run = previous.then(async () => {
		const kept = unsaved.get(file);
		unsaved.delete(file);
		const resume = kept && signature(file) === kept.signature ? kept : null;
		if (kept && !resume)
			warn(
				`Node state file ${file} changed after a save had failed: continuing from the file, without the unsaved changes`,
			);
		const loaded = resume
			? { data: resume.data, damaged: null, text: null }
			: guard(loadStateFile)(file, warn);
		const data = loaded.data as IDataObject;
		const { damaged } = loaded;
		const floors = floorFile(file, warn);
		let savedText = loaded.text;
		const save = () => {
			const next = JSON.stringify(data);
			if (next === savedText) return;
			// Until it is written, this execution's state is newer than the file: kept for the next.
			unsaved.set(file, { data, signature: signature(file) });
			writeStateFile(file, next);
			unsaved.delete(file);
			savedText = next;
		};
		const handle: NodeStateHandle = {
			damaged,
			save: guard(save),
			floor: { read: guard(floors.read), raise: guard(floors.raise) },
		};
		let result: T;
		try {
			result = await fn(data, handle);
		} catch (error) {
			try {
				save();
			} catch (saveError) {
				// Not saved is the graver news; the node's own failure goes along in the description.
				throw toNodeError(
					ctx,
					saveError,
					undefined,
					`The node had also failed: ${(error as Error).message}`,
				);
			}
			throw toNodeError(ctx, error);
		}
		handle.save();
		return result;
	});
	const tail = run.catch(() => undefined);
	locks.set(file, tail);
	void tail.then(() => {
		if (locks.get(file) === tail) locks.delete(file);
	});
	return await run;
}
