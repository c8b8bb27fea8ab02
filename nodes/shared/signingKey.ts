/**
 * Where the HMAC key for thread Message-IDs and opt-out tokens comes from when the SMTP credential
 * has no Signing Secret: n8n's own instance encryption key. It never leaves the server, every n8n
 * process of one installation shares it (queue mode requires the same key on main and workers, or
 * credentials could not be decrypted), and it is long and random — unlike the mailbox password,
 * from which the key used to be derived, so one received Message-ID let anyone test password
 * guesses offline.
 *
 * n8n reads the key from N8N_ENCRYPTION_KEY (or the file named by N8N_ENCRYPTION_KEY_FILE), else
 * from `encryptionKey` in `<N8N_USER_FOLDER or HOME>/.n8n/config`, which it writes on first start
 * (n8n-core's InstanceSettings, n8n 2.41).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { CrmEmailError } from './errors';

type Env = Record<string, string | undefined>;

/** n8n's settings file: `.n8n/config` in N8N_USER_FOLDER, else in HOME (n8n's getN8nFolder). */
export function n8nConfigFile(env: Env = process.env): string {
	return join(env.N8N_USER_FOLDER ?? env.HOME ?? homedir(), '.n8n', 'config');
}

function readText(file: string): string | null {
	try {
		return readFileSync(file, 'utf8');
	} catch {
		return null;
	}
}

/** n8n's instance encryption key, found as n8n itself finds it; null when there is none. */
export function n8nInstanceKey(env: Env = process.env): string | null {
	// n8n's config reader: the variable (trimmed, outer quotes dropped), else its _FILE (trimmed).
	const fromEnv =
		'N8N_ENCRYPTION_KEY' in env
			? (env.N8N_ENCRYPTION_KEY ?? '').trim().replace(/^(['"])(.*)\1$/, '$2')
			: env.N8N_ENCRYPTION_KEY_FILE
				? (readText(env.N8N_ENCRYPTION_KEY_FILE)?.trim() ?? '')
				: '';
	if (fromEnv) return fromEnv;
	const config = readText(n8nConfigFile(env));
	if (config === null) return null;
	try {
		const key = (JSON.parse(config) as { encryptionKey?: unknown }).encryptionKey;
		return typeof key === 'string' && key ? key : null;
	} catch {
		return null;
	}
}

/** The key material for `threadKey`: the credential's Signing Secret, else n8n's instance key. */
export function signingMaterial(
	secret: string,
	env: Env = process.env,
): { secret: string } | { instanceKey: string } {
	if (secret) return { secret };
	const instanceKey = n8nInstanceKey(env);
	if (instanceKey) return { instanceKey };
	throw new CrmEmailError(
		'CONFIG_INVALID',
		`No signing key: the SMTP credential has no Signing Secret and n8n's encryption key was found neither in N8N_ENCRYPTION_KEY nor in ${n8nConfigFile(env)}. Set a Signing Secret on the SMTP credential (a long random text, the same wherever this mailbox is used).`,
	);
}
