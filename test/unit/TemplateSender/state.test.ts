/**
 * The sender's "being sent" marks: one key per mail of an execution, the same again for its retry,
 * kept a bounded time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import {
	pruneState,
	SENDING_KEPT_MS,
	sendKey,
	senderState,
} from '../../../nodes/TemplateSender/core/state';

const mail = fc.record({
	index: fc.nat(),
	item: fc.jsonValue(),
	templateId: fc.string(),
	from: fc.string(),
	recipients: fc.array(fc.string()),
});

describe('sendKey', () => {
	it('is the same for the same mail of a retry (data read back from JSON)', () => {
		fc.assert(
			fc.property(mail, (m) => {
				const again = JSON.parse(JSON.stringify(m)) as typeof m;
				assert.equal(sendKey(again), sendKey(m));
			}),
		);
	});

	it('differs when position, data, template, sender or recipients differ', () => {
		const base = {
			index: 0,
			item: { messageId: '<a@x>' },
			templateId: 't',
			from: 'support@example.com',
			recipients: ['ann@c.example'],
		};
		const keys = new Set(
			[
				base,
				{ ...base, index: 1 },
				{ ...base, item: { messageId: '<b@x>' } },
				{ ...base, templateId: 'u' },
				{ ...base, from: 'help@example.com' },
				{ ...base, recipients: ['bob@c.example'] },
			].map(sendKey),
		);
		assert.equal(keys.size, 6);
	});
});

describe('pruneState', () => {
	it('keeps a failed execution’s marks for SENDING_KEPT_MS, then drops them', () => {
		const state = senderState({ sending: { old: 0, recent: 10 } });
		pruneState(state, { max: 5, windowMs: 1000 }, SENDING_KEPT_MS + 5);
		assert.deepEqual(state.sending, { recent: 10 });
	});
});
