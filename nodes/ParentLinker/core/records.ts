/**
 * CRM records from any source (a Postgres row, a sheet line, an EspoCRM API object) turned into
 * one shape by a field mapping, and indexed once per execution by lower-cased address: the cost is
 * linear in records, each mail is then a few Map lookups.
 */
import { CrmEmailError } from '../../shared/errors';

export const RECORD_TYPES = ['Contact', 'Account', 'Lead', 'Opportunity', 'Case'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];
/** Types an address can find; Opportunity and Case are found only through the thread. */
export const ADDRESS_TYPES = ['Contact', 'Account', 'Lead'] as const;
export type AddressType = (typeof ADDRESS_TYPES)[number];

export interface RecordMapping {
	/** Field holding the type; ignored when `fixedType` is set. */
	typeField: string;
	fixedType: RecordType | null;
	idField: string;
	nameField: string;
	/** Fields holding addresses: a string (several split by , or ;), a list of strings, or a list of objects with emailAddress / address / email. */
	emailFields: string[];
	accountIdField: string;
	statusField: string;
	/** For a converted Lead: the Account and Contact it became (EspoCRM: createdAccountId, createdContactId). */
	convertedAccountField: string;
	convertedContactField: string;
}

export const DEFAULT_MAPPING: RecordMapping = {
	typeField: 'type',
	fixedType: null,
	idField: 'id',
	nameField: 'name',
	emailFields: ['emailAddress', 'emailAddressData', 'emails', 'email'],
	accountIdField: 'accountId',
	statusField: 'status',
	convertedAccountField: 'createdAccountId',
	convertedContactField: 'createdContactId',
};

export interface CrmRecord {
	type: RecordType;
	id: string;
	name: string | null;
	emails: string[];
	accountId: string | null;
	status: string | null;
	convertedAccountId: string | null;
	convertedContactId: string | null;
}

type Getter = (obj: unknown) => unknown;

/**
 * A reader for `a.b.c` paths, built once per field (not per record); the plain name is tried
 * first, so a field literally called "a.b" works too.
 */
export function pathGetter(path: string): Getter {
	if (!path) return () => undefined;
	if (!path.includes('.'))
		return (obj) =>
			obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[path] : undefined;
	const parts = path.split('.');
	return (obj) => {
		if (!obj || typeof obj !== 'object') return undefined;
		const o = obj as Record<string, unknown>;
		if (path in o) return o[path];
		let cur: unknown = obj;
		for (const part of parts) {
			if (!cur || typeof cur !== 'object') return undefined;
			cur = (cur as Record<string, unknown>)[part];
		}
		return cur;
	};
}

const TYPE_NAMES: Record<string, RecordType> = {
	contact: 'Contact',
	contacts: 'Contact',
	person: 'Contact',
	account: 'Account',
	accounts: 'Account',
	company: 'Account',
	organization: 'Account',
	organisation: 'Account',
	lead: 'Lead',
	leads: 'Lead',
	opportunity: 'Opportunity',
	opportunities: 'Opportunity',
	deal: 'Opportunity',
	case: 'Case',
	cases: 'Case',
	ticket: 'Case',
	tickets: 'Case',
};

/** Raw type value → type: records repeat a handful of values a million times. */
const typeCache = new Map<string, RecordType | null>();

export function normalizeType(value: unknown): RecordType | null {
	if (typeof value !== 'string') return null;
	let type = typeCache.get(value);
	if (type === undefined) {
		type = TYPE_NAMES[value.trim().toLowerCase()] ?? null;
		if (typeCache.size < 1000) typeCache.set(value, type);
	}
	return type;
}

