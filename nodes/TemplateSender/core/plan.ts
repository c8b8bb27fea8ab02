/**
 * The Template Sender's decision for one item: the mail to send, or why none is sent. Recipients,
 * loop guard, opt-out, the From check, templates, composing, and the marks the mail must claim in
 * the state store before it goes out (rate limit, one-off, the per-mail send mark) with the reason
 * when a claim is refused. Plain data in and out; the n8n glue reads parameters, claims the marks
 * in the store and talks SMTP.
 */
import { createHash } from 'node:crypto';

import { ownAddressSet, parseAddresses, type Mailbox } from '../../shared/addresses';
import { CrmEmailError } from '../../shared/errors';
import type { MailItemView } from '../../shared/mailItem';
import { generateMessageId } from '../../shared/threadId';
import { senderOf, type SmtpCredentials } from '../../shared/transport/smtp';
import { compose, replyRecipient, type SendMode } from './compose';
import { incoming, templateContext } from './context';
import { loopGuard } from './loopGuard';
import { honouredOptOutList, linkOptOutList, optOutUrl } from './optOut';
import { sendKey, type RateLimit } from './state';
import {
	compileTemplate,
	escapeHtml,
	literalTemplate,
	type CompiledTemplate,
	type UnknownPlaceholders,
} from './template';

/** The node's Operation parameter. */
export type Operation = SendMode;

/** Options of the panel. Those that do not apply to the operation are ignored, as n8n hides them. */
export interface SenderOptions {
	toOverride?: string;
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
	optOutListName?: string;
	oneOff?: boolean;
	oneOffKey?: string;
	replyToAll?: boolean;
	rateLimit?: number;
	rateWindowHours?: number;
	ownAddresses?: string;
	sentFolder?: string;
	retries?: number;
	retryDelayMs?: number;
}

export interface TemplateSource {
	text: string;
	/** Set by an n8n expression: its result is data, sent as it is, never compiled. */
	literal: boolean;
}

/** The node's parameters for one item, as n8n resolved them. */
export interface SenderParameters {
	operation: Operation;
	from: string;
	/** Send only; the reply operations answer the mail. */
	to: unknown;
	cc: unknown;
	bcc: unknown;
	subject: TemplateSource;
	bodyHtml: TemplateSource;
	bodyText: TemplateSource;
	options: SenderOptions;
}

export interface Templates {
	subject: CompiledTemplate;
	html: CompiledTemplate | null;
	text: CompiledTemplate | null;
}

