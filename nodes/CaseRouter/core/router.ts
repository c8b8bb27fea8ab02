/**
 * Email-to-case: for each mail, follow-up of a known case, a new case, or ignored.
 *   follow-up: the thread (In-Reply-To / References) names a case — our own signed Message-IDs
 *              carry it, mails routed earlier are in the store, the Parent Linker may have found a
 *              Case — or the subject carries the case tag of a known case;
 *   ignored:   auto-submitted mail, bounces, mail from our own addresses;
 *   new case:  otherwise (an unknown tag: new case, or ignored by option).
 * Who may join a case (`joinPolicy`): by default a mail joins only through one of our signed
 * Message-IDs, or when its sender is the case's contact, of its account, or an earlier participant
 * of the case; a stranger quoting a known `[#N]` or a customer's Message-ID opens a new case
 * instead, so nobody can read or reopen another customer's case by guessing its number.
 * Items are routed in order against the store, so two mails of one new thread in one batch make
 * one case.
 */
import { createHash } from 'node:crypto';

import {
	addressOf,
	automatedReason,
	replyTextOf,
	str,
	type MailItemView,
} from '../../shared/mailItem';
import { execRegex } from '../../shared/safeRegex';
import { normalizeMessageId, threadMessageIds, type ThreadRef } from '../../shared/threadId';
import type { Assignment } from '../../shared/state/types';
import { eligible, leastBusy, type Strategy } from './assign';
import type { CaseRecord, CaseStore } from './store';

export interface RouterConfig {
	/** Regex with one capture group for the number. */
	tagPattern: RegExp;
	unknownTag: 'newCase' | 'ignore';
	/**
	 * participants: a signed Message-ID of ours, or a sender who is the case's contact, of its
	 *   account, or an earlier participant (default);
	 * contactOrAccount: vtiger's guard, the sender must be the case's contact or of its account;
	 * anyone: EspoCRM's behaviour, any thread reference or known tag joins.
	 */
	joinPolicy: JoinPolicy;
	reopenOnReply: boolean;
	/** Lower-case statuses that count as closed. */
	closed: Set<string>;
	own: Set<string>;
	team: string | null;
	strategy: Strategy;
	/**
	 * Open cases per member — from outside (the CRM), or counted from the ledger once per
	 * execution — updated as cases are assigned; null: count the ledger for each new case.
	 */
	openCounts: Map<string, number> | null;
	parseOwnId: ((messageId: string) => ThreadRef | null) | null;
	now: number;
}

export type JoinPolicy = 'participants' | 'contactOrAccount' | 'anyone';

/** Most participant addresses kept on a case. */
export const MAX_PARTICIPANTS = 50;

export interface RoutableMail extends MailItemView {
	parent?: unknown;
	contact?: unknown;
	account?: unknown;
	lead?: unknown;
}

export type Route = 'newCase' | 'followUp' | 'ignored';

export interface Routed {
	route: Route;
	reason: string;
	/**
	 * The case, with what the mail adds to it (not kept in the ledger): a new case's
	 * `description`, a follow-up's `text` — the sender's reply without quote and signature.
	 */
	case: (CaseRecord & { isNew: boolean; description?: string; text?: string }) | null;
}

const NOT_A_PERSON = /^(mailer-daemon|postmaster)@/i;

function idOf(v: unknown): string | null {
	if (!v || typeof v !== 'object') return null;
	const id = (v as { id?: unknown }).id;
	return id === undefined || id === null || id === '' ? null : String(id);
}

function fromAddress(mail: RoutableMail): string {
	return addressOf(mail.from);
}

/** From, To and Cc of a mail, lower-case, without our own addresses. */
function participantsOf(mail: RoutableMail, own: Set<string>): string[] {
	const list = (v: unknown) => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
	return [mail.from, ...list(mail.to), ...list(mail.cc)]
		.map(addressOf)
		.filter((a) => a.includes('@') && !own.has(a));
}

function withParticipants(record: CaseRecord, added: string[]): CaseRecord {
	const all = [...new Set([...(record.participants ?? []), ...added])];
	// Keep the earliest: the case's first people are the ones most likely to write again.
	return { ...record, participants: all.slice(0, MAX_PARTICIPANTS) };
}

export function ignoreReason(mail: RoutableMail, own: Set<string>): string | null {
	const automated = automatedReason(mail);
	if (automated) return automated;
	const from = fromAddress(mail);
	if (NOT_A_PERSON.test(from)) return `bounce (from ${from})`;
	if (from && own.has(from)) return `from our own address ${from}`;
	return null;
}

