/**
 * Node state of production executions: a file per workflow and node, under a lock; never reset
 * behind the admin's back, written durably, a failed read or write an error naming the file.
 * Tests run as root, for whom chmod 000 stops nothing: read errors are made with a directory in
 * the file's place (EISDIR) and a symlink loop (ELOOP), a full disk with /dev/full (ENOSPC).
 */
import assert from 'node:assert/strict';
import fs, {
	existsSync,
	lstatSync,
	mkdirSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	rmSync,
	symlinkSync,
	unlinkSync,
	writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { NodeOperationError, type IDataObject } from 'n8n-workflow';

import { CrmEmailCaseRouter } from '../../../nodes/CaseRouter/CrmEmailCaseRouter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { withNodeState } from '../../../nodes/shared/nodeState';
import { fakeExecute, items } from '../../../harness/fakeExecute';

const dir = mkdtempSync(join(tmpdir(), 'crm-email-state-'));
before(() => {
	process.env.CRM_EMAIL_STATE_DIR = dir;
});
after(() => {
	delete process.env.CRM_EMAIL_STATE_DIR;
	rmSync(dir, { recursive: true, force: true });
});

const node = new CrmEmailCaseRouter();
function router(subjects: string[], workflowId = 'wfState', staticData: IDataObject = {}) {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'route',
			team: '',
			assignment: 'none',
			threadIds: 'ignore',
			options: {},
		},
		inputs: [items(...subjects.map((s) => ({ subject: s, from: { address: `${s}@c.example` } })))],
		mode: 'trigger',
		workflowId,
		staticData,
	});
	return { f, run: () => node.execute.call(f.ctx) };
}
const route = (subject: string, workflowId?: string, staticData?: IDataObject) =>
	router([subject], workflowId, staticData).run();
const numberOf = (out: Awaited<ReturnType<typeof route>>) =>
	(out[0][0].json.case as IDataObject).number;
const files = (workflowId: string) =>
	readdirSync(dir).filter((f) => f.startsWith(`${workflowId}-`));
const stateFileOf = (workflowId: string) =>
	join(dir, files(workflowId).find((f) => f.endsWith('.json')) as string);

describe('node state in production executions', () => {
	it('survives between executions in a file, not in static data', async () => {
		const staticData: IDataObject = {};
		const a = await route('a', 'wfState', staticData);
		const b = await route('b');
		assert.deepEqual([numberOf(a), numberOf(b)], [1, 2]);
		assert.deepEqual(staticData, {});
		assert.equal(files('wfState').filter((f) => f.endsWith('.json')).length, 1);
	});

	it('concurrent executions are serialized: no case number twice', async () => {
		const outs = await Promise.all(['c', 'd', 'e', 'f'].map((s) => route(s)));
		assert.deepEqual(outs.map(numberOf).sort(), [3, 4, 5, 6]);
	});

	it('state is saved even when the work fails', async () => {
		const f = fakeExecute({
			description: node.description,
			parameters: {},
			inputs: [[]],
			mode: 'trigger',
			workflowId: 'wfFail',
		});
		await assert.rejects(
			withNodeState(f.ctx, async (data) => {
				data.touched = true;
				throw new Error('boom');
			}),
			/boom/,
		);
		const seen = await withNodeState(f.ctx, async (data) => data.touched);
		assert.equal(seen, true);
	});
});

describe('a state file that cannot be read fails the execution and is left alone', () => {
	it('EISDIR: a directory where the file should be', async () => {
		await route('x', 'wfEisdir');
		const file = stateFileOf('wfEisdir');
		rmSync(file);
		mkdirSync(file);
		writeFileSync(join(file, 'keep'), 'admin data');
		const before = readdirSync(dir).sort();
		await assert.rejects(route('y', 'wfEisdir'), (error: Error) => {
			assert.ok(error instanceof NodeOperationError);
			assert.match(error.message, /^Cannot read the node state file /);
			assert.ok(error.message.includes(file));
			assert.match(error.message, /EISDIR/);
			return true;
		});
		// Nothing written: no temp file, nothing set aside, the directory as it was.
		assert.deepEqual(readdirSync(dir).sort(), before);
		assert.deepEqual(readdirSync(file), ['keep']);
		rmSync(file, { recursive: true });
	});

	it('ELOOP: a symlink loop stays a symlink loop', async () => {
		await route('x', 'wfEloop');
		const file = stateFileOf('wfEloop');
		unlinkSync(file);
		symlinkSync(file, file);
		await assert.rejects(route('y', 'wfEloop'), /Cannot read the node state file .*ELOOP/);
		assert.ok(lstatSync(file).isSymbolicLink());
		unlinkSync(file);
	});
});

