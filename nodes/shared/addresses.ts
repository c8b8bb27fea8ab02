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
const LABEL = /^[a-z0-9-]{1,63}$/;
/** RFC 5321's limits (64-octet local part, 255-octet domain), with room for UTF-8. */
const MAX_LOCAL = 256;
const MAX_HOST = 253;

/** A host name: labels of letters, digits and hyphens, the last one not all digits. */
function isHost(host: string): boolean {
	if (host.length > MAX_HOST) return false;
	const labels = host.split('.');
	return labels.every((l) => LABEL.test(l)) && /[a-z]/.test(labels[labels.length - 1]);
}

/** The address as it will be sent, or null when it is not one clean address. */
function cleanAddress(address: string): string | null {
	const at = address.lastIndexOf('@');
	if (at <= 0 || at > MAX_LOCAL || address.length - at - 1 > MAX_HOST * 4) return null;
	const local = address.slice(0, at);
	const host = domainToASCII(address.slice(at + 1));
	return LOCAL_PART.test(local) && isHost(host) ? `${local}@${host}` : null;
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
/** Whether a display name holds an address other than the mailbox's own. */
function namesOtherAddress(name: string, address: string): boolean {
	if (!name.includes('@')) return false;
	const own = cleanAddress(address);
	return name.split(/[\s,;<>"()]+/).some((w) => {
		const other = w.includes('@') ? cleanAddress(w) : null;
		return other !== null && other !== own;
	});
}

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
				// `a@x b@y` (no comma) parses as a@x named "b@y": refused, not sent to a@x alone.
				else if (namesOtherAddress(a.name, a.address)) out.invalid.push(`${a.name} <${a.address}>`);
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
	const words = (text: string) => {
		for (const word of text.split(/[\s,;<>"]+/)) {
			const clean = word.includes('@') ? cleanAddress(word) : null;
			if (clean) add(clean);
		}
	};
	const { mailboxes, invalid } = parseAddresses(values);
	for (const m of mailboxes) {
		add(m.address);
		words(m.name);
	}
	// `a@x b@y` is refused as a recipient, but as a list of ours every address in it counts.
	for (const entry of invalid) words(entry);
	return own;
}