/** What a plan reads besides the item: the credential, the signing key, the rate limit. */
export interface PlanContext {
	creds: SmtpCredentials;
	/** Signs Message-IDs and opt-out links. */
	key: Buffer;
	limit: RateLimit;
	now: number;
	/** Compiled templates by texts, kept across the items of an execution. */
	templates: Map<string, Templates>;
	/** Per named opt-out list, the recipients of this execution's bulk mail that are on it. */
	optedOut?: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The mail as it goes out; the glue adds the attachments. */
export interface MailToSend {
	/** Parsed mailboxes, the same the envelope is made of. */
	from: Mailbox;
	to: Mailbox[];
	cc: Mailbox[];
	bcc: Mailbox[];
	subject: string;
	html: string;
	text: string;
	messageId: string;
	inReplyTo: string | null;
	references: string[];
	headers: Record<string, string>;
	listUnsubscribe: { url: string; oneClick: boolean } | null;
}

/**
 * What the mail claims in the state store before it goes out, in this order (see claimRefusal);
 * taken back if it certainly did not reach SMTP.
 */
export interface Marks {
	/** Send key (see sendKey): this incoming mail answered with this template. */
	send: string;
	/** The recipient counted against the auto-reply rate limit. */
	reply: string | null;
	oneOff: string | null;
}

export interface PlannedMail {
	mail: MailToSend;
	envelope: { from: string; to: string[] };
	marks: Marks;
}

export type SkipCode =
	| 'INVALID_RECIPIENT'
	| 'NO_RECIPIENT'
	| 'LOOP_GUARD'
	| 'RATE_LIMIT'
	| 'OPTED_OUT'
	| 'ONE_OFF'
	| 'ALREADY_SENT'
	| 'SENT_BY_FAILED_EXECUTION';

export interface Skip {
	code: SkipCode;
	reason: string;
}

export type Plan = { send: PlannedMail } | { skip: Skip };

function compileOne(
	source: TemplateSource,
	o: { where: string; html: boolean; unknown: UnknownPlaceholders },
): CompiledTemplate {
	return source.literal ? literalTemplate(source.text) : compileTemplate(source.text, o);
}

function compiledTemplates(p: SenderParameters, templateId: string, ctx: PlanContext): Templates {
	// templateId is the texts' hash (stored one-off keys use it); the cache key adds which fields
	// are literal.
	const cacheKey = `${templateId}|${+p.subject.literal}${+p.bodyHtml.literal}${+p.bodyText.literal}`;
	let templates = ctx.templates.get(cacheKey);
	if (!templates) {
		const unknown = p.options.unknownPlaceholders ?? 'keep';
		templates = {
			subject: compileOne(p.subject, { where: 'Subject', html: false, unknown }),
			html: p.bodyHtml.text
				? compileOne(p.bodyHtml, { where: 'HTML Body', html: true, unknown })
				: null,
			text: p.bodyText.text
				? compileOne(p.bodyText, { where: 'Text Body', html: false, unknown })
				: null,
		};
		ctx.templates.set(cacheKey, templates);
	}
	return templates;
}

function record(v: unknown): Record<string, unknown> | null {
	return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
}

/**
 * The decision for item `index`. Skips are results (the item goes to Not Sent with the reason);
 * a configuration the item cannot be sent with throws a CrmEmailError (From not allowed, both
 * bodies empty, a broken template). The state is not read: the glue claims the plan's marks.
 */
export function plan(
	index: number,
	item: MailItemView & Record<string, unknown>,
	p: SenderParameters,
	ctx: PlanContext,
): Plan {
	const o = p.options;
	const op = p.operation;
	const skip = (code: SkipCode, reason: string): Plan => ({ skip: { code, reason } });
	const mail = incoming(item);

	// Recipients: parsed once; the header and the envelope get these same mailboxes.
	const invalid: string[] = [];
	const recipients = (value: unknown, where: string): Mailbox[] => {
		const parsed = parseAddresses(value);
		for (const bad of parsed.invalid) invalid.push(`${where}: ${JSON.stringify(bad)}`);
		return parsed.mailboxes;
	};
	const replyTo = replyRecipient(mail);
	const to =
		op === 'send'
			? recipients(p.to, 'To')
			: o.toOverride
				? recipients(o.toOverride, 'Reply To Instead')
				: replyTo
					? recipients(replyTo, mail.replyTo.length ? "the mail's Reply-To" : "the mail's From")
					: [];
	const cc = recipients(p.cc, 'Cc');
	const bcc = recipients(p.bcc, 'Bcc');
	const own = (): Set<string> => {
		const set = ownAddressSet(
			o.ownAddresses ?? '',
			ctx.creds.defaultFrom,
			ctx.creds.allowedFrom.filter((a) => !a.includes('*') && !a.includes('?')),
		);
		set.add(ctx.creds.user.toLowerCase());
		return set;
	};
	if (op === 'reply' && o.replyToAll) {
		const caseInfo = record(item.case);
		const people = recipients(
			Array.isArray(caseInfo?.participants) ? caseInfo.participants : [],
			"the case's participants",
		);
		const ours = own();
		ours.add(senderOf(ctx.creds, p.from).address.toLowerCase());
		const taken = new Set([...to, ...cc, ...bcc].map((a) => a.address.toLowerCase()));
		for (const person of people) {
			const address = person.address.toLowerCase();
			if (ours.has(address) || taken.has(address)) continue;
			taken.add(address);
			cc.push(person);
		}
	}
	if (invalid.length)
		// Never sent to part of the list, nor elsewhere: the whole item stays unsent.
		return skip('INVALID_RECIPIENT', `not one clean address each: ${invalid.join('; ')}`);
	if (to.length === 0)
		return skip(
			'NO_RECIPIENT',
			op === 'send' ? 'To is empty' : 'the mail has neither Reply-To nor From',
		);
	const primary = to[0].address.toLowerCase();
	const all = [...to, ...cc, ...bcc].map((a) => a.address);

	if (op === 'autoReply') {
		const verdict = loopGuard({
			from: mail.from?.address ?? null,
			replyTo: mail.replyTo.map((a) => a.address),
			headers: item.headers,
			own: own(),
		});
		if (!verdict.reply) return skip('LOOP_GUARD', verdict.reason as string);
	}
	// Read as generously as Our Addresses: a missed opt-out mails someone who unsubscribed.
	const optedOut = ownAddressSet(o.optOutList ?? []);
	const listName = op === 'send' ? honouredOptOutList(o) : null;
	const named = listName ? ctx.optedOut?.get(listName) : undefined;
	if (listName && !named)
		// The glue reads every list its items honour first: never send on an unread list.
		throw new CrmEmailError('STATE_READ_FAILED', `The opt-out list "${listName}" was not read`);
	const stopped = all.map((a) => a.toLowerCase()).filter((a) => optedOut.has(a) || named?.has(a));
	if (stopped.length) return skip('OPTED_OUT', `${stopped.join(', ')} opted out`);

	if (!p.bodyHtml.text && !p.bodyText.text)
		throw new CrmEmailError(
			'CONFIG_INVALID',
			'HTML Body and Text Body are both empty: write at least one',
		);
	const templateId = createHash('sha256')
		.update(`${o.unknownPlaceholders}\0${p.subject.text}\0${p.bodyHtml.text}\0${p.bodyText.text}`)
		.digest('base64url');
	const oneOffKey = o.oneOff ? `${o.oneOffKey || templateId.slice(0, 16)}|${primary}` : null;

	const from = senderOf(ctx.creds, p.from);
	const templates = compiledTemplates(p, templateId, ctx);
	const bulk = op === 'send' && o.bulk === true;
	const optOutBase = op === 'send' ? o.optOutBaseUrl : undefined;
	const optOut = optOutBase
		? optOutUrl(optOutBase, ctx.key, primary, linkOptOutList(o), ctx.now)
		: null;
	const recipient = { address: primary, name: replyTo && op !== 'send' ? replyTo.name : '' };
	const sender = { address: from.address, name: o.userName || from.name };
	const date = new Date(ctx.now);
	const htmlContext = templateContext(item, recipient, sender, optOut, true, date);
	const textContext = templateContext(item, recipient, sender, optOut, false, date);
	let html = templates.html?.render(htmlContext) ?? '';
	let text = templates.text?.render(textContext) ?? '';
	if (bulk && optOut) {
		// As EspoCRM's mass email: a body without the link gets one.
		if (html && !html.includes(escapeHtml(optOut)))
			html += `\n<p><a href="${escapeHtml(optOut)}">Unsubscribe</a></p>`;
		if (text && !text.includes(optOut)) text += `\n\nUnsubscribe: ${optOut}`;
	}
	const caseInfo = record(item.case);
	const caseNumber =
		caseInfo && Number.isSafeInteger(Number(caseInfo.number)) ? Number(caseInfo.number) : null;
	const signature =
		(o.signatureHtml || o.signatureText) && (op !== 'autoReply' || o.signatureOnAutoReply)
			? {
					html: o.signatureHtml ?? '',
					text: o.signatureText ?? '',
					placement: o.signaturePlacement ?? 'below',
				}
			: null;
	const composed = compose({
		mode: op,
		mail,
		subject: templates.subject.render(textContext).replace(/[\r\n]+/g, ' '),
		html,
		text,
		caseNumber,
		caseTag: o.caseTag ?? '[#{number}]',
		quoteOriginal: o.quoteOriginal === true,
		signature,
	});
	const parent = record(item.parent);
	const messageId = generateMessageId(
		caseNumber !== null
			? { parentType: 'Case', parentId: caseInfo?.id ? String(caseInfo.id) : null, caseNumber }
			: {
					parentType: parent?.type ? String(parent.type) : null,
					parentId: parent?.id ? String(parent.id) : null,
					caseNumber: null,
				},
		{ key: ctx.key, domain: from.address.split('@')[1] ?? 'localhost' },
	);
	const send = sendKey({
		operation: op,
		messageId: mail.messageId,
		index,
		item,
		templateId,
		from: from.address,
		recipients: all,
	});
	return {
		send: {
			mail: {
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
				headers: { ...composed.headers, ...(bulk ? { Precedence: 'bulk' } : {}) },
				listUnsubscribe: bulk && optOut ? { url: optOut, oneClick: true } : null,
			},
			envelope: { from: from.address, to: all },
			marks: {
				send,
				reply: op === 'autoReply' && ctx.limit.max > 0 ? primary : null,
				oneOff: oneOffKey,
			},
		},
	};
}

/** A mark the store refused, in the order they are claimed: then the mail is not sent. */
export type Refused =
	| { mark: 'send'; state: 'sending' | 'sent' }
	/** An earlier item of the same input is this same mail. */
	| { mark: 'send'; state: 'twin'; item: number }
	| { mark: 'reply' }
	| { mark: 'oneOff' };

/** Why a mail whose mark the store refused is not sent (the item goes to Not Sent with it). */
export function refusal(refused: Refused, marks: Marks, limit: RateLimit): Skip {
	if (refused.mark === 'send' && refused.state === 'twin')
		return {
			code: 'ALREADY_SENT',
			reason: `item ${refused.item} of this input is the same mail (the same incoming mail, template and operation): sent once`,
		};
	if (refused.mark === 'send')
		return refused.state === 'sent'
			? {
					code: 'ALREADY_SENT',
					reason:
						'this mail (the same incoming mail, template and operation) was sent by an earlier execution: not sent again',
				}
			: {
					code: 'SENT_BY_FAILED_EXECUTION',
					reason:
						'an earlier (or concurrent) execution claimed this mail (the same incoming mail, template and operation) and has not recorded it as sent: it may have gone out, so it is not sent again',
				};
	if (refused.mark === 'reply')
		return {
			code: 'RATE_LIMIT',
			reason: `${marks.reply} already got ${limit.max} auto-replies in the last ${limit.windowMs / 3_600_000} h`,
		};
	return {
		code: 'ONE_OFF',
		reason: `this one-off template was already sent to ${marks.oneOff?.slice(marks.oneOff.lastIndexOf('|') + 1)}`,
	};
}
