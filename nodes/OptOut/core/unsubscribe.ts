/**
 * The CRM Email Opt-Out node's decisions, without n8n: what a verified or refused unsubscribe
 * link gives, and which items of an "Add to Opt-Out List" run name one clean address.
 */
import { parseAddresses } from '../../shared/addresses';
import { CrmEmailError } from '../../shared/errors';
import {
	optOutAddress,
	optOutListName,
	verifyOptOutToken,
	type OptOutVerdict,
} from '../../TemplateSender/core/optOut';
import { refusedPage } from './page';

export type VerifiedLink =
	| { ok: true; optOut: { email: string; list: string; expiresAt: string } }
	| { ok: false; optOut: { code: string; reason: string; page: string } };

export function verifyLink(key: Buffer, email: unknown, token: unknown, now: number): VerifiedLink {
	const v: OptOutVerdict = verifyOptOutToken(key, email, token, now);
	return v.ok
		? { ok: true, optOut: { email: v.email, list: v.list, expiresAt: v.expiresAt } }
		: { ok: false, optOut: { code: v.code, reason: v.reason, page: refusedPage(v.reason) } };
}

/** The address to add: one clean address, lower-case; null when the value is none. */
export function addressToAdd(value: unknown): string | null {
	if (typeof value !== 'string') return null;
	const { mailboxes, invalid } = parseAddresses(value);
	return mailboxes.length === 1 && !invalid.length ? optOutAddress(mailboxes[0].address) : null;
}

/** The list to add to, as the Sender names it; a bad name is the admin's to fix. */
export function listToAdd(value: unknown): string {
	if (typeof value !== 'string' || !value.trim())
		throw new CrmEmailError(
			'CONFIG_INVALID',
			'List Name is empty: name the opt-out list (the Template Sender\'s Opt-Out List Name; "default" unless set)',
			{ parameter: 'List Name' },
		);
	return optOutListName(value);
}
