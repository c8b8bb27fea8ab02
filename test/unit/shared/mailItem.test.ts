import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { ignoreReason } from '../../../nodes/CaseRouter/core/router';
import { ownAddressSet } from '../../../nodes/shared/addresses';
import { automatedReason, headerOf } from '../../../nodes/shared/mailItem';
import { loopGuard } from '../../../nodes/TemplateSender/core/loopGuard';

const word = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const address = fc
	.tuple(word, word, fc.constantFrom('example', 'ex-ample.co'), fc.boolean())
	.map(([l, d, t, upper]) => {
		const a = `${l}@${d}.${t}`;
		return upper ? a.toUpperCase() : a;
	});

describe('Our Addresses', () => {
	it('reads every address, whatever the separator and display names', () => {
		fc.assert(
			fc.property(
				fc.array(fc.tuple(address, fc.constantFrom('', 'Support', 'Sales, EU', 'Team A')), {
					minLength: 1,
					maxLength: 6,
				}),
				fc.constantFrom(', ', ';', ' ', '\n', ' ;  '),
				(entries, sep) => {
					// Display names need a clear separator; bare addresses may be separated by spaces.
					const named = sep.trim() !== '';
					const text = entries
						.map(([a, name]) => (named && name ? `"${name}" <${a}>` : a))
						.join(sep);
					const own = ownAddressSet(text);
					for (const [a] of entries) assert.ok(own.has(a.toLowerCase()), `${a} in ${text}`);
				},
			),
		);
	});

	it('knows an international domain in both forms', () => {
		const own = ownAddressSet('Support <support@Bücher.example>');
		assert.ok(own.has('support@bücher.example'));
		assert.ok(own.has('support@xn--bcher-kva.example'));
	});

	it('takes nothing that is no address', () => {
		assert.deepEqual([...ownAddressSet('support, sales; <>  @ x@')], []);
	});
});

describe('mail item', () => {
	it('reads headers safely from any item', () => {
		assert.equal(headerOf({ headers: { 'x-a': ' v ' } }, 'x-a'), 'v');
		assert.equal(headerOf({ headers: { 'x-a': 1 } }, 'x-a'), null);
		assert.equal(headerOf({ headers: 'x' }, 'x-a'), null);
		assert.equal(headerOf({}, 'x-a'), null);
	});

	it('the Case Router and the loop guard agree on machine-made mail', () => {
		const header = fc.record(
			{
				'auto-submitted': fc.constantFrom(
					'no',
					'No (comment)',
					'auto-replied',
					'auto-generated; x',
				),
				'x-autoreply': fc.constantFrom('yes', ''),
				'x-autorespond': fc.constantFrom('1'),
				'content-type': fc.constantFrom('text/plain', 'multipart/report; report-type=x'),
				'return-path': fc.constantFrom('<>', '<a@b.example>'),
			},
			{ requiredKeys: [] },
		);
		fc.assert(
			fc.property(header, (headers) => {
				const from = 'ann@customer.example';
				const automated = automatedReason({ headers });
				const routed = ignoreReason({ headers, from: { address: from } }, new Set());
				const guard = loopGuard({ from, replyTo: [], headers, own: new Set() });
				assert.equal(routed, automated);
				if (automated) assert.equal(guard.reason, automated);
				else assert.equal(guard.reply, true);
			}),
		);
	});
});
