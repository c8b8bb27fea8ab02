/**
 * Named opt-out lists in both State Stores: the file of its own in the state folder and the
 * PostgreSQL table (a throwaway cluster). Add and check several addresses in one call, case as
 * written, lists apart, concurrent adds all kept, the list shared by every workflow and node,
 * kept across processes, a damaged file an error (never an empty list).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';

import { isCrmEmailError } from '../../../nodes/shared/errors';
import { FileOptOutStore } from '../../../nodes/shared/state/optOutFile';
import {
	closePostgresPools,
	PostgresStateStore,
	type PostgresSettings,
} from '../../../nodes/shared/state/postgres';
import type { OptOutStore } from '../../../nodes/shared/state/types';
import { Postgres } from '../../../harness/postgres';

const server = new Postgres();
let settings: PostgresSettings;
const dir = mkdtempSync(join(tmpdir(), 'crm-email-optout-'));

before(async () => {
	await server.start();
	settings = { ...server.connection(), ssl: 'disable', schema: 'crm_email', tablePrefix: '' };
});

after(async () => {
	await closePostgresPools();
	await server.destroy();
	rmSync(dir, { recursive: true, force: true });
});

let n = 0;

async function sql(text: string) {
	const c = new Client(server.connection());
	await c.connect();
	try {
		return (await c.query(text)).rows;
	} finally {
		await c.end();
	}
}

function contract(name: string, make: (node: string) => OptOutStore) {
	describe(`${name}: opt-out lists`, () => {
		it('adds several addresses at once, says which were new, checks several at once', async () => {
			const list = `news${++n}`;
			const s = make('wf1:sender');
			assert.deepEqual(await s.optedOut(list, ['a@x.example']), new Set());
			const added = await s.addOptOuts(list, ['A@X.example', 'b@y.example', 'a@x.example'], 1);
			assert.deepEqual(added.sort(), ['a@x.example', 'b@y.example']);
			assert.deepEqual(await s.addOptOuts(list, ['b@Y.example', 'c@z.example'], 2), [
				'c@z.example',
			]);
			assert.deepEqual(
				await s.optedOut(list, ['A@x.example', 'd@w.example', 'c@z.example']),
				new Set(['a@x.example', 'c@z.example']),
			);
			assert.deepEqual(await s.addOptOuts(list, [], 3), []);
			assert.deepEqual(await s.optedOut(list, []), new Set());
		});

		it('a list is shared by every workflow and node; lists are apart', async () => {
			const list = `shared${++n}`;
			await make('unsubscribe-workflow:opt-out').addOptOuts(list, ['gone@x.example'], 1);
			assert.deepEqual(
				await make('bulk-workflow:sender').optedOut(list, ['gone@x.example']),
				new Set(['gone@x.example']),
			);
			assert.deepEqual(await make('x:y').optedOut(`other${n}`, ['gone@x.example']), new Set());
		});

		it('concurrent adds (both clicks of one link, many recipients at once) are all kept, each new once', async () => {
			const list = `burst${++n}`;
			const addresses = Array.from({ length: 40 }, (_, i) => `u${i}@burst.example`);
			const results = await Promise.all(
				[...addresses, ...addresses].map((a, i) => make(`wf${i % 3}:n`).addOptOuts(list, [a], i)),
			);
			assert.deepEqual(results.flat().sort(), [...addresses].sort(), 'each address new once');
			assert.deepEqual(await make('z:z').optedOut(list, addresses), new Set(addresses));
		});
	});
}

contract('This Instance (file)', () => new FileOptOutStore(dir));
contract('PostgreSQL', (node) => new PostgresStateStore(settings, node));

describe('opt-out list files', () => {
	it('one file per list in the state folder, written whole; kept for the next process', async () => {
		await new FileOptOutStore(dir).addOptOuts('kept', ['k@x.example'], 5);
		const data = JSON.parse(readFileSync(join(dir, 'opt-out-kept.json'), 'utf8'));
		assert.deepEqual(data, { list: 'kept', addresses: { 'k@x.example': 5 } });
		assert.deepEqual(
			await new FileOptOutStore(dir).optedOut('kept', ['k@x.example']),
			new Set(['k@x.example']),
		);
	});

	it('a damaged file is an error naming it, for checks and adds, and is left as it was', async () => {
		const file = join(dir, 'opt-out-broken.json');
		writeFileSync(file, '{"addresses": [');
		const s = new FileOptOutStore(dir);
		for (const call of [
			() => s.optedOut('broken', ['a@x']),
			() => s.addOptOuts('broken', ['a@x'], 1),
		])
			await assert.rejects(call(), (e) => {
				assert.ok(isCrmEmailError(e) && e.code === 'STATE_READ_FAILED');
				assert.match(e.message, /opt-out-broken\.json is damaged/);
				return true;
			});
		assert.equal(readFileSync(file, 'utf8'), '{"addresses": [');
	});

	it('the PostgreSQL list survives the pool (another process)', async () => {
		await new PostgresStateStore(settings, 'a:b').addOptOuts('pg-kept', ['p@x.example'], 1);
		await closePostgresPools();
		assert.deepEqual(
			await new PostgresStateStore(settings, 'c:d').optedOut('pg-kept', ['p@x.example']),
			new Set(['p@x.example']),
		);
	});

	it('a PostgreSQL database of version 1 gains the table (version 2), its state kept', async () => {
		const old = { ...settings, schema: 'upgrade' };
		await new PostgresStateStore(old, 'wf:u').linkMessage('<u@x>', 7);
		// As a database the previous release left: no opt_out table, version 1.
		await sql('DROP TABLE upgrade.opt_out');
		await sql('DELETE FROM upgrade.migrations WHERE version = 2');
		await closePostgresPools();
		assert.deepEqual(await new PostgresStateStore(old, 'x:y').addOptOuts('l', ['a@x.example'], 1), [
			'a@x.example',
		]);
		assert.equal(await new PostgresStateStore(old, 'wf:u').caseForMessage('<u@x>'), 7);
		const versions = await sql('SELECT version FROM upgrade.migrations ORDER BY 1');
		assert.deepEqual(versions, [{ version: 1 }, { version: 2 }]);
	});
});
