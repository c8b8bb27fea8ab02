import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { isCrmEmailError } from '../../../nodes/shared/errors';
import fc from 'fast-check';
import type { ICredentialTestFunctions } from 'n8n-workflow';

import {
	MIN_SIGNING_SECRET_LENGTH,
	n8nInstanceKey,
	signingMaterial,
} from '../../../nodes/shared/signingKey';
import { crmEmailSigningTest } from '../../../nodes/shared/signingMethods';
import { generateMessageId, threadKey } from '../../../nodes/shared/threadId';

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

describe('signing key', () => {
	it("never depends on any mail password: without a Signing credential, n8n's key signs", () => {
		const folder = userFolder({ encryptionKey: 'instance-key-0123456789abcdef' });
		withEnv(
			{
				N8N_USER_FOLDER: folder,
				N8N_ENCRYPTION_KEY: undefined,
				N8N_ENCRYPTION_KEY_FILE: undefined,
			},
			() => {
				const a = threadKey(signingMaterial(null));
				assert.deepEqual(a, threadKey({ instanceKey: 'instance-key-0123456789abcdef' }));
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
		const secret = 'long-enough-s3cret';
		assert.deepEqual(
			threadKey(signingMaterial(secret, { N8N_ENCRYPTION_KEY: 'other' })),
			createHash('sha256').update(`n8n-nodes-crm-email/thread-id/secret:${secret}`).digest(),
		);
		assert.notDeepEqual(threadKey({ secret: 'k' }), threadKey({ instanceKey: 'k' }));
		assert.notDeepEqual(threadKey({ instanceKey: 'a' }), threadKey({ instanceKey: 'b' }));
	});

	it('with neither, refuses to sign and says what to set', () => {
		const env = { N8N_USER_FOLDER: join(dir, 'nowhere') };
		assert.throws(
			() => signingMaterial(null, env),
			(e: unknown) =>
				isCrmEmailError(e) &&
				e.code === 'CONFIG_INVALID' &&
				/CRM Email Signing API credential/.test(e.message) &&
				e.message.includes(join(dir, 'nowhere', '.n8n', 'config')),
		);
	});

	it('the Test button refuses a blank or short secret; at run time only a blank one fails', async () => {
		const test = (secret: string) =>
			crmEmailSigningTest.call({} as ICredentialTestFunctions, {
				id: '1',
				name: 'Signing',
				type: 'crmEmailSigningApi',
				data: { secret },
			});
		await fc.assert(
			fc.asyncProperty(fc.string({ maxLength: 40 }), async (secret) => {
				const ok = secret.trim() !== '' && secret.length >= MIN_SIGNING_SECRET_LENGTH;
				const result = await test(secret);
				assert.equal(result.status, ok ? 'OK' : 'Error');
				// A chosen credential is never replaced by n8n's key, not even when blank.
				const env = { N8N_ENCRYPTION_KEY: 'never-a-fallback' };
				if (secret.trim()) assert.deepEqual(signingMaterial(secret, env), { secret });
				else
					assert.throws(
						() => signingMaterial(secret, env),
						(e: unknown) =>
							isCrmEmailError(e) &&
							e.code === 'CONFIG_INVALID' &&
							/CRM Email Signing API credential is empty/.test(e.message),
					);
			}),
		);
		assert.match((await test('')).message, /empty/);
		assert.match((await test('0123456789abcde')).message, /15 characters.*at least 16/);
	});
});
