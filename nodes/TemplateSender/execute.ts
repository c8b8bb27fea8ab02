/**
 * n8n glue of the Template Sender: reads the parameters, asks the core for each item's plan
 * (core/plan.ts), claims each mail's marks in the state store (this instance's file or
 * PostgreSQL), delivers over one pooled SMTP connection, and splits into Sent / Not Sent / Failed.
 */
import { type IDataObject, type IExecuteFunctions, type INodeExecutionData } from 'n8n-workflow';

import { CrmEmailError } from '../shared/errors';
import { errorJson, failedItem, toNodeError } from '../shared/itemErrors';
import { withNodeState, type NodeStateHandle } from '../shared/nodeState';
import { ObjectSendStore } from '../shared/state/objectSendStore';
import { stateStoreKind, withPostgresStore } from '../shared/state/nodeStore';
import type { SendStore } from '../shared/state/types';
import { nodeThreadKey } from '../shared/signingMethods';
import { readImapCredentials, readSmtpCredentials } from '../shared/mailAuth';
import { type SmtpCredentials } from '../shared/transport/smtp';
import {
	plan,
	refusal,
	type Marks,
	type Operation,
	type Refused,
	type SenderOptions,
	type SenderParameters,
	type TemplateSource,
	type Templates,
} from './core/plan';
import { SENDING_KEPT_MS, type RateLimit } from './core/state';
import { buildRaw, Delivery, type OutgoingMail } from './delivery';
import { readOptedOut } from './optOutList';

/** Mails queued on the SMTP connection at once. */
const IN_FLIGHT = 16;
/**
 * Mails claimed together: their claims go to the store at once, and on this instance's file store
 * are saved by one fsync; none of them is sent if that fails.
 */
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
	if (stateStoreKind(this) === 'postgres')
		return await withPostgresStore(this, async (store) => await run.call(this, store, null));
	return await withNodeState(
		this,
		async (data, nodeState) => await run.call(this, new ObjectSendStore(data), nodeState),
	);
}

/**
 * Claims a planned mail's marks in the store, in the order of `Marks`: the refused one, or null
 * when the mail may be sent. What it took before a refusal or a store failure is given back.
 */
async function claim(
	store: SendStore,
	marks: Marks,
	limit: RateLimit,
	now: number,
): Promise<Refused | null> {
	const state = await store.claimSend(marks.send, now);
	if (state !== 'claimed') return { mark: 'send', state };
	let counted = false;
	let refused: Refused | null = null;
	let answered = false;
	try {
		if (marks.reply) {
			counted = await store.countReply(marks.reply, limit, now);
			if (!counted) refused = { mark: 'reply' };
		}
		if (!refused && marks.oneOff && !(await store.markOneOff(marks.oneOff, now)))
			refused = { mark: 'oneOff' };
		answered = true;
	} finally {
		// Refused, or the store failed: the marks taken so far go back (the one-off was not taken).
		if (refused || !answered)
			await unclaim(store, { ...marks, oneOff: null, reply: counted ? marks.reply : null }, now);
	}
	return refused;
}

/**
 * Gives back the marks of a claimed mail that certainly did not reach SMTP. Best effort: a mark
 * the store fails to give back stays, so the mail goes to Not Sent on a rerun — never twice.
 */
