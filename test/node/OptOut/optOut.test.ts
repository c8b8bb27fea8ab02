/**
 * The CRM Email Opt-Out node with a fake n8n context: a link the Sender made is Done, forged or
 * junk ones Refused with a page; Add puts addresses on the named list (file store) once, and the
 * page confirms; per-item errors honour Continue On Fail.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IDataObject } from 'n8n-workflow';

import { fakeExecute, items } from '../../../harness/fakeExecute';
import { CrmEmailOptOut } from '../../../nodes/OptOut/CrmEmailOptOut.node.ts';
import { FileOptOutStore } from '../../../nodes/shared/state/optOutFile';
import { threadKey } from '../../../nodes/shared/threadId';
import { optOutToken } from '../../../nodes/TemplateSender/core/optOut';

const d = new CrmEmailOptOut().description;
const secret = 'a-long-random-signing-secret';
let dir: string;

before(() => {
	dir = mkdtempSync(join(tmpdir(), 'crm-email-optout-node-'));
	process.env.CRM_EMAIL_STATE_DIR = dir;
});
after(() => {
	delete process.env.CRM_EMAIL_STATE_DIR;
	rmSync(dir, { recursive: true, force: true });
});

async function run(
	parameters: Record<string, unknown>,
	input: IDataObject[],
	continueOnFail = false,
) {
	const f = fakeExecute({
		description: d,
		parameters,
		inputs: [items(...input)],
		credentials: { crmEmailSigningApi: { secret } },
		continueOnFail,
		mode: 'webhook',
	});
	return await new CrmEmailOptOut().execute.call(f.ctx);
}

const verify = {
	operation: 'verifyToken',
	email: (i: number) => input[i].query.email,
	token: (i: number) => input[i].query.token,
};
let input: Array<{ query: Record<string, string> }> = [];

describe('CRM Email Opt-Out: Verify Unsubscribe Token', () => {
	it('Done for a link the Sender signed; Refused, with a page, for forged, altered or missing tokens', async () => {
		const key = threadKey({ secret });
		const good = optOutToken(key, 'ann@c.example', 'news', Date.now());
		input = [
			{ query: { email: 'Ann@C.example', token: good } },
			{ query: { email: 'bob@c.example', token: good } },
			{ query: { email: 'ann@c.example', token: `${good.slice(0, -1)}x` } },
			{ query: { email: 'ann@c.example', token: '' } },
			{ query: { email: '<script>alert(1)</script>', token: 'junk' } },
		];
		const [done, refused, failed] = await run(verify, input);
		assert.equal(failed.length, 0);
		assert.deepEqual(
			done.map((x) => [
				x.pairedItem,
				(x.json.optOut as IDataObject).email,
				(x.json.optOut as IDataObject).list,
			]),
			[[{ item: 0 }, 'ann@c.example', 'news']],
		);
		assert.deepEqual(
			refused.map((x) => [x.pairedItem, (x.json.optOut as IDataObject).code]),
			[
				[{ item: 1 }, 'TOKEN_INVALID'],
				[{ item: 2 }, 'TOKEN_INVALID'],
				[{ item: 3 }, 'TOKEN_MISSING'],
				[{ item: 4 }, 'TOKEN_MALFORMED'],
			],
		);
		for (const r of refused) {
			const page = String((r.json.optOut as IDataObject).page);
			assert.match(page, /does not work/);
			assert.doesNotMatch(page, /<script/i);
		}
	});
});

describe('CRM Email Opt-Out: Add to Opt-Out List', () => {
	const add = {
		operation: 'add',
		email: (i: number) => (input[i] as unknown as { optOut: { email: string } }).optOut.email,
		list: 'news',
		stateStore: 'instance',
	};

	it('adds the addresses in one go, once; a second click is Done with added false; the page confirms', async () => {
		input = [
			{ optOut: { email: 'ann@c.example' } },
			{ optOut: { email: 'Bob@C.example' } },
			{ optOut: { email: 'not an address' } },
		] as never;
		const [done, refused] = await run(add, input as never);
		assert.deepEqual(
			done.map((x) => [(x.json.optOut as IDataObject).email, (x.json.optOut as IDataObject).added]),
			[
				['ann@c.example', true],
				['bob@c.example', true],
			],
		);
		assert.match(
			String((done[0].json.optOut as IDataObject).page),
			/ann@c\.example will get no more/,
		);
		assert.deepEqual(
			refused.map((x) => [x.pairedItem, (x.json.optOut as IDataObject).code]),
			[[{ item: 2 }, 'EMAIL_INVALID']],
		);
		input = [{ optOut: { email: 'ann@c.example' } }] as never;
		const [again] = await run(add, input as never);
		assert.equal((again[0].json.optOut as IDataObject).added, false);
		assert.deepEqual(
			await new FileOptOutStore(dir).optedOut('news', ['ann@c.example', 'bob@c.example']),
			new Set(['ann@c.example', 'bob@c.example']),
		);
	});

	it('a bad list name fails the item: the execution, or Failed with Continue On Fail', async () => {
		input = [{ optOut: { email: 'ann@c.example' } }] as never;
		await assert.rejects(run({ ...add, list: 'no such list!' }, input as never), /List Name/);
		const [done, , failed] = await run({ ...add, list: 'no such list!' }, input as never, true);
		assert.equal(done.length, 0);
		assert.equal((failed[0].json.error as IDataObject).code, 'CONFIG_INVALID');
		assert.deepEqual(failed[0].pairedItem, { item: 0 });
	});
});