/** Lower-cased bare address, or null. Display names and spaces are dropped: `"Ann" <Ann@X.org>`. */
export function normalizeAddress(value: unknown): string | null {
	if (typeof value !== 'string') return null;
	// Fast path for the common bare address (a million records are indexed per execution).
	if (!/[<\s:]/.test(value)) {
		const at = value.lastIndexOf('@');
		if (at <= 0 || at === value.length - 1) return null;
		// Already lower-case ASCII: no copy (fewer strings for the GC on big record sets).
		return /[^a-z0-9.@_+-]/.test(value) ? value.toLowerCase() : value;
	}
	let s = value.trim();
	const angle = /<([^<>]*)>\s*$/.exec(s);
	if (angle) s = angle[1].trim();
	s = s.replace(/^mailto:/i, '').toLowerCase();
	const at = s.lastIndexOf('@');
	return at > 0 && at < s.length - 1 && !/\s/.test(s) ? s : null;
}

function collectEmails(value: unknown, out: string[]): void {
	if (typeof value === 'string') {
		if (value.indexOf(',') === -1 && value.indexOf(';') === -1) {
			const a = normalizeAddress(value);
			if (a && !out.includes(a)) out.push(a);
			return;
		}
		for (const part of value.split(/[,;]/)) {
			const a = normalizeAddress(part);
			if (a && !out.includes(a)) out.push(a);
		}
	} else if (Array.isArray(value)) {
		for (const v of value) collectEmails(v, out);
	} else if (value && typeof value === 'object') {
		const o = value as Record<string, unknown>;
		collectEmails(o.emailAddress ?? o.address ?? o.email, out);
	}
}

function text(value: unknown): string | null {
	if (typeof value === 'string') return value.trim() || null;
	if (typeof value === 'number' || typeof value === 'bigint') return String(value);
	return null;
}

/** What the mails of one execution can link to: only records matching these are kept. */
export interface Want {
	/** Lower-cased addresses of the mails' From, Reply-To, To and Cc. */
	addresses: Set<string>;
	/** Type → ids named by the mails' threads. */
	ids: Map<string, Set<string>>;
}

export interface IndexResult {
	index: RecordIndex;
	/** Input positions skipped, and why (no type, no id). */
	skipped: Array<{ index: number; reason: string }>;
}

function readers(mapping: RecordMapping) {
	return {
		type: pathGetter(mapping.typeField),
		id: pathGetter(mapping.idField),
		name: pathGetter(mapping.nameField),
		emails: mapping.emailFields.map(pathGetter),
		accountId: pathGetter(mapping.accountIdField),
		status: pathGetter(mapping.statusField),
		convertedAccountId: pathGetter(mapping.convertedAccountField),
		convertedContactId: pathGetter(mapping.convertedContactField),
	};
}

/**
 * One pass over the records. With `want`, only records a mail can reach are materialized and
 * indexed (the mails are few, the records many: a million records cost one cheap read each);
 * a second, id-only pass fetches the Accounts and Contacts those records point to.
 */
export function indexRecords(rows: unknown[], mapping: RecordMapping, want?: Want): IndexResult {
	const get = readers(mapping);
	const index = new RecordIndex([]);
	const skipped: IndexResult['skipped'] = [];
	const emails: string[] = [];
	const readEmails = (row: unknown) => {
		emails.length = 0;
		for (const read of get.emails) collectEmails(read(row), emails);
	};
	// Plain loops, no per-record closures or tuples: this runs a million times and the GC is the
	// main cost.
	for (let i = 0; i < rows.length; i++) {
		const row = rows[i];
		const type = mapping.fixedType ?? normalizeType(get.type(row));
		if (!type) {
			skipped.push({
				index: i,
				reason: `field "${mapping.typeField}" does not name a Contact, Account, Lead, Opportunity or Case`,
			});
			continue;
		}
		const id = text(get.id(row));
		if (!id) {
			skipped.push({ index: i, reason: `field "${mapping.idField}" (the id) is empty` });
			continue;
		}
		readEmails(row);
		let keep = !want || want.ids.get(type)?.has(id) === true;
		for (let e = 0; !keep && e < emails.length; e++) keep = (want as Want).addresses.has(emails[e]);
		if (keep) index.add(materialize(row, type, id, emails.slice(), get));
	}
	if (want) {
		// The Accounts and Contacts the kept records point to (names, and B2B parents).
		const refs = index.references();
		for (let i = 0; refs.size > 0 && i < rows.length; i++) {
			const row = rows[i];
			const type = mapping.fixedType ?? normalizeType(get.type(row));
			const ids = type ? refs.get(type) : undefined;
			if (!type || !ids) continue;
			const id = text(get.id(row));
			if (!id || !ids.has(id) || index.get(type, id)) continue;
			readEmails(row);
			index.add(materialize(row, type, id, emails.slice(), get), false);
		}
	}
	return { index, skipped };
}