async function unclaim(store: SendStore, marks: Marks, now: number): Promise<void> {
	await Promise.allSettled([
		...(marks.reply ? [store.forgetReply(marks.reply, now)] : []),
		...(marks.oneOff ? [store.forgetOneOff(marks.oneOff)] : []),
	]);
	await store.releaseSend(marks.send).catch(() => undefined);
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
	store: SendStore,
	nodeState: NodeStateHandle | null,
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
	const appendToSent = this.getNodeParameter('appendToSent', 0, false) === true;
	const imapCreds = appendToSent ? await readImapCredentials(this) : null;
	const delivery = new Delivery(creds, {
		retries: Math.max(0, Number(first.retries ?? 3)),
		retryDelayMs: Math.max(0, Number(first.retryDelayMs ?? 1000)),
	});
	const templates = new Map<string, Templates>();
	const inFlight = new Set<Promise<void>>();
	/** Built mails whose marks are not claimed yet. */
	const ready: Array<{ index: number; marks: Marks; job: () => Promise<void> }> = [];
	/** Claimed mails not yet handed to SMTP: unclaimed if the node fails first. */
	const claimed: Marks[] = [];
	/** Send key → the item of this execution that claims it. */
	const ours = new Map<string, number>();
	/** The first store failure of a claim, with Continue On Fail off. */
	let claimFailed: { index: number; error: unknown } | null = null;
	const now = Date.now();

	// Claim, then send: the marks (send mark, rate limit, one-off) of a group of mails are claimed
	// in the store — on this instance's file store also saved, durably — before any of them goes
	// out, so neither a failed save nor a rerun can ever cause a second send.
	const launch = async () => {
		if (ready.length === 0) return;
		const group = ready.splice(0);
		const answers = await Promise.all(
			group.map(async (r) => {
				try {
					return { refused: await claim(store, r.marks, limit, now) };
				} catch (error) {
					return { error };
				}
			}),
		);
		const go: Array<() => Promise<void>> = [];
		group.forEach((r, k) => {
			const answer = answers[k];
			const item = items[r.index];
			if ('error' in answer) {
				if (continueOnFail) failed.push(failedItem(this, item, r.index, answer.error));
				else claimFailed ??= { index: r.index, error: answer.error };
			} else if (answer.refused)
				notSent.push({
					json: { ...item.json, notSent: { ...refusal(answer.refused, r.marks, limit) } },
					binary: item.binary,
					pairedItem: { item: r.index },
				});
			else {
				claimed.push(r.marks);
				go.push(r.job);
			}
		});
		if (claimFailed) throw toNodeError(this, claimFailed.error, claimFailed.index);
		// If the save fails, the `finally` below unclaims the mails not yet sent: none was sent.
		nodeState?.save();
		claimed.length = 0;
		for (const job of go) {
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
				const decision = plan(i, json, p, { creds, key, limit, now, templates, optedOut });
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
				const twin = ours.get(marks.send);
				if (twin !== undefined) {
					// The same incoming mail twice in the input: the store would call it "being sent".
					notSent.push({
						json: {
							...json,
							notSent: refusal({ mark: 'send', state: 'twin', item: twin }, marks, limit),
						},
						binary: item.binary,
						pairedItem: { item: i },
					});
					continue;
				}
				ours.set(marks.send, i);
				const raw = await buildRaw({ ...mail, attachments }, new Date(now));
				const job = async () => {
					let delivered;
					try {
						delivered = await delivery.send(raw, envelope);
					} catch (error) {
						await unclaim(store, marks, now);
						if (continueOnFail) failed.push(failedItem(this, item, i, error));
						else undelivered.push({ index: i, to: mail.to.map((a) => a.address), error });
						return;
					}
					// A mark the store fails to update stays "being sent", which also keeps a rerun
					// from sending the mail again: not a reason to fail a mail that went out.
					await store.markSent(marks.send, Date.now()).catch(() => undefined);
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
				ready.push({ index: i, marks, job });
			} catch (error) {
				if (!continueOnFail) throw toNodeError(this, error, i);
				failed.push(failedItem(this, item, i, error));
			}
		}
		await launch();
		await Promise.all(inFlight);
	} finally {
		// Mails claimed but never handed to SMTP (the node failed first) are not sent: unclaim them.
		await Promise.all(claimed.splice(0).map(async (marks) => await unclaim(store, marks, now)));
		await Promise.allSettled(inFlight);
		await delivery.close();
	}
	// The marks of sent mails stay (SENDING_KEPT_MS): a Retry or a rerun of the same incoming mails
	// sends none of them again. The file store is saved after this, also when the execution fails.
	// Forgetting old marks can wait for the next execution: its failure does not undo the outputs.
	await store
		.pruneSends(limit, SENDING_KEPT_MS, now)
		.catch((error: Error) =>
			this.logger.warn(`Template Sender: old marks not pruned: ${error.message}`),
		);
	if (undelivered.length) {
		undelivered.sort((a, b) => a.index - b.index);
		throw deliveryFailed(this, undelivered, items.length);
	}
	// Sends finish out of order; outputs keep the input order.
	const byIndex = (a: INodeExecutionData, b: INodeExecutionData) =>
		(a.pairedItem as { item: number }).item - (b.pairedItem as { item: number }).item;
	return [sent.sort(byIndex), notSent.sort(byIndex), failed.sort(byIndex)];
}
