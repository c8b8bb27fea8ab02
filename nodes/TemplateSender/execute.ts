/**
 * n8n glue of the Template Sender: reads the parameters, asks the core for each item's plan
 * (core/plan.ts), keeps the state, delivers over one pooled SMTP connection, and splits into
 * Sent / Not Sent / Failed.
 */
import { type IDataObject, type IExecuteFunctions, type INodeExecutionData } from 'n8n-workflow';

import { CrmEmailError } from '../shared/errors';
import { errorJson, failedItem, toNodeError } from '../shared/itemErrors';
import { withNodeState, type NodeStateHandle } from '../shared/nodeState';
import { nodeThreadKey } from '../shared/signingMethods';
import { readImapCredentials, readSmtpCredentials } from '../shared/mailAuth';
import { type SmtpCredentials } from '../shared/transport/smtp';
import {
	plan,
	release,
	reserve,
	type Operation,
	type SenderOptions,
	type SenderParameters,
	type TemplateSource,
	type Templates,
} from './core/plan';
import { pruneState, senderState, type RateLimit } from './core/state';
import { buildRaw, Delivery, type OutgoingMail } from './delivery';
import { readOptedOut } from './optOutList';

/** Mails queued on the SMTP connection at once. */
const IN_FLIGHT = 16;
/** Mails reserved by one state save (one fsync): fewer saves, and none of them sent if it fails. */
const RESERVE = 64;

/**
 * A template parameter. In fixed mode it is the admin's template. As an n8n expression
 * (`=Re: {{ $json.subject }}`), n8n has already put item data into it, a customer's subject
 * included: compiling that would let a mail run Handlebars (`{{#each this}}` mails every field of
 * the item to its sender), so it is taken literally.
 */
function templateSource(ctx: IExecuteFunctions, name: string, i: number): TemplateSource {
	const raw = ctx.getNodeParameter(name, i, '', { rawExpressions: true });
	return {
		text: ctx.getNodeParameter(name, i, '') as string,
		literal: typeof raw === 'string' && raw.startsWith('='),
	};
}

export async function executeSender(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	return await withNodeState(
		this,
		async (staticData, nodeState) => await run.call(this, staticData, nodeState),
	);
}

/** How many failed mails the execution's error lists by name. */
const LISTED = 5;

interface Undelivered {
	index: number;
	to: string[];
	error: unknown;
}

/**
 * Mails the server did not take while Continue On Fail is off: the execution fails, naming them,
 * after every other mail was tried.
 */
function deliveryFailed(ctx: IExecuteFunctions, undelivered: Undelivered[], total: number) {
	const list = undelivered
		.slice(0, LISTED)
		.map(({ index, to, error }) => {
			const code = error instanceof CrmEmailError ? `; Error code: ${error.code}` : '';
			const message = error instanceof Error ? error.message : String(error);
			return `item ${index} to ${to.join(', ')} (${message}${code})`;
		})
		.join('; ');
	const more = undelivered.length > LISTED ? `; and ${undelivered.length - LISTED} more` : '';
	return toNodeError(
		ctx,
		new CrmEmailError(
			'DELIVERY_FAILED',
			`${undelivered.length} of ${total} mails could not be sent: ${list}${more}`,
			{ failed: undelivered.length },
		),
		undelivered[0].index,
		'The other mails were sent, and a retry of this execution does not send them again. Switch on Continue On Fail (Settings) to get failed mails on the Failed output instead',
	);
}

