/**
 * Ready-to-use fields for creating a Contact or Lead from an unknown sender: first and last name
 * from the display name (or the address), company from the domain unless it is a public mailbox
 * provider.
 */
export interface UnknownSender {
	address: string;
	name: string;
	firstName: string;
	lastName: string;
	domain: string;
	/** Guessed from the domain; null for public mailbox providers. */
	company: string | null;
	publicProvider: boolean;
}

export const PUBLIC_PROVIDERS = new Set([
	'gmail.com',
	'googlemail.com',
	'outlook.com',
	'hotmail.com',
	'hotmail.co.uk',
	'hotmail.fr',
	'live.com',
	'msn.com',
	'yahoo.com',
	'yahoo.co.uk',
	'yahoo.fr',
	'ymail.com',
	'icloud.com',
	'me.com',
	'mac.com',
	'aol.com',
	'gmx.de',
	'gmx.net',
	'gmx.com',
	'web.de',
	't-online.de',
	'mail.ru',
	'yandex.ru',
	'yandex.com',
	'ya.ru',
	'rambler.ru',
	'bk.ru',
	'list.ru',
	'inbox.ru',
	'protonmail.com',
	'proton.me',
	'pm.me',
	'zoho.com',
	'orange.fr',
	'free.fr',
	'laposte.net',
	'sfr.fr',
	'wanadoo.fr',
	'siol.net',
	'gmail.si',
	'seznam.cz',
	'libero.it',
	'qq.com',
	'163.com',
	'126.com',
	'mail.com',
	'fastmail.com',
	'tutanota.com',
]);

/** Second-level labels under which the company name is the third label (acme.co.uk). */
const SECOND_LEVEL = new Set(['co', 'com', 'org', 'net', 'ac', 'gov', 'edu', 'ltd', 'plc']);

function capitalize(word: string): string {
	return word ? word[0].toUpperCase() + word.slice(1) : word;
}

export function companyFromDomain(domain: string): string | null {
	if (PUBLIC_PROVIDERS.has(domain)) return null;
	const labels = domain.split('.').filter(Boolean);
	if (labels.length < 2) return null;
	let i = labels.length - 2;
	if (labels.length >= 3 && SECOND_LEVEL.has(labels[i]) && labels[labels.length - 1].length === 2)
		i -= 1;
	const label = labels[i];
	if (!label) return null;
	return label.split(/[-_]+/).filter(Boolean).map(capitalize).join(' ');
}

export function splitName(
	displayName: string,
	address: string,
): { firstName: string; lastName: string } {
	let name = displayName.replace(/["']/g, '').replace(/\s+/g, ' ').trim();
	if (name.includes('@')) name = '';
	if (!name) {
		// john.doe@ → John Doe; info@ → last name "Info".
		const local = address.split('@')[0].replace(/\+.*$/, '');
		name = local
			.split(/[._-]+/)
			.filter((p) => p && !/^\d+$/.test(p))
			.map(capitalize)
			.join(' ');
	}
	const comma = name.indexOf(',');
	if (comma > 0) {
		// "Doe, John"
		return { firstName: name.slice(comma + 1).trim(), lastName: name.slice(0, comma).trim() };
	}
	const space = name.lastIndexOf(' ');
	if (space === -1) return { firstName: '', lastName: name };
	return { firstName: name.slice(0, space), lastName: name.slice(space + 1) };
}

export function unknownSender(address: string, displayName: string): UnknownSender {
	const domain = address.slice(address.lastIndexOf('@') + 1);
	const company = companyFromDomain(domain);
	return {
		address,
		name: displayName,
		...splitName(displayName, address),
		domain,
		company,
		publicProvider: PUBLIC_PROVIDERS.has(domain),
	};
}
