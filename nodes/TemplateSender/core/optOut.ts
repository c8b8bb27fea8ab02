/**
 * Per-recipient unsubscribe links. The token names the opt-out list and the day the link expires,
 * and carries an HMAC of those and the address, so nobody can unsubscribe someone else, move an
 * address to another list or extend a link by editing the URL. The receiving end (the CRM Email
 * Opt-Out node) verifies with `verifyOptOutToken`, which never throws: a link is outside input.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

import { CrmEmailError } from '../../shared/errors';

/** How long a link works: a year, well past the 30 days CAN-SPAM asks for. */
export const OPT_OUT_LINK_DAYS = 365;

/** The list a link names when the Sender names none. */
export const DEFAULT_OPT_OUT_LIST = 'default';

const DAY_MS = 86_400_000;
const MAC_LENGTH = 22; // base64url characters: 132 bits
const LIST_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** `<expiry day, base 36>.<list>.<mac>` */
// Four base-36 digits reach the year 6570: any date they name is one Date can show.
const TOKEN = /^([0-9a-z]{1,4})\.([a-z0-9][a-z0-9_-]{0,63})\.([A-Za-z0-9_-]{22})$/;

/** An opt-out list's name as stored: lower-case letters, digits, `_` and `-`. */
export function optOutListName(name: string): string {
	const clean = name.trim().toLowerCase();
	if (!LIST_NAME.test(clean))
		throw new CrmEmailError(
			'CONFIG_INVALID',
			`Opt-Out List Name "${name}" is not a list name: use up to 64 letters, digits, _ or -, starting with a letter or digit`,
			{ parameter: 'Opt-Out List Name' },
		);
	return clean;
}

/** An address as the lists keep it. */
export function optOutAddress(address: string): string {
	return address.trim().toLowerCase();
}

function mac(key: Buffer, list: string, expiryDay: number, address: string): string {
	return createHmac('sha256', key)
		.update(`opt-out:v1\n${list}\n${expiryDay}\n${optOutAddress(address)}`)
		.digest('base64url')
		.slice(0, MAC_LENGTH);
}

/** The token for `address` on `list`, valid OPT_OUT_LINK_DAYS from `now`. */
export function optOutToken(key: Buffer, address: string, list: string, now: number): string {
	const name = optOutListName(list);
	const expiryDay = Math.floor(now / DAY_MS) + OPT_OUT_LINK_DAYS;
	return `${expiryDay.toString(36)}.${name}.${mac(key, name, expiryDay, address)}`;
}

export type OptOutRefusal =
	| 'TOKEN_MISSING'
	| 'TOKEN_MALFORMED'
	| 'TOKEN_INVALID'
	| 'TOKEN_EXPIRED'
	| 'EMAIL_MISSING';

export type OptOutVerdict =
	| { ok: true; email: string; list: string; expiresAt: string }
	| { ok: false; code: OptOutRefusal; reason: string };

/**
 * Whether `token` unsubscribes `email`: constant-time comparison of the HMAC; forged, altered,
 * truncated and expired tokens are refused with the reason. Any input is accepted (a query
 * parameter may be missing, repeated or not text).
 */
export function verifyOptOutToken(
	key: Buffer,
	email: unknown,
	token: unknown,
	now: number,
): OptOutVerdict {
	const no = (code: OptOutRefusal, reason: string): OptOutVerdict => ({ ok: false, code, reason });
	if (typeof email !== 'string' || !email.trim())
		return no('EMAIL_MISSING', 'the link names no email address');
	if (typeof token !== 'string' || !token) return no('TOKEN_MISSING', 'the link has no token');
	const m = TOKEN.exec(token);
	if (!m) return no('TOKEN_MALFORMED', 'the token is not one this package makes (cut short?)');
	const [, day, list, given] = m;
	const expiryDay = parseInt(day, 36);
	const expected = Buffer.from(mac(key, list, expiryDay, email));
	if (!timingSafeEqual(expected, Buffer.from(given)))
		return no('TOKEN_INVALID', 'the token was not made for this address, list and date');
	const expiresAt = expiryDay * DAY_MS;
	if (now >= expiresAt)
		return no(
			'TOKEN_EXPIRED',
			`the link expired on ${new Date(expiresAt).toISOString().slice(0, 10)}`,
		);
	return {
		ok: true,
		email: optOutAddress(email),
		list,
		expiresAt: new Date(expiresAt).toISOString(),
	};
}

/** The Send options that decide the opt-out list (core/plan.ts's SenderOptions). */
export interface OptOutOptions {
	bulk?: boolean;
	optOutBaseUrl?: string;
	optOutListName?: string;
}

/** The list the unsubscribe links of a Send item name. */
export function linkOptOutList(o: OptOutOptions): string {
	return optOutListName(o.optOutListName?.trim() || DEFAULT_OPT_OUT_LIST);
}

/**
 * The named list a Send item's mail must honour: bulk mail whose links fill a list (an Opt-Out
 * Base URL) or that names one. Null: none (transactional mail, replies).
 */
export function honouredOptOutList(o: OptOutOptions): string | null {
	return o.bulk === true && (o.optOutBaseUrl || o.optOutListName?.trim())
		? linkOptOutList(o)
		: null;
}

/** The base URL with `email` and `token` added (its own parameters kept). */
export function optOutUrl(
	baseUrl: string,
	key: Buffer,
	address: string,
	list: string,
	now: number,
): string {
	const url = new URL(baseUrl);
	url.searchParams.set('email', optOutAddress(address));
	url.searchParams.set('token', optOutToken(key, address, list, now));
	return url.toString();
}