describe('a damaged state file: set aside, and case numbers never handed out twice', () => {
	it('continues above the floor kept apart from the state, with a warning', async () => {
		const { run } = router(['a', 'b', 'c'], 'wfDamaged');
		const [created] = await run();
		assert.deepEqual(
			created.map((c) => (c.json.case as IDataObject).number),
			[1, 2, 3],
		);
		const file = stateFileOf('wfDamaged');
		writeFileSync(file, ''); // a file emptied by a crash, nothing to recover from its text
		const next = router(['d'], 'wfDamaged');
		const [again] = await next.run();
		const number = (again[0].json.case as IDataObject).number as number;
		assert.ok(number > 3, `case #${number} may have been handed out before`);
		assert.match(String(again[0].json.warning), /damaged .*set aside as .*continue above 100/);
		assert.ok(next.f.logs.some((l) => /^warn: .*damaged/.test(l)));
		assert.equal(files('wfDamaged').filter((f) => f.includes('.damaged-')).length, 1);
		// The execution after is quiet again.
		const [third] = await route('e', 'wfDamaged');
		assert.equal((third[0].json.case as IDataObject).number, number + 1);
		assert.equal(third[0].json.warning, undefined);
	});

	it('a damaged floor file, however large, still bounds the next number', async () => {
		await route('a', 'wfBigFloor');
		const floor = stateFileOf('wfBigFloor').replace(/\.json$/, '.floor');
		writeFileSync(floor, `${'x 7 '.repeat(300_000)}5000 y`);
		const [next] = await route('b', 'wfBigFloor');
		assert.ok(((next[0].json.case as IDataObject).number as number) > 5000);
	});

	it('without a floor (a file of an earlier version), recovers the highest number from the text', async () => {
		await route('a', 'wfRecover');
		const file = stateFileOf('wfRecover');
		for (const f of files('wfRecover')) rmSync(join(dir, f));
		// Cut in the middle of the threads, as a torn write leaves it.
		const state = JSON.stringify({
			counter: 56,
			cases: { '56': { number: 56, name: 'x', status: 'New' } },
			threads: { '<m57@c.example>': 57, '<m58@c.example>': 57 },
		});
		writeFileSync(file, state.slice(0, state.indexOf('<m58')));
		const [created] = await route('c', 'wfRecover');
		assert.equal((created[0].json.case as IDataObject).number, 58);
		assert.match(String(created[0].json.warning), /continue above 57/);
	});

	it('a deleted state file: numbering continues above the floor, with a warning', async () => {
		await route('a', 'wfDeleted');
		rmSync(stateFileOf('wfDeleted'));
		const [created] = await route('b', 'wfDeleted');
		assert.equal((created[0].json.case as IDataObject).number, 101);
		assert.match(
			String(created[0].json.warning),
			/missing or older .*; new case numbers continue above 100/,
		);
	});

	it('an older copy put back: numbering continues above the floor', async () => {
		const { run } = router(
			Array.from({ length: 99 }, (_, i) => `s${i}`),
			'wfRestore',
		);
		await run();
		const file = stateFileOf('wfRestore');
		const copy = readFileSync(file, 'utf8'); // counter 99, numbers up to 100 reserved
		await router(['s99', 's100'], 'wfRestore').run(); // #100, #101: the floor moves to 200
		writeFileSync(file, copy);
		const [created] = await route('t', 'wfRestore');
		assert.equal((created[0].json.case as IDataObject).number, 201);
		assert.match(String(created[0].json.warning), /older than its floor file/);
	});
});

describe('writes', () => {
	it('temp file, fsync, rename, fsync of the folder', async () => {
		const f = fakeExecute({
			description: node.description,
			parameters: {},
			inputs: [[]],
			mode: 'trigger',
			workflowId: 'wfDurable',
		});
		const log: string[] = [];
		for (const name of ['openSync', 'fsyncSync', 'renameSync'] as const) {
			const original = fs[name] as (...a: unknown[]) => unknown;
			mock.method(fs, name, (...args: unknown[]) => {
				const out = original(...args);
				log.push(name === 'openSync' ? `open ${String(args[0]).split('/').pop()}` : name);
				return out;
			});
		}
		try {
			await withNodeState(f.ctx, async (data) => {
				data.a = 1;
			});
		} finally {
			mock.restoreAll();
		}
		const file = stateFileOf('wfDurable');
		const name = file.split('/').pop() as string;
		assert.deepEqual(log, [
			`open ${name}.${process.pid}.tmp`,
			'fsyncSync',
			'renameSync',
			`open ${dir.split('/').pop()}`,
			'fsyncSync',
		]);
		assert.equal(readFileSync(file, 'utf8'), '{"a":1}');
	});

	it('a full disk (ENOSPC) is an error naming the file; the old state stays', async () => {
		const f = fakeExecute({
			description: node.description,
			parameters: {},
			inputs: [[]],
			mode: 'trigger',
			workflowId: 'wfFull',
		});
		await withNodeState(f.ctx, async (data) => {
			data.n = 1;
		});
		const file = stateFileOf('wfFull');
		const tmp = `${file}.${process.pid}.tmp`;
		symlinkSync('/dev/full', tmp);
		try {
			await assert.rejects(
				withNodeState(f.ctx, async (data) => {
					data.n = 2;
				}),
				(error: Error) => {
					assert.ok(error instanceof NodeOperationError);
					assert.ok(error.message.includes(`Cannot save the node state file ${file}: ENOSPC`));
					return true;
				},
			);
			assert.equal(existsSync(tmp), false, 'the temp file is cleaned up');
		} finally {
			rmSync(tmp, { force: true });
		}
		assert.equal(readFileSync(file, 'utf8'), '{"n":1}');

		// Space freed: the next execution continues from the unsaved state, not from the older file.
		assert.equal(await withNodeState(f.ctx, async (data) => data.n), 2);
		assert.equal(readFileSync(file, 'utf8'), '{"n":2}');
	});

	it('after a failed save, a file an admin changed meanwhile wins, with a warning', async () => {
		const f = fakeExecute({
			description: node.description,
			parameters: {},
			inputs: [[]],
			mode: 'trigger',
			workflowId: 'wfRestored',
		});
		await withNodeState(f.ctx, async (data) => {
			data.n = 1;
		});
		const file = stateFileOf('wfRestored');
		const tmp = `${file}.${process.pid}.tmp`;
		symlinkSync('/dev/full', tmp);
		await assert.rejects(
			withNodeState(f.ctx, async (data) => {
				data.n = 2;
			}),
			/ENOSPC/,
		);
		rmSync(tmp, { force: true });
		writeFileSync(file, '{"n":70}');
		assert.equal(await withNodeState(f.ctx, async (data) => data.n), 70);
		assert.ok(f.logs.some((l) => /^warn: .*changed after a save had failed/.test(l)));
	});
});
