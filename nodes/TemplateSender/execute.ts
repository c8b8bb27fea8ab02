/**
 * n8n glue of the Template Sender: per item, decide (loop guard, rate limit, opt-out, one-off),
 * render, compose, deliver over one pooled SMTP connection, and split into Sent / Not Sent / Failed.
 */
import { createHash } from 'node:crypto';

import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
} from 'n8n-workflow';

import { withNodeState, type NodeStateHandle } from '../shared/nodeState';
import { nodeThreadKey } from '../shared/signingMethods';
import { CrmEmailError, isCrmEmailError } from '../shared/errors';
import { generateMessageId } from '../shared/threadId';
import { readImapCredentials, readSmtpCredentials } from '../shared/mailAuth';
import { ownAddressSet, parseAddresses, type Mailbox } from '../shared/addresses';
import { senderOf, type SmtpCredentials } from '../shared/transport/smtp';
import { compose, replyRecipient, type SendMode } from './core/compose';
import { incoming, templateContext } from './core/context';
import { loopGuard } from './core/loopGuard';
import { optOutUrl } from './core/optOut';
import {
	forgetReply,
	pruneState,
	recentReplies,
	recordReply,
	sendKey,
	senderState,
	type RateLimit,
} from './core/state';
import {
	compileTemplate,
	escapeHtml,
	literalTemplate,
	type CompiledTemplate,
	type UnknownPlaceholders,
} from './core/template';
import { buildRaw, Delivery, type OutgoingMail } from './delivery';

/** Mails queued on the SMTP connection at once. */
const IN_FLIGHT = 16;
/** Mails reserved by one state save (one fsync): fewer saves, and none of them sent if it fails. */
const RESERVE = 64;

interface SenderOptions {
	toOverride?: string;
	cc?: string;
	bcc?: string;
	attachments?: string;
	quoteOriginal?: boolean;
	caseTag?: string;
	signatureHtml?: string;
	signatureText?: string;
	signaturePlacement?: 'below' | 'aboveQuote';
	signatureOnAutoReply?: boolean;
	unknownPlaceholders?: UnknownPlaceholders;
	userName?: string;
	optOutBaseUrl?: string;
	bulk?: boolean;
	optOutList?: string | string[];
	oneOff?: boolean;
	oneOffKey?: string;
	rateLimit?: number;
	rateWindowHours?: number;
	ownAddresses?: string;
	sentFolder?: string;
	retries?: number;
	retryDelayMs?: number;
}

interface Templates {
	subject: CompiledTemplate;
	html: CompiledTemplate | null;
	text: CompiledTemplate | null;
}

interface TemplateSource {
	text: string;
	/** Set by an n8n expression: its result is data, sent as it is, never compiled. */
	literal: boolean;
}

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

function compileOne(
	source: TemplateSource,
	o: { where: string; html: boolean; unknown: UnknownPlaceholders },
): CompiledTemplate {
	return source.literal ? literalTemplate(source.text) : compileTemplate(source.text, o);
}

function compileAll(
	subject: TemplateSource,
	html: TemplateSource,
	text: TemplateSource,
	unknown: UnknownPlaceholders,
): Templates {
	return {
		subject: compileOne(subject, { where: 'Subject', html: false, unknown }),
		html: html.text ? compileOne(html, { where: 'HTML Body', html: true, unknown }) : null,
		text: text.text ? compileOne(text, { where: 'Text Body', html: false, unknown }) : null,
	};
}

function errorJson(error: unknown): IDataObject {
	if (isCrmEmailError(error))
		return { code: error.code, message: error.message, ...error.details } as IDataObject;
	return { message: error instanceof Error ? error.message : String(error) };
}

