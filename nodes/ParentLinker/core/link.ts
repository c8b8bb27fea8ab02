/**
 * Finds the CRM record a mail belongs to, first hit wins (EspoCRM's DefaultParentFinder order):
 *   1. the thread: In-Reply-To and References, newest first, against our own signed Message-IDs
 *      and against mails linked earlier;
 *   2. From; 3. Reply-To; 4. To, then Cc.
 * Per address: the configured type order (default Contact, Account, Lead); a Contact resolves to
 * its Account in B2B mode; a converted Lead to what it became.
 */
import type { MailItemView } from '../../shared/mailItem';
import { threadMessageIds, type ThreadRef } from '../../shared/threadId';
import { unknownSender, type UnknownSender } from './person';
import {
	normalizeAddress,
	type AddressType,
	type CrmRecord,
	type RecordIndex,
	type Want,
} from './records';

export type Via = 'thread' | 'from' | 'replyTo' | 'to' | 'cc';

export interface RecordRef {
	type: string;
	id: string;
	name: string | null;
}

export interface Parent extends RecordRef {
	via: Via;
	/** The address that found it (not for the thread). */
	address: string | null;
	/** For the thread: the Message-ID that named it. */
	messageId: string | null;
}

export interface LinkResult {
	parent: Parent | null;
	account: RecordRef | null;
	contact: RecordRef | null;
	lead: RecordRef | null;
	/** Case number carried by our own Message-ID in the thread, if any. */
	caseNumber: number | null;
	unknownSender: UnknownSender | null;
}

/** What the linker remembers about mails it linked (Message-ID → parent). */
export interface ThreadMemory {
	get(messageId: string): (ThreadRef & { parentType: string; parentId: string }) | undefined;
	set(messageId: string, ref: ThreadRef & { parentType: string; parentId: string }): void;
}

export interface LinkOptions {
	mode: 'b2b' | 'b2c';
	typeOrder: AddressType[];
	/** Reads our own signed Message-IDs; null when verification is off. */
	parseOwnId: ((messageId: string) => ThreadRef | null) | null;
	memory: ThreadMemory | null;
	/** Addresses never used to link (our own mailboxes), lower-case. */
	ignore: Set<string>;
}

export type LinkableMail = Pick<
	MailItemView,
	'messageId' | 'inReplyTo' | 'references' | 'from' | 'replyTo' | 'to' | 'cc'
>;

function ref(r: CrmRecord | undefined, type: string, id: string): RecordRef {
	return { type, id, name: r?.name ?? null };
}