/** Case name from a subject: no Re:/Fwd: prefixes, no case tags, "(No Subject)" when empty. */
export function caseName(subject: string, tag: RegExp): string {
	const global = new RegExp(tag.source, tag.flags.includes('g') ? tag.flags : `${tag.flags}g`);
	let s = subject.slice(0, 2000).replace(global, ' ');
	const prefix = /^\s*(re|aw|sv|vs|fw|fwd|wg|tr|odg|réf)\s*(\[\d+\])?\s*:\s*/i;
	while (prefix.test(s)) s = s.replace(prefix, '');
	s = s.replace(/\s+/g, ' ').trim();
	return s || '(No Subject)';
}

interface Found {
	number: number;
	via: string;
	/** Found through one of our signed Message-IDs: the sender holds a mail we sent. */
	signed: boolean;
}

async function findByThread(
	mail: RoutableMail,
	store: CaseStore,
	c: RouterConfig,
): Promise<Found | null> {
	for (const id of threadMessageIds(mail)) {
		const own = c.parseOwnId?.(id);
		if (own?.caseNumber !== null && own?.caseNumber !== undefined)
			return { number: own.caseNumber, via: `our Message-ID ${id}`, signed: true };
		const known = await store.caseForMessage(id);
		if (known !== undefined) return { number: known, via: `thread (${id})`, signed: false };
	}
	const parent =
		mail.parent && typeof mail.parent === 'object'
			? (mail.parent as Record<string, unknown>)
			: null;
	if (
		parent &&
		parent.type === 'Case' &&
		Number.isSafeInteger(Number(parent.caseNumber)) &&
		parent.caseNumber !== null
	)
		return { number: Number(parent.caseNumber), via: 'Parent Linker (Case)', signed: false };
	return null;
}

