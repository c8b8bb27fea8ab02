/**
 * Address parsing with nodemailer's own parser (the one that writes the headers), so what is
 * checked is what is sent. Pure functions: cores use them without pulling in a transport.
 */
import { domainToASCII, domainToUnicode } from 'node:url';

import addressparser from 'nodemailer/lib/addressparser';

import { CrmEmailError } from './errors';

/** One mailbox, as nodemailer writes it: header and envelope are made from this same object. */
export interface Mailbox {
	name: string;
	address: string;
}

/**
 * An addr-spec that SMTP and the header carry alike, without quoting: a dot-atom local part
 * (RFC 5322, UTF-8 allowed as in RFC 6531) and a host name, in the ASCII form nodemailer writes
 * in the header (`domainToASCII`: IDN as punycode). No quoted local parts, no domain literals or
 * bare numbers (nodemailer would quote or rewrite what the envelope carries as given).
 */
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\u0080-\\uFFFF-]+";
const LOCAL_PART = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`);
const HOST = /^(?:[a-z0-9-]+\.)*[a-z0-9-]*[a-z][a-z0-9-]*$/;

/** The address as it will be sent, or null when it is not one clean address. */
function cleanAddress(address: string): string | null {
	const at = address.lastIndexOf('@');
	if (at <= 0) return null;
	const local = address.slice(0, at);
	const host = domainToASCII(address.slice(at + 1));
	return LOCAL_PART.test(local) && HOST.test(host) ? `${local}@${host}` : null;
}

export interface ParsedAddresses {
	mailboxes: Mailbox[];
	/** Entries that are not one clean address, as given. */
	invalid: string[];
}

/**
 * Parses address fields. Takes a header-style string (`"Smith, Ann" <ann@x>, b@y`), an
 * `{address, name}` object (the trigger's items) or a list of both; groups are flattened. An
 * entry that is not one clean address goes to `invalid`, never guessed at.
 */
export function parseAddresses(value: unknown): ParsedAddresses {
	const out: ParsedAddresses = { mailboxes: [], invalid: [] };
	const add = (address: string, name: string, given: string) => {
		const clean = cleanAddress(address);
		if (clean) out.mailboxes.push({ name, address: clean });
		else out.invalid.push(given);
	};
	const walk = (v: unknown) => {
		if (Array.isArray(v)) v.forEach(walk);
		else if (typeof v === 'string') {
			if (!v.trim()) return;
			for (const a of addressparser(v)) {
				// A group (`name: a@x, b@y;`) is refused whole: its name may have swallowed an
				// address (`a@x\r\nBcc: b@y` parses as group "a@x Bcc" holding b@y).
				if ('group' in a) out.invalid.push(`${a.name}: …;`);
				else add(a.address, a.name, a.address || a.name || v.trim());
			}
		} else if (v && typeof v === 'object') {
			const { address, name } = v as { address?: unknown; name?: unknown };
			if (typeof address === 'string')
				add(address.trim(), typeof name === 'string' ? name : '', address);
			else out.invalid.push(JSON.stringify(v).slice(0, 200));
		}
	};
	walk(value);
	return out;
}

/** The one mailbox of a From setting; none, several or an unclean one is refused naming `where`. */
export function parseFrom(value: string, where: string): Mailbox {
	const { mailboxes, invalid } = parseAddresses(value);
	if (mailboxes.length === 1 && invalid.length === 0) return mailboxes[0];
	const found = invalid.length
		? `not a clean address (${invalid.join(', ')})`
		: mailboxes.length
			? `${mailboxes.length} addresses`
			: 'no address';
	throw new CrmEmailError(
		'CONFIG_INVALID',
		`${where} must be exactly one address, such as "Support <support@example.com>": "${value}" is ${found}`,
		{ parameter: where },
	);
}

/**
 * Every address a list names — "Our Addresses" of a node (and the credential's own), the opt-out
 * list: lower-cased. Besides commas and
 * semicolons, a list separated by spaces or lines is read whole — addressparser would take
 * `a@x b@y` for one address named "b@y", and an own address missed is a loop or a leak.
 */
export function ownAddressSet(...values: unknown[]): Set<string> {
	const own = new Set<string>();
	// An international domain in both forms: mail may carry either.
	const add = (address: string) => {
		const at = address.lastIndexOf('@');
		own.add(address.toLowerCase());
		own.add(`${address.slice(0, at)}@${domainToUnicode(address.slice(at + 1))}`.toLowerCase());
	};
	for (const m of parseAddresses(values).mailboxes) {
		add(m.address);
		for (const word of m.name.split(/[\s,;<>"]+/)) {
			const clean = word.includes('@') ? cleanAddress(word) : null;
			if (clean) add(clean);
		}
	}
	return own;
}
