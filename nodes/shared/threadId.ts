/**
 * Message-IDs that carry their thread. Every mail the Template Sender sends gets a Message-ID
 * naming its parent record and its case, signed with an HMAC, e.g.
 *   <crm.case.42.c42.mfx3k2.k3j2a9.Zq0c1Yw9T2@example.com>
 * so a customer's reply (whose References/In-Reply-To quote it) finds its record and case with no
 * stored state, as EspoCRM's `<ParentType/ParentId/time/rand@host>` do, but not forgeable: a
 * sender cannot attach a mail to somebody else's case by inventing a References header.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Bare Message-ID with its angle brackets, the form mail headers use: the first `<…>` of the
 * value (a comment or a second id after it is dropped), or the whole value when it lost its
 * brackets (EspoCRM #1516). Whitespace inside (folding) is removed, so the result is always
 * `<…>` with no spaces and no inner brackets, or null.
 */
export function normalizeMessageId(value: string | undefined | null): string | null {
	if (!value) return null;
	const bracketed = /<([^<>]*[^<>\s][^<>]*)>/.exec(value);
	const id = (bracketed ? bracketed[1] : value.replace(/\([^()]*\)|[<>]/g, '')).replace(/\s+/g, '');
	return id ? `<${id}>` : null;
}

/**
 * Every Message-ID of an In-Reply-To or References value: the `<…>` tokens (RFC 5322, also its
 * obs-in-reply-to phrases such as "Your message of … <id>"), in order. A value without any
 * brackets counts only when it is a single bare id (`id@host`): a phrase is not a Message-ID.
 */
export function messageIdsIn(value: string): string[] {
	const ids: string[] = [];
	for (const m of value.matchAll(/<([^<>]*)>/g)) {
		const id = normalizeMessageId(`<${m[1]}>`);
		if (id) ids.push(id);
	}
	if (ids.length > 0 || /[<>]/.test(value)) return ids;
	const bare = value.trim();
	return /^[^\s"(),:;@[\\\]]+@[^\s"(),:;@[\\\]]+$/.test(bare) ? [`<${bare}>`] : [];
}

/** The Message-IDs a mail answers: In-Reply-To, then References newest first, without repeats. */
export function threadMessageIds(mail: { inReplyTo?: unknown; references?: unknown }): string[] {
	const idsOf = (v: unknown): string[] =>
		typeof v === 'string'
			? messageIdsIn(v)
			: Array.isArray(v)
				? v.flatMap((e) => (typeof e === 'string' ? messageIdsIn(e) : []))
				: [];
	const ids = [...idsOf(mail.inReplyTo), ...idsOf(mail.references).reverse()];
	return [...new Set(ids)];
}

export interface ThreadRef {
	/** Record type in EspoCRM's naming (Contact, Account, Lead, Opportunity, Case, …). */
	parentType: string | null;
	parentId: string | null;
	caseNumber: number | null;
}

const PREFIX = 'crm';
const SAFE = /^[A-Za-z0-9_-]{1,64}$/;
const SIG_LENGTH = 12;

/**
 * The HMAC key: from a CRM Email Signing API credential's secret, or, without one, from n8n's
 * instance encryption key (see signingKey.ts). Never from the mailbox password: a received
 * Message-ID or opt-out token would let anyone test password guesses offline.
 */
export function threadKey(material: { secret: string } | { instanceKey: string }): Buffer {
	const source =
		'secret' in material ? `secret:${material.secret}` : `instance:${material.instanceKey}`;
	return createHash('sha256').update(`n8n-nodes-crm-email/thread-id/${source}`).digest();
}

function encodePart(value: string | null): string {
	if (value === null || value === '') return '-';
	return SAFE.test(value) && value !== '-' && !value.startsWith('~')
		? value
		: `~${Buffer.from(value, 'utf8').toString('base64url')}`;
}

function decodePart(part: string): string | null {
	if (part === '-') return null;
	return part.startsWith('~') ? Buffer.from(part.slice(1), 'base64url').toString('utf8') : part;
}

function sign(key: Buffer, body: string): string {
	return createHmac('sha256', key).update(body).digest('base64url').slice(0, SIG_LENGTH);
}

export interface GenerateOptions {
	key: Buffer;
	/** Right-hand side, usually the sender's domain. */
	domain: string;
	now?: Date;
}

export function generateMessageId(ref: ThreadRef, o: GenerateOptions): string {
	const body = [
		PREFIX,
		encodePart(ref.parentType),
		encodePart(ref.parentId),
		ref.caseNumber === null ? '-' : `c${ref.caseNumber}`,
		Math.floor((o.now ?? new Date()).getTime() / 1000).toString(36),
		randomBytes(6).toString('base64url'),
	].join('.');
	const domain = o.domain.replace(/[^A-Za-z0-9.-]/g, '') || 'localhost';
	return `<${body}.${sign(o.key, body)}@${domain}>`;
}

const TYPES: Record<string, string> = {
	contact: 'Contact',
	account: 'Account',
	lead: 'Lead',
	opportunity: 'Opportunity',
	case: 'Case',
};

/** The thread a Message-ID of ours carries, or null (not ours, damaged, or forged). */
export function parseMessageId(messageId: string, key: Buffer): ThreadRef | null {
	const m = /^<?([^@<>\s]+)@[^<>\s]*>?$/.exec(messageId.trim());
	if (!m) return null;
	const parts = m[1].split('.');
	if (parts.length !== 7 || parts[0] !== PREFIX) return null;
	const body = parts.slice(0, 6).join('.');
	const expected = Buffer.from(sign(key, body));
	const given = Buffer.from(parts[6]);
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
	const type = decodePart(parts[1]);
	const caseNumber = parts[3] === '-' ? null : Number(parts[3].slice(1));
	return {
		parentType: type === null ? null : (TYPES[type.toLowerCase()] ?? type),
		parentId: decodePart(parts[2]),
		caseNumber: caseNumber !== null && Number.isSafeInteger(caseNumber) ? caseNumber : null,
	};
}