async function run(
	this: IExecuteFunctions,
	staticData: IDataObject,
	nodeState: NodeStateHandle,
): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const sent: INodeExecutionData[] = [];
	const notSent: INodeExecutionData[] = [];
	const failed: INodeExecutionData[] = [];
	const undelivered: Undelivered[] = [];
	const continueOnFail = this.continueOnFail();
	const creds: SmtpCredentials = await readSmtpCredentials(this);
	const key = await nodeThreadKey(this);
	const operation = this.getNodeParameter('operation', 0) as Operation;
	const first = this.getNodeParameter('options', 0, {}) as SenderOptions;
	const limit: RateLimit = {
		max: Math.max(0, Number(first.rateLimit ?? 5)),
		windowMs: Math.max(0, Number(first.rateWindowHours ?? 2)) * 3_600_000,
	};
	const state = senderState(staticData);
	const appendToSent = this.getNodeParameter('appendToSent', 0, false) === true;
	const imapCreds = appendToSent
		? await readImapCredentials(this)
		: null;
	const delivery = new Delivery(creds, {
		retries: Math.max(0, Number(first.retries ?? 3)),
		retryDelayMs: Math.max(0, Number(first.retryDelayMs ?? 1000)),
	});
	const templates = new Map<string, Templates>();
	const inFlight = new Set<Promise<void>>();
	/** Built mails whose marks are not saved yet; `release` takes the marks back. */
	const ready: Array<{ job: () => Promise<void>; release: () => void }> = [];
	/** Send keys of mails the server took: cleared once this execution completes. */
	const sentKeys: string[] = [];
	const now = Date.now();

	// Reserve, then send: the marks (rate limit, one-off, "sending") of the ready mails are saved
	// before any of them goes out, so a save that fails later can never cause a second send.
	const launch = async () => {
		if (ready.length === 0) return;
		// If the save fails, the `finally` below unmarks the mails still ready: none was sent.
		nodeState.save();
		for (const { job } of ready.splice(0)) {
			const running: Promise<void> = job().finally(() => inFlight.delete(running));
			inFlight.add(running);
		}
		// Keep a few mails queued on the pooled connection while the next ones are built: no idle
		// round trips, bounded memory.
		while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
	};

	const parameters = (i: number): SenderParameters => ({
		operation,
		from: this.getNodeParameter('from', i, '') as string,
		to: operation === 'send' ? this.getNodeParameter('to', i, '') : '',
		cc: this.getNodeParameter('cc', i, ''),
		bcc: this.getNodeParameter('bcc', i, ''),
		subject: templateSource(this, 'subject', i),
		bodyHtml: templateSource(this, 'bodyHtml', i),
		bodyText: templateSource(this, 'bodyText', i),
		options: this.getNodeParameter('options', i, {}) as SenderOptions,
	});

	try {
		const optedOut = await readOptedOut(this, operation, items.length);
		for (let i = 0; i < items.length; i++) {
			if (ready.length >= RESERVE) await launch();
			const item = items[i];
			const json = item.json;
			try {
				const p = parameters(i);
				const decision = plan(i, json, p, {
					creds,
					key,
					state,
					limit,
					now,
					templates,
					optedOut,
				});
				if ('skip' in decision) {
					notSent.push({
						json: { ...json, notSent: decision.skip },
						binary: item.binary,
						pairedItem: { item: i },
					});
					continue;
				}
				const { mail, envelope, marks } = decision.send;
				const attachments: OutgoingMail['attachments'] = [];
				for (const property of String(p.options.attachments ?? '')
					.split(/[,;]/)
					.map((a) => a.trim())
					.filter(Boolean)) {
					const binary = this.helpers.assertBinaryData(i, property);
					attachments.push({
						filename: binary.fileName ?? property,
						contentType: binary.mimeType,
						content: await this.helpers.getBinaryDataBuffer(i, property),
					});
				}
				const raw = await buildRaw({ ...mail, attachments }, new Date(now));
				// Marked now, so later items of this execution see it; taken back if sending fails.
				reserve(state, marks, now);
				const job = async () => {
					let delivered;
					try {
						delivered = await delivery.send(raw, envelope);
					} catch (error) {
						release(state, marks, now);
						if (continueOnFail) failed.push(failedItem(this, item, i, error));
						else undelivered.push({ index: i, to: mail.to.map((a) => a.address), error });
						return;
					}
					sentKeys.push(marks.sending);
					let sentFolder: IDataObject | null = null;
					if (imapCreds) {
						const folder = p.options.sentFolder || 'Sent';
						try {
							await delivery.appendToSent(imapCreds, folder, raw);
							sentFolder = { folder, appended: true };
						} catch (error) {
							// The mail is out; only the copy failed. Say so on the Sent item.
							sentFolder = { folder, appended: false, error: errorJson(error) };
						}
					}
					sent.push({
						json: {
							...json,
							sent: {
								messageId: mail.messageId,
								from: mail.from.address,
								to: mail.to.map((a) => a.address),
								cc: mail.cc.map((a) => a.address),
								bcc: mail.bcc.map((a) => a.address),
								subject: mail.subject,
								inReplyTo: mail.inReplyTo,
								response: delivered.response,
								accepted: delivered.accepted,
								rejected: delivered.rejected,
								attempts: delivered.attempts,
								...(sentFolder ? { sentFolder } : {}),
							},
						},
						binary: item.binary,
						pairedItem: { item: i },
					});
				};
				ready.push({ job, release: () => release(state, marks, now) });
			} catch (error) {
				if (!continueOnFail) throw toNodeError(this, error, i);
				failed.push(failedItem(this, item, i, error));
			}
		}
		await launch();
		await Promise.all(inFlight);
	} finally {
		// Mails built but never handed to SMTP (the node failed first) are not sent: unmark them.
		for (const r of ready.splice(0)) r.release();
		await Promise.allSettled(inFlight);
		pruneState(state, limit, now);
		await delivery.close();
	}
	// Completed: no retry will come, the marks of sent mails go — saved now, so that if this save
	// fails they are still there for the retry of this (then failed) execution. Mails the server
	// refused with Continue On Fail off fail the execution: then the marks stay for its retry.
	const completes = undelivered.length === 0;
	if (completes) for (const k of sentKeys) delete state.sending[k];
	let saved = false;
	try {
		nodeState.save();
		saved = true;
	} finally {
		if (!saved && completes) for (const k of sentKeys) state.sending[k] = now;
	}
	if (!completes) {
		undelivered.sort((a, b) => a.index - b.index);
		throw deliveryFailed(this, undelivered, items.length);
	}
	// Sends finish out of order; outputs keep the input order.
	const byIndex = (a: INodeExecutionData, b: INodeExecutionData) =>
		(a.pairedItem as { item: number }).item - (b.pairedItem as { item: number }).item;
	return [sent.sort(byIndex), notSent.sort(byIndex), failed.sort(byIndex)];
}
