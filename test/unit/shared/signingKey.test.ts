import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { isCrmEmailError } from '../../../nodes/shared/errors';
import { n8nInstanceKey, signingMaterial } from '../../../nodes/shared/signingKey';
import { generateMessageId, threadKey } from '../../../nodes/shared/threadId';
import { smtpThreadKey, toSmtpCredentials } from '../../../nodes/shared/transport/smtp';

const dir = mkdtempSync(join(tmpdir(), 'crm-signing-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function userFolder(config: unknown): string {
	const folder = mkdtempSync(join(dir, 'user-'));
	mkdirSync(join(folder, '.n8n'));
	writeFileSync(
		join(folder, '.n8n', 'config'),
		typeof config === 'string' ? config : JSON.stringify(config),
	);
	return folder;
}

/** Runs fn with process.env changed as given (undefined removes a variable). */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
	const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
	for (const [k, v] of Object.entries(vars))
		if (v === undefined) delete process.env[k];
		else process.env[k] = v;
	try {
		return fn();
	} finally {
		for (const [k, v] of Object.entries(saved))
			if (v === undefined) delete process.env[k];
			else process.env[k] = v;
	}
}

const smtp = (password: string, signingSecret = '') =>
	toSmtpCredentials({ host: 'smtp.example.com', user: 'support', password, signingSecret });

describe('signing key', () => {
	it('never depends on the mailbox password: nothing a customer receives can test one', () => {
		const folder = userFolder({ encryptionKey: 'instance-key-0123456789abcdef' });
		withEnv(
			{
				N8N_USER_FOLDER: folder,
				N8N_ENCRYPTION_KEY: undefined,
				N8N_ENCRYPTION_KEY_FILE: undefined,
			},
			() => {
				const a = smtpThreadKey(smtp('correct horse'));
				const b = smtpThreadKey(smtp('battery staple'));
				assert.deepEqual(a, b);
				// A Message-ID signed with it verifies only with n8n's key, which never leaves the server.
				const id = generateMessageId(
					{ parentType: 'Case', parentId: '1', caseNumber: 1 },
					{ key: a, domain: 'example.com' },
				);
				assert.doesNotMatch(id, /correct|horse/);
			},
		);
	});

	it("finds n8n's key as n8n does: N8N_ENCRYPTION_KEY, its _FILE, then the user folder's config", () => {
		const folder = userFolder({ encryptionKey: 'from-config' });
		const keyFile = join(dir, 'key.txt');
		writeFileSync(keyFile, 'from-file\n');
		assert.equal(
			n8nInstanceKey({ N8N_ENCRYPTION_KEY: 'from-env', N8N_USER_FOLDER: folder }),
			'from-env',
		);
		assert.equal(
			n8nInstanceKey({ N8N_ENCRYPTION_KEY_FILE: keyFile, N8N_USER_FOLDER: folder }),
			'from-file',
		);
		assert.equal(n8nInstanceKey({ N8N_USER_FOLDER: folder }), 'from-config');
		assert.equal(n8nInstanceKey({ HOME: folder }), 'from-config');
		assert.equal(
			n8nInstanceKey({ N8N_ENCRYPTION_KEY: ' "quoted" ', N8N_USER_FOLDER: folder }),
			'quoted',
		);
		assert.equal(
			n8nInstanceKey({ N8N_ENCRYPTION_KEY: '', N8N_USER_FOLDER: folder }),
			'from-config',
		);
		assert.equal(n8nInstanceKey({ N8N_USER_FOLDER: join(dir, 'nowhere') }), null);
		assert.equal(n8nInstanceKey({ N8N_USER_FOLDER: userFolder('{not json') }), null);
		assert.equal(n8nInstanceKey({ N8N_USER_FOLDER: userFolder({ encryptionKey: 7 }) }), null);
	});

	it('the Signing Secret wins, and gives the same key as before (Message-IDs already sent still verify)', () => {
		assert.deepEqual(
			threadKey(signingMaterial('s3cret', { N8N_ENCRYPTION_KEY: 'other' })),
			createHash('sha256').update('n8n-nodes-crm-email/thread-id/secret:s3cret').digest(),
		);
		assert.notDeepEqual(threadKey({ secret: 'k' }), threadKey({ instanceKey: 'k' }));
		assert.notDeepEqual(threadKey({ instanceKey: 'a' }), threadKey({ instanceKey: 'b' }));
	});

	it('with neither, refuses to sign and says what to set', () => {
		const env = { N8N_USER_FOLDER: join(dir, 'nowhere') };
		assert.throws(
			() => signingMaterial('', env),
			(e: unknown) =>
				isCrmEmailError(e) &&
				e.code === 'CONFIG_INVALID' &&
				/Signing Secret/.test(e.message) &&
				e.message.includes(join(dir, 'nowhere', '.n8n', 'config')),
		);
	});
});
