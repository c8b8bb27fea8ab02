/**
 * The Template Sender on the PostgreSQL store, through its n8n glue, against a real SMTP server
 * on loopback: a Retry (or another worker's rerun) of the same incoming mails sends none of them
 * again; a mail a crashed worker was sending is not sent again; the rate limit is shared.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Client } from 'pg';
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { closePostgresPools } from '../../../nodes/shared/state/postgres';
import { fakeExecute } from '../../../harness/fakeExecute';
import { Postgres } from '../../../harness/postgres';
import { SmtpSink, signingCredential } from '../../../harness/smtp';

const server = new Postgres();
const node = new CrmEmailTemplateSender();
let sink: SmtpSink;
let credential: Record<string, unknown>;

before(async () => {
	await server.start();
	credential = { ...server.connection(), ssl: 'disable', schema: 'crm_email', tablePrefix: '' };
	sink = await new SmtpSink().start();
});
after(async () => {
	await closePostgresPools();
	await sink.stop();
	await server.destroy();
});
beforeEach(() => {
	sink.messages.length = 0;
	sink.refuse.clear();
});

function mail(name: string, n = 1): IDataObject {
	return {
		messageId: `<${name}-${n}@customer.example>`,
		references: [],
		subject: `Question ${n} from ${name}`,
		from: { address: `${name}@customer.example`, name },
		replyTo: [],
		text: 'Hello',
		headers: {},
	};
}

async function run(
	workflowId: string,
	mails: IDataObject[],
	o: { continueOnFail?: boolean; options?: IDataObject; postgres?: IDataObject } = {},
): Promise<INodeExecutionData[][]> {
	const f = fakeExecute({
		description: node.description,
		parameters: {
			operation: 'autoReply',
			from: '',
			subject: 'We got your mail',
			bodyText: 'Hello {Person.firstName}',
			bodyHtml: '',
			appendToSent: false,
			stateStore: 'postgres',
			options: { retryDelayMs: 5, retries: 0, ...o.options },
		},
		inputs: [mails.map((json) => ({ json }))],
		credentials: {
			crmSmtpApi: sink.credentials(),
			crmEmailSigningApi: signingCredential,
			crmEmailPostgresApi: { ...credential, ...o.postgres },
		},
		mode: 'trigger',
		workflowId,
		continueOnFail: o.continueOnFail,
	});
	return (await node.execute.call(f.ctx)) as INodeExecutionData[][];
}

const received = (address: string) => sink.messages.filter((m) => m.to.includes(address)).length;
const codes = (items: INodeExecutionData[]) =>
	items.map((i) => [(i.pairedItem as { item: number }).item, (i.json.notSent as IDataObject).code]);

async function sql(text: string, params: unknown[] = []): Promise<void> {
	const c = new Client(server.connection());
	await c.connect();
	try {
		await c.query(text, params);
	} finally {
		await c.end();
	}
}

describe('Template Sender on PostgreSQL', () => {
	it('a Retry of the same items, on another worker, sends none again: all ALREADY_SENT', async () => {
		const mails = ['ann', 'bob', 'cid'].map((n) => mail(n));
		const [sent] = await run('pgRetry', mails);
		assert.equal(sent.length, 3);
		await closePostgresPools(); // another worker: its own pool
		const [again, notSent, failed] = await run('pgRetry', mails);
		assert.equal(again.length + failed.length, 0);
		assert.deepEqual(codes(notSent), [
			[0, 'ALREADY_SENT'],
			[1, 'ALREADY_SENT'],
			[2, 'ALREADY_SENT'],
		]);
		for (const n of ['ann', 'bob', 'cid']) assert.equal(received(`${n}@customer.example`), 1, n);
		// Another node (workflow) keeps its own marks.
		const [elsewhere] = await run('pgOther', [mails[0]]);
		assert.equal(elsewhere.length, 1);
	});

	it('a failed execution’s retry sends only what did not go out', async () => {
		const mails = ['dee', 'eve'].map((n) => mail(n));
		sink.refuse.add('eve@customer.example');
		await assert.rejects(run('pgFailed', mails), /1 of 2 mails could not be sent/);
		sink.refuse.clear();
		const [sent, notSent] = await run('pgFailed', mails);
		assert.deepEqual(
			sent.map((s) => s.pairedItem),
			[{ item: 1 }],
		);
		assert.deepEqual(codes(notSent), [[0, 'ALREADY_SENT']]);
		assert.equal(received('dee@customer.example'), 1);
		assert.equal(received('eve@customer.example'), 1);
	});

	it('a mail a crashed worker was sending is not sent again: SENT_BY_FAILED_EXECUTION', async () => {
		const m = mail('fay');
		await run('pgCrash', [m]);
		// As a worker killed after SMTP took the mail and before it marked it sent leaves it.
		await sql(`UPDATE crm_email.marks SET state = 'sending' WHERE key LIKE 'send:%'`);
		const [sent, notSent] = await run('pgCrash', [m]);
		assert.equal(sent.length, 0);
		assert.deepEqual(codes(notSent), [[0, 'SENT_BY_FAILED_EXECUTION']]);
		assert.equal(received('fay@customer.example'), 1);
	});

	it('the rate limit and one-off marks are the store’s: shared across executions', async () => {
		const options = { rateLimit: 2, rateWindowHours: 1 };
		const [first] = await run('pgRate', [mail('gus', 1), mail('gus', 2)], { options });
		assert.equal(first.length, 2);
		await closePostgresPools();
		const [sent, notSent] = await run('pgRate', [mail('gus', 3)], { options });
		assert.equal(sent.length, 0);
		assert.deepEqual(codes(notSent), [[0, 'RATE_LIMIT']]);
		assert.equal(received('gus@customer.example'), 2);
		// A rate-limited mail is not marked: when the window allows, it may be answered.
		await sql(`DELETE FROM crm_email.replies`);
		const [later] = await run('pgRate', [mail('gus', 3)], { options });
		assert.equal(later.length, 1);

		const oneOff = { oneOff: true, oneOffKey: 'welcome' };
		const [welcomed] = await run('pgOneOff', [mail('hal', 1)], { options: oneOff });
		assert.equal(welcomed.length, 1);
		const [, twice] = await run('pgOneOff', [mail('hal', 2)], { options: oneOff });
		assert.deepEqual(codes(twice), [[0, 'ONE_OFF']]);
		// A one-off mail the server refused is not marked: it goes out on the next try.
		sink.refuse.add('ivy@customer.example');
		const [, , refused] = await run('pgOneOff', [mail('ivy', 1)], {
			options: oneOff,
			continueOnFail: true,
		});
		assert.equal(refused.length, 1);
		sink.refuse.clear();
		const [retried] = await run('pgOneOff', [mail('ivy', 2)], { options: oneOff });
		assert.equal(retried.length, 1);
	});

	it('a store that cannot be reached sends nothing: the execution fails naming it, or the items go to Failed', async () => {
		const down = { port: 1 };
		const mails = [mail('jon'), mail('kim')];
		await assert.rejects(
			run('pgDown', mails, { postgres: down }),
			/PostgreSQL state store 127\.0\.0\.1:1\/postgres/,
		);
		const [sent, notSent, failed] = await run('pgDown', mails, {
			postgres: down,
			continueOnFail: true,
		});
		assert.equal(sent.length + notSent.length, 0);
		assert.deepEqual(
			failed.map((f) => [f.pairedItem, (f.json.error as IDataObject).code]),
			[
				[{ item: 0 }, 'STATE_READ_FAILED'],
				[{ item: 1 }, 'STATE_READ_FAILED'],
			],
		);
		assert.equal(sink.messages.length, 0);
	});
});
