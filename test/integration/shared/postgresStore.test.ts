/**
 * The PostgreSQL store on a real server (a throwaway cluster): the StateStore contract, the
 * versioned migrations, schema and table prefix, state kept across pools (another process), and
 * an unreachable server as a clear error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';

import { CrmEmailError } from '../../../nodes/shared/errors';
import {
	closePostgresPools,
	PostgresStateStore,
	type PostgresSettings,
} from '../../../nodes/shared/state/postgres';
import { Postgres } from '../../../harness/postgres';
import { freePort } from '../../../harness/dovecot';
import { stateStoreContract } from '../../helpers/stateContract';

const server = new Postgres();
let settings: PostgresSettings;
let n = 0;

before(async () => {
	await server.start();
	settings = { ...server.connection(), ssl: 'disable', schema: 'crm_email', tablePrefix: '' };
});

after(async () => {
	await closePostgresPools();
	await server.destroy();
});

async function sql(text: string, params: unknown[] = []) {
	const c = new Client(server.connection());
	await c.connect();
	try {
		return (await c.query(text, params)).rows;
	} finally {
		await c.end();
	}
}

describe('PostgreSQL store: the StateStore contract', () => {
	stateStoreContract(() => new PostgresStateStore(settings, `wf:node-${++n}`));
});

describe('PostgreSQL store: tables', () => {
	it('are created on first use in their schema, at the current version, once', async () => {
		await new PostgresStateStore(settings, 'wf:m').nextNumber();
		const versions = await sql('SELECT version FROM crm_email.migrations');
		assert.deepEqual(versions, [{ version: 1 }, { version: 2 }]);
		const tables = await sql(
			"SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm_email' ORDER BY 1",
		);
		assert.deepEqual(
			tables.map((t) => t.table_name),
			[
				'cases',
				'counters',
				'links',
				'marks',
				'migrations',
				'opt_out',
				'replies',
				'round_robin',
				'routed',
				'threads',
			],
		);
	});

	it('a table prefix in the public schema keeps its own state; nodes apart', async () => {
		const prefixed = { ...settings, schema: 'public', tablePrefix: 'crm_email_' };
		const a = new PostgresStateStore(prefixed, 'wf:p');
		assert.equal(await a.nextNumber(), 1);
		assert.equal(await a.nextNumber(), 2);
		assert.equal(await new PostgresStateStore(prefixed, 'wf:other').nextNumber(), 1);
		assert.equal(await new PostgresStateStore(settings, 'wf:p').nextNumber(), 1);
		const rows = await sql('SELECT value FROM public.crm_email_counters WHERE node = $1', ['wf:p']);
		assert.deepEqual(rows, [{ value: '2' }]);
	});

	it('state outlives the pool (another process, a restarted worker)', async () => {
		const s = new PostgresStateStore(settings, 'wf:keep');
		await s.linkMessage('<k@x>', 4);
		await closePostgresPools();
		assert.equal(await new PostgresStateStore(settings, 'wf:keep').caseForMessage('<k@x>'), 4);
	});

	it('tables of a newer version are refused, not written', async () => {
		const s = { ...settings, schema: 'newer' };
		await sql('CREATE SCHEMA newer');
		await sql('CREATE TABLE newer.migrations (version int PRIMARY KEY, applied_at timestamptz)');
		await sql('INSERT INTO newer.migrations VALUES (3, now())');
		await assert.rejects(new PostgresStateStore(s, 'wf:n').nextNumber(), (e: CrmEmailError) => {
			assert.equal(e.code, 'STATE_READ_FAILED');
			assert.match(e.message, /version 3, newer than this package knows \(2\)/);
			return true;
		});
	});

	it('a schema or prefix that is no plain SQL name is refused before any query', () => {
		assert.throws(
			() => new PostgresStateStore({ ...settings, schema: 'x"; DROP TABLE y; --' }, 'wf:x'),
			(e: CrmEmailError) => e.code === 'CONFIG_INVALID' && /Schema/.test(e.message),
		);
		assert.throws(
			() => new PostgresStateStore({ ...settings, tablePrefix: 'a-b' }, 'wf:x'),
			(e: CrmEmailError) => e.code === 'CONFIG_INVALID' && /Table Prefix/.test(e.message),
		);
	});

	it('an unreachable server or a wrong password: an error naming the server, no secret', async () => {
		const down = { ...settings, port: await freePort() };
		await assert.rejects(new PostgresStateStore(down, 'wf:d').nextNumber(), (e: CrmEmailError) => {
			assert.equal(e.code, 'STATE_READ_FAILED');
			assert.match(
				e.message,
				new RegExp(`PostgreSQL state store 127\\.0\\.0\\.1:${down.port}/postgres.*ECONNREFUSED`),
			);
			return true;
		});
		const wrong = { ...settings, password: 'not-the-password' };
		await assert.rejects(new PostgresStateStore(wrong, 'wf:d').nextNumber(), (e: Error) => {
			assert.match(e.message, /password authentication failed/);
			assert.doesNotMatch(e.message, /not-the-password/);
			return true;
		});
	});
});
