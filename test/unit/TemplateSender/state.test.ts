/**
 * The sender's per-mail send marks: one key per incoming mail, template and operation, the same
 * again for a Retry or a rerun; items without a Message-ID by position and data. Older versions'
 * marks are aged out.
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
	operation: fc.constantFrom('send', 'reply', 'autoReply'),
	messageId: fc.oneof(fc.constant(null), fc.string()),
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

	it('with a Message-ID: differs by mail, template and operation (Send: recipients), not position', () => {
		const base = {
			operation: 'reply',
			messageId: '<a@x>',
			index: 0,
			item: { messageId: '<a@x>' },
			templateId: 't',
			from: 'support@example.com',
			recipients: ['ann@c.example'],
		};
		const same = [
			{ ...base, index: 1 },
			{ ...base, item: { messageId: '<a@x>', case: { number: 2 } } },
			{ ...base, from: 'help@example.com' },
			{ ...base, recipients: ['bob@c.example'] },
		].map(sendKey);
		assert.deepEqual(new Set(same), new Set([sendKey(base)]));
		const send = { ...base, operation: 'send' };
		const keys = new Set(
			[
				base,
				{ ...base, messageId: '<b@x>' },
				{ ...base, templateId: 'u' },
				{ ...base, operation: 'autoReply' },
				send,
				{ ...send, recipients: ['bob@c.example'] },
			].map(sendKey),
		);
		assert.equal(keys.size, 6);
	});

	it('without one: differs when position, data, template, sender or recipients differ', () => {
		const base = {
			operation: 'send',
			messageId: null,
			index: 0,
			item: { name: 'a' },
			templateId: 't',
			from: 'support@example.com',
			recipients: ['ann@c.example'],
		};
		const keys = new Set(
			[
				base,
				{ ...base, index: 1 },
				{ ...base, item: { name: 'b' } },
				{ ...base, templateId: 'u' },
				{ ...base, from: 'help@example.com' },
				{ ...base, recipients: ['bob@c.example'] },
			].map(sendKey),
		);
		assert.equal(keys.size, 6);
	});
});

describe('pruneState', () => {
	it('ages out an older version’s marks after SENDING_KEPT_MS, then drops the map', () => {
		const state = senderState({ sending: { old: 0, recent: 10 } });
		pruneState(state, { max: 5, windowMs: 1000 }, SENDING_KEPT_MS + 5);
		assert.deepEqual(state.sending, { recent: 10 });
		pruneState(state, { max: 5, windowMs: 1000 }, SENDING_KEPT_MS + 20);
		assert.equal(state.sending, undefined);
	});
});