export async function executeSender(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	return await withNodeState(
		this,
		async (staticData, nodeState) => await run.call(this, staticData, nodeState),
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
	const creds: SmtpCredentials = await readSmtpCredentials(this);
	const key = await nodeThreadKey(this);
	const mode = this.getNodeParameter('mode', 0) as SendMode;
	const first = this.getNodeParameter('options', 0, {}) as SenderOptions;
	const limit: RateLimit = {
		max: Math.max(0, Number(first.rateLimit ?? 5)),
		windowMs: Math.max(0, Number(first.rateWindowHours ?? 2)) * 3_600_000,
	};
	const state = senderState(staticData);
	const imapCreds = this.getNodeParameter('appendToSent', 0, false)
		? await readImapCredentials(this)
		: null;
	const delivery = new Delivery(creds, {
		retries: Math.max(0, Number(first.retries ?? 3)),
		retryDelayMs: Math.max(0, Number(first.retryDelayMs ?? 1000)),
	});
	const compiled = new Map<string, Templates>();
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

	const fail = (i: number, error: unknown) => {
		const json = { ...items[i].json, error: errorJson(error) };
		failed.push({ json, binary: items[i].binary, pairedItem: { item: i } });
	};

	try {
		for (let i = 0; i < items.length; i++) {
			if (ready.length >= RESERVE) await launch();
			const item = items[i];
			const json = item.json;
			const pairedItem = { item: i };
			const skip = (code: string, reason: string) =>
				notSent.push({
					json: { ...json, notSent: { code, reason } },
					binary: item.binary,
					pairedItem,
				});
			try {
				const o = this.getNodeParameter('options', i, {}) as SenderOptions;
				const mail = incoming(json);
				const own = ownAddressSet(
					o.ownAddresses ?? '',
					creds.defaultFrom,
					creds.allowedFrom.filter((a) => !a.includes('*') && !a.includes('?')),
				);
				own.add(creds.user.toLowerCase());

				// Recipients: parsed once; the header and the envelope get these same mailboxes.
				const invalid: string[] = [];
				const recipients = (value: unknown, where: string): Mailbox[] => {
					const parsed = parseAddresses(value);
					for (const bad of parsed.invalid) invalid.push(`${where}: ${JSON.stringify(bad)}`);
					return parsed.mailboxes;
				};
				const replyTo = replyRecipient(mail);
				const to =
					mode === 'send'
						? recipients(this.getNodeParameter('to', i, ''), 'To')
						: o.toOverride
							? recipients(o.toOverride, 'Reply To Instead')
							: replyTo
								? recipients(
										replyTo,
										mail.replyTo.length ? "the mail's Reply-To" : "the mail's From",
									)
								: [];
				const cc =
					mode === 'send'
						? recipients(this.getNodeParameter('cc', i, ''), 'Cc')
						: recipients(o.cc ?? '', 'Cc (Reply Modes)');
				const bcc =
					mode === 'send'
						? recipients(this.getNodeParameter('bcc', i, ''), 'Bcc')
						: recipients(o.bcc ?? '', 'Bcc (Reply Modes)');
				if (invalid.length) {
					// Never sent to part of the list, nor elsewhere: the whole item stays unsent.
					skip('INVALID_RECIPIENT', `not one clean address each: ${invalid.join('; ')}`);
					continue;
				}
				if (to.length === 0) {
					skip(
						'NO_RECIPIENT',
						mode === 'send' ? 'To is empty' : 'the mail has neither Reply-To nor From',
					);
					continue;
				}
				const primary = to[0].address.toLowerCase();

				if (mode === 'autoReply') {
					const verdict = loopGuard({
						from: mail.from?.address ?? null,
						replyTo: mail.replyTo.map((a) => a.address),
						headers: json.headers,
						own,
					});
					if (!verdict.reply) {
						skip('LOOP_GUARD', verdict.reason as string);
						continue;
					}
					if (limit.max > 0 && recentReplies(state, primary, limit, now) >= limit.max) {
						skip(
							'RATE_LIMIT',
							`${primary} already got ${limit.max} auto-replies in the last ${first.rateWindowHours ?? 2} h`,
						);
						continue;
					}
				}
				// Read as generously as Our Addresses: a missed opt-out mails someone who unsubscribed.
				const optedOut = ownAddressSet(o.optOutList ?? []);
				const stopped = [...to, ...cc, ...bcc]
					.map((a) => a.address.toLowerCase())
					.filter((a) => optedOut.has(a));
				if (stopped.length) {
					skip('OPTED_OUT', `${stopped.join(', ')} opted out`);
					continue;
				}

				const subjectSource = templateSource(this, 'subject', i);
				const htmlSource = templateSource(this, 'bodyHtml', i);
				const textSource = templateSource(this, 'bodyText', i);
				if (!htmlSource.text && !textSource.text)
					throw new CrmEmailError(
						'CONFIG_INVALID',
						'HTML Body and Text Body are both empty: write at least one',
					);
				const templateId = createHash('sha256')
					.update(
						`${o.unknownPlaceholders}\0${subjectSource.text}\0${htmlSource.text}\0${textSource.text}`,
					)
					.digest('base64url');
				const oneOffKey = `${o.oneOffKey || templateId.slice(0, 16)}|${primary}`;
				if (o.oneOff && state.oneOff[oneOffKey]) {
					skip(
						'ONE_OFF',
						`this one-off template was already sent to ${primary} on ${new Date(state.oneOff[oneOffKey]).toISOString()}`,
					);
					continue;
				}

				const from = senderOf(creds, this.getNodeParameter('from', i, '') as string);
				const fromAddress = from.address;

				// templateId stays the texts' hash (stored one-off keys use it); the cache key adds
				// which fields are literal.
				const compiledKey = `${templateId}|${+subjectSource.literal}${+htmlSource.literal}${+textSource.literal}`;
				let templates = compiled.get(compiledKey);
				if (!templates) {
					templates = compileAll(
						subjectSource,
						htmlSource,
						textSource,
						o.unknownPlaceholders ?? 'keep',
					);
					compiled.set(compiledKey, templates);
				}
				const recipient = {
					address: primary,
					name: replyTo && mode !== 'send' ? replyTo.name : '',
				};
				const optOut = o.optOutBaseUrl ? optOutUrl(o.optOutBaseUrl, key, primary) : null;
				const sender = { address: fromAddress, name: o.userName || from.name };
				const date = new Date(now);
				const htmlContext = templateContext(json, recipient, sender, optOut, true, date);
				const textContext = templateContext(json, recipient, sender, optOut, false, date);
				let html = templates.html?.render(htmlContext) ?? '';
				let text = templates.text?.render(textContext) ?? '';
				if (o.bulk && optOut) {
					// As EspoCRM's mass email: a body without the link gets one.
					if (html && !html.includes(escapeHtml(optOut)))
						html += `\n<p><a href="${escapeHtml(optOut)}">Unsubscribe</a></p>`;
					if (text && !text.includes(optOut)) text += `\n\nUnsubscribe: ${optOut}`;
				}
				const caseInfo = (
					json.case && typeof json.case === 'object' ? json.case : null
				) as IDataObject | null;
				const caseNumber =
					caseInfo && Number.isSafeInteger(Number(caseInfo.number))
						? Number(caseInfo.number)
						: null;
				const signature =
					(o.signatureHtml || o.signatureText) && (mode !== 'autoReply' || o.signatureOnAutoReply)
						? {
								html: o.signatureHtml ?? '',
								text: o.signatureText ?? '',
								placement: o.signaturePlacement ?? 'below',
							}
						: null;
				const composed = compose({
					mode,
					mail,
					subject: templates.subject.render(textContext).replace(/[\r\n]+/g, ' '),
					html,
					text,
					caseNumber,
					caseTag: o.caseTag ?? '[#{number}]',
					quoteOriginal: o.quoteOriginal === true,
					signature,
				});
				const parent = (
					json.parent && typeof json.parent === 'object' ? json.parent : null
				) as IDataObject | null;
				const messageId = generateMessageId(
					caseNumber !== null
						? {
								parentType: 'Case',
								parentId: caseInfo?.id ? String(caseInfo.id) : null,
								caseNumber,
							}
						: {
								parentType: parent?.type ? String(parent.type) : null,
								parentId: parent?.id ? String(parent.id) : null,
								caseNumber: null,
							},
					{ key, domain: fromAddress.split('@')[1] ?? 'localhost' },
				);
				const attachments = [];
				for (const property of String(o.attachments ?? '')
					.split(/[,;]/)
					.map((p) => p.trim())
					.filter(Boolean)) {
					const binary = this.helpers.assertBinaryData(i, property);
					attachments.push({
						filename: binary.fileName ?? property,
						contentType: binary.mimeType,
						content: await this.helpers.getBinaryDataBuffer(i, property),
					});
				}
				const outgoing: OutgoingMail = {
					from,
					to,
					cc,
					bcc,
					subject: composed.subject,
					html: composed.html,
					text: composed.text,
					messageId,
					inReplyTo: composed.inReplyTo,
					references: composed.references,
					headers: { ...composed.headers, ...(o.bulk ? { Precedence: 'bulk' } : {}) },
					listUnsubscribe: o.bulk && optOut ? { url: optOut, oneClick: true } : null,
					attachments,
				};
				const sending = sendKey({
					index: i,
					item: json,
					templateId,
					from: from.address,
					recipients: [...to, ...cc, ...bcc].map((m) => m.address),
				});
				if (state.sending[sending]) {
					skip(
						'SENT_BY_FAILED_EXECUTION',
						`an execution that then failed sent this mail (or was sending it) on ${new Date(state.sending[sending]).toISOString()}; not sent again, so that its retry sends no duplicate`,
					);
					continue;
				}
				const raw = await buildRaw(outgoing, date);
				// Counted now, so later items of this execution see it; taken back if sending fails.
				if (mode === 'autoReply') recordReply(state, primary, now);
				if (o.oneOff) state.oneOff[oneOffKey] = now;
				state.sending[sending] = now;
				const release = () => {
					if (mode === 'autoReply') forgetReply(state, primary, now);
					if (o.oneOff) delete state.oneOff[oneOffKey];
					delete state.sending[sending];
				};
				const job = async () => {
					let delivered;
					try {
						delivered = await delivery.send(raw, {
							from: fromAddress,
							to: [...to, ...cc, ...bcc].map((a) => a.address),
						});
					} catch (error) {
						release();
						fail(i, error);
						return;
					}
					sentKeys.push(sending);
					let sentFolder: IDataObject | null = null;
					if (imapCreds) {
						const folder = o.sentFolder || 'Sent';
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
								messageId,
								from: fromAddress,
								to: to.map((a) => a.address),
								cc: cc.map((a) => a.address),
								bcc: bcc.map((a) => a.address),
								subject: composed.subject,
								inReplyTo: composed.inReplyTo,
								response: delivered.response,
								accepted: delivered.accepted,
								rejected: delivered.rejected,
								attempts: delivered.attempts,
								...(sentFolder ? { sentFolder } : {}),
							},
						},
						binary: item.binary,
						pairedItem,
					});
				};
				ready.push({ job, release });
			} catch (error) {
				if (!this.continueOnFail())
					throw new NodeOperationError(this.getNode(), (error as Error).message, {
						itemIndex: i,
						description: isCrmEmailError(error) ? `code: ${error.code}` : undefined,
					});
				fail(i, error);
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
	// fails they are still there for the retry of this (then failed) execution.
	for (const k of sentKeys) delete state.sending[k];
	let saved = false;
	try {
		nodeState.save();
		saved = true;
	} finally {
		if (!saved) for (const k of sentKeys) state.sending[k] = now;
	}
	// Sends finish out of order; outputs keep the input order.
	const byIndex = (a: INodeExecutionData, b: INodeExecutionData) =>
		(a.pairedItem as { item: number }).item - (b.pairedItem as { item: number }).item;
	return [sent.sort(byIndex), notSent.sort(byIndex), failed.sort(byIndex)];
}
