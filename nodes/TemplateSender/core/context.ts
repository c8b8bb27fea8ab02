/**
 * The Template Sender's view of an incoming item: recipients, the mail it answers, and the data a
 * template sees (the item, with EspoCRM's names mapped onto it). Plain data in and out.
 */
import { parseAddresses } from '../../shared/addresses';
import { replyTextOf, str, type MailItemView } from '../../shared/mailItem';
import type { IncomingMail } from './compose';
import { escapeHtml, safeHtml } from './template';

type Item = Record<string, unknown>;

/**
 * One address of an item field. A string that is not one clean address is kept as given, so
 * that sending to it is refused (INVALID_RECIPIENT) rather than falling back to another address.
 */
export function asAddress(value: unknown): { address: string; name: string } | null {
	if (typeof value === 'string') {
		const { mailboxes, invalid } = parseAddresses(value);
		if (mailboxes.length === 1 && invalid.length === 0) return mailboxes[0];
		return value.trim() ? { address: value.trim(), name: '' } : null;
	}
	if (!value || typeof value !== 'object') return null;
	const v = value as { address?: unknown; name?: unknown };
	return typeof v.address === 'string'
		? { address: v.address, name: typeof v.name === 'string' ? v.name : '' }
		: null;
}

export function incoming(json: MailItemView): IncomingMail {
	const replyTo = Array.isArray(json.replyTo)
		? json.replyTo.map(asAddress).filter((a) => a !== null)
		: [];
	return {
		messageId: typeof json.messageId === 'string' ? json.messageId : null,
		references: Array.isArray(json.references)
			? json.references.filter((r): r is string => typeof r === 'string')
			: [],
		subject: str(json.subject),
		from: asAddress(json.from),
		replyTo: replyTo as Array<{ address: string; name: string }>,
		date: typeof json.date === 'string' ? json.date : null,
		// Quote Original quotes what the sender wrote, not the whole thread below it.
		text: typeof json.text === 'string' || typeof json.html === 'string' ? replyTextOf(json) : null,
	};
}

function pad(n: number): string {
	return String(n).padStart(2, '0');
}

/** The template's data: the item, with EspoCRM's names mapped onto it. */
export function templateContext(
	json: Item,
	recipient: { address: string; name: string },
	sender: { address: string; name: string },
	optOut: string | null,
	html: boolean,
	now: Date,
): Record<string, unknown> {
	const record = (v: unknown) => (v && typeof v === 'object' ? (v as Item) : undefined);
	const account = record(json.account);
	const contact = record(json.contact);
	const lead = record(json.lead);
	const [firstName, ...rest] = recipient.name.split(' ');
	const person = {
		name: recipient.name,
		firstName: rest.length ? firstName : '',
		lastName: rest.length ? rest.join(' ') : recipient.name,
		emailAddress: recipient.address,
		...(contact ?? lead ?? {}),
	};
	const today = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
	return {
		...json,
		Person: person,
		Contact: contact ? { ...contact, account } : undefined,
		Account: account,
		Lead: lead,
		Case: record(json.case),
		Parent: record(json.parent),
		User: { name: sender.name, emailAddress: sender.address },
		Email: {
			subject: json.subject,
			fromAddress: asAddress(json.from)?.address,
			fromName: asAddress(json.from)?.name,
			body: json.text,
			dateSent: json.date,
		},
		today,
		now: `${today} ${pad(now.getHours())}:${pad(now.getMinutes())}`,
		currentYear: String(now.getFullYear()),
		optOutUrl: optOut ?? undefined,
		optOutLink: optOut
			? html
				? safeHtml(`<a href="${escapeHtml(optOut)}">Unsubscribe</a>`)
				: optOut
			: undefined,
	};
}
