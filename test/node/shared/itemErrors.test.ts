/**
 * The per-item error contract every node uses: the description, the Failed item, and the code of
 * a typed error that reached the glue already wrapped in an n8n error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type INode, NodeOperationError } from 'n8n-workflow';

import { CrmEmailError } from '../../../nodes/shared/errors';
import { errorJson, failedItem, toNodeError } from '../../../nodes/shared/itemErrors';

const node = {
	name: 'Router',
	type: 'x',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
} as INode;
const ctx = { getNode: () => node };

describe('per-item error contract', () => {
	it('describes a typed error by its code and keeps its message', () => {
		const typed = new CrmEmailError('STATE_WRITE_FAILED', 'Could not write /x/state.json: EISDIR');
		const wrapped = toNodeError(ctx, typed, 3, 'Free some space');
		assert.equal(wrapped.message, 'Could not write /x/state.json: EISDIR');
		assert.equal(wrapped.description, 'Error code: STATE_WRITE_FAILED. Free some space');
	});

	it('gives a wrapped typed error its own code on the Failed item', () => {
		const typed = new CrmEmailError('STATE_WRITE_FAILED', 'disk full', { file: '/x' });
		const wrapped = toNodeError(ctx, typed);
		assert.deepEqual(errorJson(wrapped), {
			code: 'STATE_WRITE_FAILED',
			message: 'disk full',
			file: '/x',
		});
		const item = failedItem(ctx, { json: { subject: 's' }, binary: {} }, 2, wrapped);
		assert.equal((item.json.error as { code: string }).code, 'STATE_WRITE_FAILED');
		assert.deepEqual(item.pairedItem, { item: 2 });
		assert.ok(item.error instanceof NodeOperationError);
		assert.deepEqual(item.binary, {});
	});

	it('codes an untyped error as UNEXPECTED and an n8n one as NODE_ERROR', () => {
		assert.equal(errorJson(new Error('boom')).code, 'UNEXPECTED');
		assert.equal(errorJson(new NodeOperationError(node, 'bad')).code, 'NODE_ERROR');
	});
});