function materialize(
	row: unknown,
	type: RecordType,
	id: string,
	emails: string[],
	get: ReturnType<typeof readers>,
): CrmRecord {
	return {
		type,
		id,
		name: text(get.name(row)),
		emails,
		accountId: text(get.accountId(row)),
		status: text(get.status(row)),
		convertedAccountId: text(get.convertedAccountId(row)),
		convertedContactId: text(get.convertedContactId(row)),
	};
}

export type ByType = Partial<Record<AddressType, CrmRecord>>;

export class RecordIndex {
	/** Address → the first record with it (most addresses have one), or the first of each type. */
	private readonly byAddress = new Map<string, CrmRecord | CrmRecord[]>();
	private readonly byId = new Map<string, Map<string, CrmRecord>>();
	private count = 0;

	constructor(records: CrmRecord[]) {
		for (const r of records) this.add(r);
	}

	/** `findable`: reachable by address; false for records fetched only as a reference. */
	add(r: CrmRecord, findable = true): void {
		let ids = this.byId.get(r.type);
		if (!ids) {
			ids = new Map();
			this.byId.set(r.type, ids);
		}
		if (ids.has(r.id)) return;
		ids.set(r.id, r);
		this.count++;
		if (!findable || r.type === 'Opportunity' || r.type === 'Case') return;
		for (const address of r.emails) {
			const entry = this.byAddress.get(address);
			// The first record of a type with this address wins: input order decides, stably.
			if (entry === undefined) this.byAddress.set(address, r);
			else if (Array.isArray(entry)) {
				if (!entry.some((e) => e.type === r.type)) entry.push(r);
			} else if (entry.type !== r.type) this.byAddress.set(address, [entry, r]);
		}
	}

	/** Accounts and Contacts named by the indexed records but not indexed themselves. */
	references(): Map<string, Set<string>> {
		const out = new Map<string, Set<string>>([
			['Account', new Set()],
			['Contact', new Set()],
		]);
		for (const ids of this.byId.values()) {
			for (const r of ids.values()) {
				for (const [type, id] of [
					['Account', r.accountId],
					['Account', r.convertedAccountId],
					['Contact', r.convertedContactId],
				] as const) {
					if (id && !this.get(type, id)) out.get(type)?.add(id);
				}
			}
		}
		for (const [type, set] of out) if (set.size === 0) out.delete(type);
		return out;
	}

	get size(): number {
		return this.count;
	}

	byEmail(address: string): ByType | undefined {
		const entry = this.byAddress.get(address);
		if (entry === undefined) return undefined;
		const out: ByType = {};
		for (const r of Array.isArray(entry) ? entry : [entry]) out[r.type as AddressType] = r;
		return out;
	}

	get(type: string, id: string): CrmRecord | undefined {
		return this.byId.get(type)?.get(id);
	}
}

export function parseTypeOrder(value: unknown): AddressType[] {
	const list = Array.isArray(value)
		? value
		: typeof value === 'string'
			? value.split(/[,\s]+/).filter(Boolean)
			: [];
	const order: AddressType[] = [];
	for (const v of list) {
		const t = normalizeType(v);
		if (!t || !(ADDRESS_TYPES as readonly string[]).includes(t)) {
			throw new CrmEmailError(
				'CONFIG_INVALID',
				`Type Order: "${String(v)}" is not Contact, Account or Lead (Opportunity and Case are found only through the thread)`,
			);
		}
		if (!order.includes(t as AddressType)) order.push(t as AddressType);
	}
	if (order.length === 0)
		throw new CrmEmailError(
			'CONFIG_INVALID',
			'Type Order: name at least one of Contact, Account, Lead',
		);
	return order;
}
