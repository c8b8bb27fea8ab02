/**
 * n8n glue of the IMAP trigger: parameters and credentials in, the intake engine started, its
 * batches emitted with a done-promise so the watermark only moves once the workflow has a mail.
 */
import {
	NodeOperationError,
	type IBinaryKeyData,
	type INodeExecutionData,
	type IRun,
	type ITriggerFunctions,
	type ITriggerResponse,
} from 'n8n-workflow';

import { CrmEmailError } from '../shared/errors';
import { toNodeError } from '../shared/itemErrors';
import { readImapCredentials } from '../shared/mailAuth';
import { describeImapError } from '../shared/transport/imap';
import type { IntakeState } from './core/cursor';
import type { MailRecord } from './core/mail';
import { readTriggerParameters, type TriggerParameters } from './core/options';
import { ImapIntake, type IntakeHooks, type StateStore } from './intake';

/** How many of the newest mails the editor's "fetch test event" shows. */
export const TEST_EVENT_MAILS = 5;

export async function toExecutionItems(
	ctx: Pick<ITriggerFunctions, 'helpers'>,
	records: MailRecord[],
): Promise<INodeExecutionData[]> {
	const items: INodeExecutionData[] = [];
	for (const record of records) {
		const item: INodeExecutionData = {
			json: { ...record.json } as unknown as INodeExecutionData['json'],
		};
		if (record.binaries.length > 0) {
			const binary: IBinaryKeyData = {};
			for (const b of record.binaries) {
				binary[b.property] = await ctx.helpers.prepareBinaryData(
					b.content,
					b.filename,
					b.contentType,
				);
			}
			item.binary = binary;
		}
		items.push(item);
	}
	return items;
}

/** The intake state lives in the node's static data, saved by n8n with each emit. */
function staticDataStore(ctx: ITriggerFunctions): StateStore {
	const data = ctx.getWorkflowStaticData('node');
	return {
		load: () => data.intake,
		save: (state: IntakeState) => {
			data.intake = state as unknown as (typeof data)[string];
		},
	};
}

/** A batch n8n lost this many times in a row is given up (reported), not fetched again. */
const MAX_REDELIVERIES = 3;

/**
 * Why n8n lost an execution without running it (a queue-mode worker that died or stalled, a
 * crashed instance), or null. A workflow that failed in a node is not lost: it ran, and its
 * failed execution is where the admin retries it.
 */
export function lostExecution(run: IRun | undefined): string | null {
	const error = run?.data?.resultData?.error as { message?: unknown } | undefined;
	const message = typeof error?.message === 'string' ? error.message : '';
	if (/failed to be processed too many times/i.test(message)) return message;
	if (run?.status === 'crashed') return message || 'the execution crashed';
	return null;
}

export async function triggerImap(this: ITriggerFunctions): Promise<ITriggerResponse> {
	const credentials = await readImapCredentials(this);
	let settings;
	try {
		const afterFetch = this.getNodeParameter('afterFetch', 'nothing');
		settings = readTriggerParameters(
			{
				folders: this.getNodeParameter('folders'),
				fetchSince: this.getNodeParameter('fetchSince', ''),
				afterFetch,
				moveTo: afterFetch === 'move' ? this.getNodeParameter('moveTo', '') : undefined,
				batchSize: this.getNodeParameter('batchSize', 50),
				options: this.getNodeParameter('options', {}) as TriggerParameters['options'],
			},
			new Date(),
		);
	} catch (error) {
		throw toNodeError(this, error);
	}

	let lostBatch = { first: '', attempts: 0 };
	const hooks: IntakeHooks = {
		deliver: async (records) => {
			const items = await toExecutionItems(this, records);
			const done = this.helpers.createDeferredPromise<IRun>();
			this.emit([items], undefined, done);
			const lost = lostExecution(await done.promise);
			if (!lost) {
				lostBatch = { first: '', attempts: 0 };
				return;
			}
			// n8n lost the execution (a queue-mode worker died): the batch is fetched again, and
			// the stateful nodes give a mail routed twice its first case and send no mail twice.
			// A batch lost again and again (a mail that kills workers) goes on after the third try,
			// reported, so that it never blocks the mail behind it.
			const first = records[0] ? `${records[0].json.folder}:${records[0].json.uid}` : '';
			lostBatch = { first, attempts: lostBatch.first === first ? lostBatch.attempts + 1 : 1 };
			const mails = `${records.length} mails from ${first} on`;
			if (lostBatch.attempts < MAX_REDELIVERIES)
				throw new CrmEmailError('DELIVERY_FAILED', `n8n lost the execution of ${mails}: ${lost}`);
			lostBatch = { first: '', attempts: 0 };
			hooks.reportError(
				new CrmEmailError(
					'DELIVERY_FAILED',
					`n8n lost the execution of ${mails} ${MAX_REDELIVERIES} times (${lost}); not fetched again: see the failed executions for these mails`,
				),
			);
		},
		reportError: (error) => {
			const failure = toNodeError(this, error);
			// The workflow stays active and keeps retrying; the failure shows in the execution list
			// and runs the error workflow. Older n8n versions only know emitError.
			if (typeof this.saveFailedExecution === 'function') this.saveFailedExecution(failure);
			else this.emitError(failure);
		},
		log: (level, message, meta) => this.logger[level](message, meta),
	};
	const intake = new ImapIntake({ credentials, ...settings }, staticDataStore(this), hooks);

	if (this.getMode() === 'manual') {
		// The editor's test event: the newest mails, the watermark untouched.
		const manualTriggerFunction = async () => {
			let records: MailRecord[];
			try {
				records = await intake.latest(TEST_EVENT_MAILS);
			} catch (error) {
				throw toNodeError(this, describeImapError(error, credentials));
			}
			if (records.length === 0) {
				throw new NodeOperationError(
					this.getNode(),
					`No mail in ${settings.folders.join(', ')} to show yet`,
					{
						description: 'Send a mail to the mailbox and fetch the test event again.',
					},
				);
			}
			this.emit([await toExecutionItems(this, records)]);
		};
		return { manualTriggerFunction };
	}

	try {
		await intake.start();
	} catch (error) {
		throw toNodeError(this, describeImapError(error, credentials));
	}
	// One line in n8n's log per activation: admins (and the real-n8n tests) see it is watching.
	this.logger.info(
		`CRM Email IMAP Trigger: watching ${settings.folders.join(', ')} of ${credentials.user}@${credentials.host}`,
	);
	return { closeFunction: async () => await intake.stop() };
}
