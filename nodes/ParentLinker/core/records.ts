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

/** Reads `a.b.c` paths; plain names first, so a field literally called "a.b" works too. */
export function getPath(obj: unknown, path: string): unknown {
	if (!obj || typeof obj !== 'object' || !path) return undefined;
	const o = obj as Record<string, unknown>;
	if (path in o) return o[path];
	let cur: unknown = obj;
	for (const part of path.split('.')) {
		if (!cur || typeof cur !== 'object') return undefined;
		cur = (cur as Record<string, unknown>)[part];
	}
	return cur;
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

export function normalizeType(value: unknown): RecordType | null {
	if (typeof value !== 'string') return null;
	return TYPE_NAMES[value.trim().toLowerCase()] ?? null;
}

/** Lower-cased bare address, or null. Display names and spaces are dropped: `"Ann" <Ann@X.org>`. */
export function normalizeAddress(value: unknown): string | null {
	if (typeof value !== 'string') return null;
	let s = value.trim();
	const angle = /<([^<>]*)>\s*$/.exec(s);
	if (angle) s = angle[1].trim();
	s = s.replace(/^mailto:/i, '').toLowerCase();
	const at = s.lastIndexOf('@');
	return at > 0 && at < s.length - 1 && !/\s/.test(s) ? s : null;
}

function collectEmails(value: unknown, out: string[]): void {
	if (typeof value === 'string') {
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

export interface NormalizeResult {
	records: CrmRecord[];
	/** Input positions skipped, and why (no type, no id). */
	skipped: Array<{ index: number; reason: string }>;
}

export function normalizeRecords(rows: unknown[], mapping: RecordMapping): NormalizeResult {
	const records: CrmRecord[] = [];
	const skipped: NormalizeResult['skipped'] = [];
	for (let i = 0; i < rows.length; i++) {
		const row = rows[i];
		const type = mapping.fixedType ?? normalizeType(getPath(row, mapping.typeField));
		if (!type) {
			skipped.push({
				index: i,
				reason: `field "${mapping.typeField}" does not name a Contact, Account, Lead, Opportunity or Case`,
			});
			continue;
		}
		const id = text(getPath(row, mapping.idField));
		if (!id) {
			skipped.push({ index: i, reason: `field "${mapping.idField}" (the id) is empty` });
			continue;
		}
		const emails: string[] = [];
		for (const field of mapping.emailFields) collectEmails(getPath(row, field), emails);
		records.push({
			type,
			id,
			name: text(getPath(row, mapping.nameField)),
			emails,
			accountId: text(getPath(row, mapping.accountIdField)),
			status: text(getPath(row, mapping.statusField)),
			convertedAccountId: text(getPath(row, mapping.convertedAccountField)),
			convertedContactId: text(getPath(row, mapping.convertedContactField)),
		});
	}
	return { records, skipped };
}

type ByType = Partial<Record<AddressType, CrmRecord>>;

export class RecordIndex {
	private readonly byAddress = new Map<string, ByType>();
	private readonly byKey = new Map<string, CrmRecord>();

	constructor(records: CrmRecord[]) {
		for (const r of records) {
			const key = `${r.type}:${r.id}`;
			if (!this.byKey.has(key)) this.byKey.set(key, r);
			if (r.type === 'Opportunity' || r.type === 'Case') continue;
			for (const address of r.emails) {
				let entry = this.byAddress.get(address);
				if (!entry) {
					entry = {};
					this.byAddress.set(address, entry);
				}
				// The first record of a type with this address wins: input order decides, stably.
				entry[r.type] ??= r;
			}
		}
	}

	get size(): number {
		return this.byKey.size;
	}

	byEmail(address: string): ByType | undefined {
		return this.byAddress.get(address);
	}

	get(type: string, id: string): CrmRecord | undefined {
		return this.byKey.get(`${type}:${id}`);
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