/** Addresses of a field, display names dropped, in order. */
export function fieldAddresses(value: unknown): Array<{ address: string; name: string }> {
	const list = Array.isArray(value) ? value : value ? [value] : [];
	const out: Array<{ address: string; name: string }> = [];
	for (const entry of list) {
		if (typeof entry === 'string') {
			for (const part of entry.split(/[,;]/)) {
				const a = normalizeAddress(part);
				if (a)
					out.push({
						address: a,
						name: part
							.replace(/<[^<>]*>\s*$/, '')
							.replace(/"/g, '')
							.trim(),
					});
			}
		} else if (entry && typeof entry === 'object') {
			const e = entry as { address?: unknown; name?: unknown };
			const a = normalizeAddress(e.address);
			if (a) out.push({ address: a, name: typeof e.name === 'string' ? e.name.trim() : '' });
		}
	}
	return out;
}

/** The thread's parent named by our own Message-IDs or the memory, before any record is read. */
function threadHit(mail: LinkableMail, o: LinkOptions) {
	for (const id of threadMessageIds(mail)) {
		const found = o.parseOwnId?.(id) ?? null;
		const hit = found && found.parentType && found.parentId ? found : (o.memory?.get(id) ?? null);
		if (hit && hit.parentType && hit.parentId)
			return { id, hit: hit as ThreadRef & { parentType: string; parentId: string } };
	}
	return null;
}

const ADDRESS_FIELDS = ['from', 'replyTo', 'to', 'cc'] as const;

/** Every address and thread parent the mails can link through: records outside it are not read. */
export function wanted(mails: LinkableMail[], o: LinkOptions): Want {
	const want: Want = { addresses: new Set(), ids: new Map() };
	for (const mail of mails) {
		const t = threadHit(mail, o);
		if (t) {
			let set = want.ids.get(t.hit.parentType);
			if (!set) want.ids.set(t.hit.parentType, (set = new Set()));
			set.add(t.hit.parentId);
		}
		for (const field of ADDRESS_FIELDS)
			for (const { address } of fieldAddresses(mail[field])) want.addresses.add(address);
	}
	return want;
}

function fromThread(mail: LinkableMail, index: RecordIndex, o: LinkOptions): LinkResult | null {
	const t = threadHit(mail, o);
	if (t) {
		const { id, hit } = t;
		const record = index.get(hit.parentType, hit.parentId);
		const accountId = hit.parentType === 'Account' ? hit.parentId : (record?.accountId ?? null);
		return {
			parent: {
				...ref(record, hit.parentType, hit.parentId),
				via: 'thread',
				address: null,
				messageId: id,
			},
			account: accountId ? ref(index.get('Account', accountId), 'Account', accountId) : null,
			contact: hit.parentType === 'Contact' ? ref(record, 'Contact', hit.parentId) : null,
			lead: hit.parentType === 'Lead' ? ref(record, 'Lead', hit.parentId) : null,
			caseNumber: hit.caseNumber ?? null,
			unknownSender: null,
		};
	}
	return null;
}

function fromAddress(
	address: string,
	via: Via,
	index: RecordIndex,
	o: LinkOptions,
): LinkResult | null {
	const entry = index.byEmail(address);
	if (!entry) return null;
	for (const type of o.typeOrder) {
		const r = entry[type];
		if (!r) continue;
		const result: LinkResult = {
			parent: null,
			account: null,
			contact: null,
			lead: null,
			caseNumber: null,
			unknownSender: null,
		};
		const at = (parent: RecordRef): LinkResult => ({
			...result,
			parent: { ...parent, via, address, messageId: null },
		});
		if (type === 'Contact') {
			result.contact = ref(r, 'Contact', r.id);
			if (r.accountId)
				result.account = ref(index.get('Account', r.accountId), 'Account', r.accountId);
			return at(o.mode === 'b2b' && result.account ? result.account : result.contact);
		}
		if (type === 'Account') {
			result.account = ref(r, 'Account', r.id);
			return at(result.account);
		}
		// A converted Lead resolves to what it became.
		const account = r.convertedAccountId;
		const contact = r.convertedContactId;
		if (account || contact) {
			if (contact) result.contact = ref(index.get('Contact', contact), 'Contact', contact);
			if (account) result.account = ref(index.get('Account', account), 'Account', account);
			const preferAccount = o.mode === 'b2b' ? result.account : null;
			return at(preferAccount ?? result.contact ?? (result.account as RecordRef));
		}
		result.lead = ref(r, 'Lead', r.id);
		return at(result.lead);
	}
	return null;
}

export function linkMail(mail: LinkableMail, index: RecordIndex, o: LinkOptions): LinkResult {
	const thread = fromThread(mail, index, o);
	if (thread) return thread;
	const fields: Array<[Via, unknown]> = [
		['from', mail.from],
		['replyTo', mail.replyTo],
		['to', mail.to],
		['cc', mail.cc],
	];
	for (const [via, value] of fields) {
		for (const { address } of fieldAddresses(value)) {
			if (o.ignore.has(address)) continue;
			const hit = fromAddress(address, via, index, o);
			if (hit) return hit;
		}
	}
	const sender = fieldAddresses(mail.from)[0] ?? fieldAddresses(mail.replyTo)[0] ?? null;
	return {
		parent: null,
		account: null,
		contact: null,
		lead: null,
		caseNumber: null,
		unknownSender: sender ? unknownSender(sender.address, sender.name) : null,
	};
}
