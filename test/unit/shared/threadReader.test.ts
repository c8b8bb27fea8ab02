import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { messageIdsIn, normalizeMessageId, threadMessageIds } from '../../../nodes/shared/threadId';

describe('thread reader', () => {
	it('takes the Message-ID of an obs-in-reply-to phrase, not its first word (issue #11)', () => {
		assert.deepEqual(
			threadMessageIds({
				inReplyTo: "noglider's message of Tue, 10 Sep 2002 <20020910142926.C5DF2A7@whatexit.org>",
			}),
			['<20020910142926.C5DF2A7@whatexit.org>'],
		);
	});

	it('reads References given as one string, with comments, newest first', () => {
		assert.deepEqual(threadMessageIds({ references: '<a@x> (first) <b@x>\r\n <c@x>' }), [
			'<c@x>',
			'<b@x>',
			'<a@x>',
		]);
	});

	it('keeps a bare id that is the whole value, drops a phrase', () => {
		assert.deepEqual(messageIdsIn(' a@x '), ['<a@x>']);
		assert.deepEqual(messageIdsIn('Your message of Tue'), []);
		assert.deepEqual(messageIdsIn('<>'), []);
	});

	it('normalizes to one pair of brackets without spaces', () => {
		assert.equal(normalizeMessageId('<a @x>'), '<a@x>');
		assert.equal(normalizeMessageId('<a@x> (comment)'), '<a@x>');
		assert.equal(normalizeMessageId('a@x (comment)'), '<a@x>');
		assert.equal(normalizeMessageId('<<>>'), null);
	});
});
