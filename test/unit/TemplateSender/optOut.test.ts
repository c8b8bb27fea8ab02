/**
 * Unsubscribe tokens (core/optOut.ts): what the Sender signs verifies, and nothing else does —
 * forged, altered, truncated, expired and junk input are refused with a reason, never a throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import {
	honouredOptOutList,
	OPT_OUT_LINK_DAYS,
	optOutToken,
	optOutUrl,
	verifyOptOutToken,
} from '../../../nodes/TemplateSender/core/optOut';
import { isCrmEmailError } from '../../../nodes/shared/errors';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const NOW = Date.parse('2026-11-20T10:00:00Z');
const DAY = 86_400_000;

const address = fc
	.tuple(
		fc.stringMatching(/^[a-zA-Z0-9._+-]{1,20}$/),
		fc.stringMatching(/^[a-zA-Z0-9-]{1,15}\.[a-z]{2,6}$/),
	)
	.map(([local, domain]) => `${local}@${domain}`);
const listName = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/);
const when = fc.integer({ min: Date.parse('2000-01-01'), max: Date.parse('2100-01-01') });

describe('unsubscribe tokens', () => {
	it('a token verifies for its address (any case), naming its list, for a year', () => {
		fc.assert(
			fc.property(address, listName, when, (email, list, now) => {
				const token = optOutToken(key, email, list, now);
				const v = verifyOptOutToken(key, email.toUpperCase(), token, now);
				assert.deepEqual(v.ok && [v.email, v.list], [email.toLowerCase(), list]);
				assert.equal(verifyOptOutToken(key, email, token, now + 364 * DAY).ok, true);
				const late = verifyOptOutToken(key, email, token, now + (OPT_OUT_LINK_DAYS + 1) * DAY);
				assert.equal(!late.ok && late.code, 'TOKEN_EXPIRED');
			}),
		);
	});

	it('another address, another key, or any altered character is refused', () => {
		fc.assert(
			fc.property(
				address,
				address,
				listName,
				fc.nat(),
				fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.ABCXYZ'),
				(email, other, list, at, c) => {
					const token = optOutToken(key, email, list, NOW);
					if (other.toLowerCase() !== email.toLowerCase()) {
						const v = verifyOptOutToken(key, other, token, NOW);
						assert.equal(!v.ok && v.code, 'TOKEN_INVALID');
					}
					const w = verifyOptOutToken(Buffer.from('another key'), email, token, NOW);
					assert.equal(!w.ok && w.code, 'TOKEN_INVALID');
					const i = at % token.length;
					const altered = token.slice(0, i) + c + token.slice(i + 1);
					if (altered !== token) {
						const v = verifyOptOutToken(key, email, altered, NOW);
						assert.equal(v.ok, false, altered);
					}
				},
			),
		);
	});

	it('a later expiry day or another list written into a token is refused as invalid', () => {
		const token = optOutToken(key, 'ann@c.example', 'news', NOW);
		const [day, , mac] = token.split('.');
		const later = `${(parseInt(day, 36) + 1000).toString(36)}.news.${mac}`;
		const moved = `${day}.other.${mac}`;
		for (const t of [later, moved]) {
			const v = verifyOptOutToken(key, 'ann@c.example', t, NOW);
			assert.deepEqual(!v.ok && v.code, 'TOKEN_INVALID');
		}
	});

	it('a truncated token is refused', () => {
		fc.assert(
			fc.property(address, listName, fc.nat(), (email, list, n) => {
				const token = optOutToken(key, email, list, NOW);
				const cut = token.slice(0, n % token.length);
				const v = verifyOptOutToken(key, email, cut, NOW);
				assert.equal(v.ok, false);
				assert.ok(!v.ok && ['TOKEN_MISSING', 'TOKEN_MALFORMED'].includes(v.code), cut);
			}),
		);
	});

	it('junk never throws and is never accepted', () => {
		fc.assert(
			fc.property(fc.anything(), fc.anything(), (email, token) => {
				const v = verifyOptOutToken(key, email, token, NOW);
				assert.equal(v.ok, false);
				assert.ok(!v.ok && v.reason.length > 0);
			}),
		);
		fc.assert(
			fc.property(address, fc.string({ maxLength: 120 }), (email, token) => {
				assert.equal(verifyOptOutToken(key, email, token, NOW).ok, false);
			}),
		);
	});

	it('the link keeps the base URL and carries email and token; list names are checked', () => {
		const url = new URL(
			optOutUrl('https://n8n.example/webhook/unsubscribe', key, 'A@x.example', 'news', NOW),
		);
		assert.equal(url.origin + url.pathname, 'https://n8n.example/webhook/unsubscribe');
		assert.equal(url.searchParams.get('email'), 'a@x.example');
		assert.match(url.searchParams.get('token') ?? '', /^[0-9a-z]{1,4}\.news\.[\w-]{22}$/);
		assert.throws(
			() => optOutToken(key, 'a@x.example', 'no spaces', NOW),
			(e) => isCrmEmailError(e) && e.code === 'CONFIG_INVALID',
		);
	});

	it('bulk mail honours the named list its links fill; other mail none', () => {
		assert.equal(honouredOptOutList({ bulk: true, optOutBaseUrl: 'https://x' }), 'default');
		assert.equal(honouredOptOutList({ bulk: true, optOutListName: 'News' }), 'news');
		assert.equal(honouredOptOutList({ bulk: false, optOutBaseUrl: 'https://x' }), null);
		assert.equal(honouredOptOutList({ bulk: true }), null);
	});
});
