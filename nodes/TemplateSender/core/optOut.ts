/**
 * Per-recipient unsubscribe links whose token is an HMAC of the address, so nobody can unsubscribe
 * someone else by editing the URL. The receiving end verifies with `verifyOptOutToken`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function optOutToken(key: Buffer, address: string): string {
	return createHmac('sha256', key)
		.update(`opt-out:${address.trim().toLowerCase()}`)
		.digest('base64url')
		.slice(0, 22);
}

export function verifyOptOutToken(key: Buffer, address: string, token: string): boolean {
	const expected = Buffer.from(optOutToken(key, address));
	const given = Buffer.from(token);
	return expected.length === given.length && timingSafeEqual(expected, given);
}

export function optOutUrl(baseUrl: string, key: Buffer, address: string): string {
	const url = new URL(baseUrl);
	url.searchParams.set('email', address.trim().toLowerCase());
	url.searchParams.set('token', optOutToken(key, address));
	return url.toString();
}
