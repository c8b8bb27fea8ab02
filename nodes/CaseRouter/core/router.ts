/**
 * Email-to-case: for each mail, follow-up of a known case, a new case, or ignored.
 *   follow-up: the thread (In-Reply-To / References) names a case — our own signed Message-IDs
 *              carry it, mails routed earlier are in the store, the Parent Linker may have found a
 *              Case — or the subject carries the case tag of a known case;
 *   ignored:   auto-submitted mail, bounces, mail from our own addresses;
 *   new case:  otherwise (an unknown tag: new case, or ignored by option).
 * Items are routed in order against the store, so two mails of one new thread in one batch make
 * one case.
 */
import { execRegex } from '../../shared/safeRegex';
import { normalizeMessageId, threadMessageIds, type ThreadRef } from '../../shared/threadId';
import { eligible, leastBusy, roundRobin, type Strategy } from './assign';
import type { CaseRecord, CaseStore } from './store';

export interface RouterConfig {
	/** Regex with one capture group for the number. */
	tagPattern: RegExp;
	unknownTag: 'newCase' | 'ignore';
	/** vtiger's guard: a follow-up's sender must be the case's contact or of its account. */
	senderMustMatch: boolean;
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

export interface RoutableMail {
	messageId?: unknown;
	inReplyTo?: unknown;
	references?: unknown;
	subject?: unknown;
	text?: unknown;
	from?: unknown;
	headers?: unknown;
	parent?: unknown;
	contact?: unknown;
	account?: unknown;
	lead?: unknown;
}

export type Route = 'newCase' | 'followUp' | 'ignored';

export interface Routed {
	route: Route;
	reason: string;
	case: (CaseRecord & { isNew: boolean; description?: string }) | null;
}

const NOT_A_PERSON = /^(mailer-daemon|postmaster)@/i;

function str(v: unknown): string {
	return typeof v === 'string' ? v : '';
}

function idOf(v: unknown): string | null {
	if (!v || typeof v !== 'object') return null;
	const id = (v as { id?: unknown }).id;
	return id === undefined || id === null || id === '' ? null : String(id);
}

function headerOf(mail: RoutableMail, name: string): string | null {
	const h =
		mail.headers && typeof mail.headers === 'object'
			? (mail.headers as Record<string, unknown>)
			: {};
	const v = h[name];
	return typeof v === 'string' ? v.trim() : null;
}

function fromAddress(mail: RoutableMail): string {
	const f = mail.from;
	if (typeof f === 'string') return f.trim().toLowerCase();
	if (f && typeof f === 'object')
		return str((f as { address?: unknown }).address)
			.trim()
			.toLowerCase();
	return '';
}

export function ignoreReason(mail: RoutableMail, own: Set<string>): string | null {
	const auto = headerOf(mail, 'auto-submitted');
	if (auto && auto.toLowerCase().split(/[;\s]/)[0] !== 'no')
		return `auto-submitted (Auto-Submitted: ${auto})`;
	if (headerOf(mail, 'x-autoreply') !== null) return 'auto-submitted (X-Autoreply)';
	if (headerOf(mail, 'x-autorespond') !== null) return 'auto-submitted (X-Autorespond)';
	if ((headerOf(mail, 'content-type') ?? '').toLowerCase().startsWith('multipart/report'))
		return 'bounce (multipart/report)';
	const from = fromAddress(mail);
	if (NOT_A_PERSON.test(from)) return `bounce (from ${from})`;
	if (headerOf(mail, 'return-path') === '<>') return 'bounce (empty Return-Path)';
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
}

async function findByThread(
	mail: RoutableMail,
	store: CaseStore,
	c: RouterConfig,
): Promise<Found | null> {
	for (const id of threadMessageIds(mail)) {
		const own = c.parseOwnId?.(id);
		if (own?.caseNumber !== null && own?.caseNumber !== undefined)
			return { number: own.caseNumber, via: `our Message-ID ${id}` };
		const known = await store.caseForMessage(id);
		if (known !== undefined) return { number: known, via: `thread (${id})` };
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
		return { number: Number(parent.caseNumber), via: 'Parent Linker (Case)' };
	return null;
}

function findByTag(subject: string, c: RouterConfig): number | null {
	const { match } = execRegex(c.tagPattern, subject.slice(0, 2000), 50);
	const n = match?.[1] !== undefined ? Number(match[1]) : NaN;
	return Number.isSafeInteger(n) && n > 0 ? n : null;
}

async function assign(store: CaseStore, c: RouterConfig): Promise<string | null> {
	const s = c.strategy;
	if (s.kind === 'none') return null;
	if (s.kind === 'direct') return s.userId || null;
	const members = eligible(s.members, s.role);
	if (s.kind === 'roundRobin') {
		const pool = `${c.team ?? ''}|${s.role ?? ''}`;
		const next = roundRobin(members, await store.lastAssignee(pool));
		if (next) await store.setLastAssignee(pool, next.id);
		return next?.id ?? null;
	}
	const counts = c.openCounts ?? (await store.openCounts(c.closed));
	const chosen = leastBusy(members, counts);
	// The counts may be shared by the items of one execution: keep them true as cases are opened.
	if (chosen) counts.set(chosen.id, (counts.get(chosen.id) ?? 0) + 1);
	return chosen?.id ?? null;
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
	});

	let found = await findByThread(mail, store, c);
	let unknownTag: number | null = null;
	if (!found) {
		const tagged = findByTag(subject, c);
		if (tagged !== null) {
			if (await store.getCase(tagged))
				found = { number: tagged, via: `subject tag of case ${tagged}` };
			else unknownTag = tagged;
		}
	}
	if (found) {
		const existing = await store.getCase(found.number);
		const senderOk =
			!c.senderMustMatch ||
			!existing ||
			(contactId !== null && contactId === existing.contactId) ||
			(accountId !== null && accountId === existing.accountId);
		if (senderOk) {
			// Unknown to the ledger: known only from our signed Message-ID (the ledger forgot it, or
			// another store made it).
			let record = existing ?? newRecord(found.number, null);
			let reason = `follow-up via ${found.via}`;
			if (c.reopenOnReply && c.closed.has(record.status.toLowerCase())) {
				record = { ...record, status: record.assignee ? 'Assigned' : 'New' };
				reason += '; reopened';
			}
			record = { ...record, updatedAt: c.now };
			await store.putCase(record);
			if (messageId) await store.linkMessage(messageId, record.number);
			return { route: 'followUp', reason, case: { ...record, isNew: false } };
		}
	}
	if (unknownTag !== null && c.unknownTag === 'ignore')
		return {
			route: 'ignored',
			reason: `subject tag [#${unknownTag}] names no known case`,
			case: null,
		};

	const number = await store.nextNumber();
	const assignee = await assign(store, c);
	const record = newRecord(number, assignee);
	await store.putCase(record);
	if (messageId) await store.linkMessage(messageId, number);
	const why = found
		? `new case: the sender is not the contact of case ${found.number} nor of its account`
		: unknownTag !== null
			? `new case: subject tag [#${unknownTag}] names no known case`
			: 'new case: first mail of its thread';
	return {
		route: 'newCase',
		reason: why,
		case: { ...record, isNew: true, description: str(mail.text) },
	};
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