function findByTag(subject: string, c: RouterConfig): number | null {
	const { match } = execRegex(c.tagPattern, subject.slice(0, 2000), 50);
	const n = match?.[1] !== undefined ? Number(match[1]) : NaN;
	return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** Who gets a new case: decided here from given counts, or by the store (ledger, round-robin). */
function assignment(c: RouterConfig): Assignment {
	const s = c.strategy;
	if (s.kind === 'none') return { kind: 'fixed', userId: null };
	if (s.kind === 'direct') return { kind: 'fixed', userId: s.userId || null };
	const members = eligible(s.members, s.role);
	if (s.kind === 'roundRobin')
		return {
			kind: 'roundRobin',
			pool: `${c.team ?? ''}|${s.role ?? ''}`,
			members: members.map((m) => m.id),
		};
	if (!c.openCounts)
		return { kind: 'leastBusy', members: members.map((m) => m.id), closed: [...c.closed] };
	const chosen = leastBusy(members, c.openCounts);
	// The counts are shared by the items of one execution: keep them true as cases are opened.
	if (chosen) c.openCounts.set(chosen.id, (c.openCounts.get(chosen.id) ?? 0) + 1);
	return { kind: 'fixed', userId: chosen?.id ?? null };
}

/**
 * What tells a mail from another one that reuses its Message-ID: routing the same mail again (a
 * Retry, a rerun after a crash) returns its case; a stranger's mail carrying a customer's
 * Message-ID is routed on its own merits and never handed the customer's case.
 */
export function mailFingerprint(mail: RoutableMail): string {
	return createHash('sha256')
		.update(JSON.stringify([fromAddress(mail), str(mail.subject), str(mail.date)]))
		.digest('base64url')
		.slice(0, 16);
}

export async function routeMail(
	mail: RoutableMail,
	store: CaseStore,
	c: RouterConfig,
): Promise<Routed> {
	const ignored = ignoreReason(mail, c.own);
	if (ignored) return { route: 'ignored', reason: ignored, case: null };
	const messageId = typeof mail.messageId === 'string' ? normalizeMessageId(mail.messageId) : null;
	const subject = str(mail.subject);
	const contactId = idOf(mail.contact);
	const accountId = idOf(mail.account);
	const sender = fromAddress(mail);
	const people = participantsOf(mail, c.own);
	const newRecord = (number: number, assignee: string | null): CaseRecord => ({
		number,
		id: `case-${number}`,
		name: caseName(subject, c.tagPattern),
		status: assignee ? 'Assigned' : 'New',
		assignee,
		team: c.team,
		contactId,
		accountId,
		leadId: idOf(mail.lead),
		createdAt: c.now,
		updatedAt: c.now,
		participants: people.slice(0, MAX_PARTICIPANTS),
	});

	const before = messageId ? await store.routedMail(messageId) : undefined;
	const again = before && before.fingerprint === mailFingerprint(mail) ? before : undefined;
	if (again) {
		const record = await store.getCase(again.number);
		if (record)
			return {
				route: again.route,
				reason: `routed before to case ${again.number} (same mail again, e.g. a retried execution)`,
				case: { ...record, isNew: again.route === 'newCase' },
			};
		// Its number was handed out but the case not written (a crash in between): open it now.
	}

	let found = await findByThread(mail, store, c);
	let unknownTag: number | null = null;
	if (!found) {
		const tagged = findByTag(subject, c);
		if (tagged !== null) {
			if (await store.getCase(tagged))
				found = { number: tagged, via: `subject tag of case ${tagged}`, signed: false };
			else unknownTag = tagged;
		}
	}
	let refused: string | null = null;
	if (found) {
		const existing = await store.getCase(found.number);
		// The Parent Linker also links through the thread, Reply-To, To and Cc: a stranger who copies
		// a customer, or answers one of the customer's mails, gets that customer's contact. Only a
		// contact or account found by the sender's own From address vouches for the sender.
		const via = parentVia(mail);
		const bySender = via === null || via === 'from';
		const who = existing
			? senderStanding(existing, bySender ? contactId : null, bySender ? accountId : null, sender)
			: null;
		const joins =
			c.joinPolicy === 'anyone' ||
			(c.joinPolicy === 'contactOrAccount'
				? !existing || who === 'contact' || who === 'account'
				: found.signed || who !== null);
		if (!joins)
			refused = existing
				? `${sender || 'the sender'} is not the contact of case ${found.number}${
						c.joinPolicy === 'participants'
							? ', of its account, nor an earlier participant'
							: ' nor of its account'
					} (found by ${found.via})`
				: `case ${found.number} (found by ${found.via}) is not in the ledger and the mail carries no signed Message-ID of ours`;
		else {
			// Unknown to the ledger: known only from our signed Message-ID (the ledger forgot it, or
			// another store made it).
			let record = withParticipants(existing ?? newRecord(found.number, null), people);
			let reason = `follow-up via ${found.via}${
				found.signed ? '' : who ? ` (the sender is ${STANDING[who]})` : ''
			}`;
			if (c.reopenOnReply && c.closed.has(record.status.toLowerCase())) {
				record = { ...record, status: record.assignee ? 'Assigned' : 'New' };
				reason += '; reopened';
			}
			record = { ...record, updatedAt: c.now };
			await store.putCase(record);
			// Routed again, a follow-up finds its case the same way: only new cases need recording.
			if (messageId) await store.linkMessage(messageId, record.number);
			return {
				route: 'followUp',
				reason,
				case: { ...record, isNew: false, text: replyTextOf(mail) },
			};
		}
	}
	if (unknownTag !== null && c.unknownTag === 'ignore')
		return {
			route: 'ignored',
			reason: `subject tag [#${unknownTag}] names no known case`,
			case: null,
		};

	let number = again?.route === 'newCase' ? again.number : await store.nextNumber();
	if (messageId) {
		// Recorded before the case is written: a rerun after a crash in between opens this number,
		// and of two workers routing the same mail at once both open the one recorded first.
		const fingerprint = mailFingerprint(mail);
		const recorded = await store.recordRoute(messageId, { number, route: 'newCase', fingerprint });
		if (recorded.fingerprint === fingerprint && recorded.route === 'newCase')
			number = recorded.number;
	}
	const record = await store.openCase(
		number,
		(assignee) => newRecord(number, assignee),
		assignment(c),
	);
	if (messageId) await store.linkMessage(messageId, number);
	const why = refused
		? `new case: ${refused}`
		: unknownTag !== null
			? `new case: subject tag [#${unknownTag}] names no known case`
			: 'new case: first mail of its thread';
	return {
		route: 'newCase',
		reason: why,
		case: { ...record, isNew: true, description: replyTextOf(mail) },
	};
}

/** How the Parent Linker found the mail's records (`parent.via`), or null when it did not say. */
function parentVia(mail: RoutableMail): string | null {
	const via =
		mail.parent && typeof mail.parent === 'object'
			? (mail.parent as { via?: unknown }).via
			: undefined;
	return typeof via === 'string' ? via : null;
}

type Standing = 'contact' | 'account' | 'participant';

const STANDING: Record<Standing, string> = {
	contact: "the case's contact",
	account: 'of its account',
	participant: 'an earlier participant',
};

/** How the sender stands to a case, or null for a stranger. */
function senderStanding(
	record: CaseRecord,
	contactId: string | null,
	accountId: string | null,
	sender: string,
): Standing | null {
	if (contactId !== null && contactId === record.contactId) return 'contact';
	if (accountId !== null && accountId === record.accountId) return 'account';
	if (sender && (record.participants ?? []).includes(sender)) return 'participant';
	return null;
}

export interface StatusUpdate {
	number: number;
	status?: string;
	assignee?: string | null;
	now: number;
}

/** Close / reopen / reassign a case, so the ledger (and least-busy) stays true. */
export async function updateCase(store: CaseStore, u: StatusUpdate): Promise<CaseRecord | null> {
	const existing = await store.getCase(u.number);
	if (!existing) return null;
	const record: CaseRecord = {
		...existing,
		...(u.status ? { status: u.status } : {}),
		...(u.assignee !== undefined ? { assignee: u.assignee } : {}),
		updatedAt: u.now,
	};
	await store.putCase(record);
	return record;
}
