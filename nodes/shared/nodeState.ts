/**
 * Where the Parent Linker, Case Router and Template Sender keep what they remember between
 * executions. n8n's workflow static data is not safe for it: in n8n 2.41 every `emit` of a trigger
 * that keeps its own static data (ours keeps its watermark there) writes the trigger's in-memory
 * copy of the whole blob back, overwriting what execute nodes saved since activation — the Case
 * Router's counter went back and case numbers were reused (seen in the real-n8n test).
 *
 * So production executions keep node state in a JSON file per workflow and node, in n8n's user
 * folder, read and written under an in-process lock: executions of one n8n process are serialized
 * per node (better than static data's last-writer-wins). Queue mode with several workers would need
 * a shared store (see the Case Router's CaseStore). Manual executions use static data, which n8n
 * does not keep for them anyway.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

const locks = new Map<string, Promise<unknown>>();

export function stateDirectory(): string {
	return (
		process.env.CRM_EMAIL_STATE_DIR ??
		join(process.env.N8N_USER_FOLDER ?? homedir(), '.n8n', 'crm-email-state')
	);
}

function stateFile(ctx: IExecuteFunctions): string {
	const workflow = ctx.getWorkflow().id ?? 'unsaved';
	const node = ctx.getNode();
	const key = createHash('sha256')
		.update(node.id || node.name)
		.digest('hex')
		.slice(0, 16);
	return join(stateDirectory(), `${String(workflow).replace(/[^\w-]/g, '_')}-${key}.json`);
}

function load(file: string): IDataObject {
	let text: string;
	try {
		text = readFileSync(file, 'utf8');
	} catch {
		return {};
	}
	try {
		const data = JSON.parse(text) as unknown;
		return data && typeof data === 'object' && !Array.isArray(data) ? (data as IDataObject) : {};
	} catch {
		// Keep the damaged file for inspection; start afresh rather than stop the workflow.
		renameSync(file, `${file}.damaged-${Date.now()}`);
		return {};
	}
}

function save(file: string, data: IDataObject): void {
	mkdirSync(join(file, '..'), { recursive: true });
	const tmp = `${file}.${process.pid}.tmp`;
	writeFileSync(tmp, JSON.stringify(data));
	renameSync(tmp, file);
}

/** Runs `fn` with this node's state; saves it afterwards, also when `fn` throws. */
export async function withNodeState<T>(
	ctx: IExecuteFunctions,
	fn: (data: IDataObject) => Promise<T>,
): Promise<T> {
	if (ctx.getMode() === 'manual') return await fn(ctx.getWorkflowStaticData('node'));
	const file = stateFile(ctx);
	const previous = locks.get(file) ?? Promise.resolve();
	const run = previous.then(async () => {
		const data = load(file);
		try {
			return await fn(data);
		} finally {
			save(file, data);
		}
	});
	const tail = run.catch(() => undefined);
	locks.set(file, tail);
	void tail.then(() => {
		if (locks.get(file) === tail) locks.delete(file);
	});
	return await run;
}
