/**
 * Where the HMAC key for thread Message-IDs and opt-out tokens comes from: the secret of a CRM Email
 * Signing credential when the node has one, else n8n's own instance encryption key. It never leaves the server, every n8n
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

/** Shortest secret the credential test accepts: a shorter one could be found from a Message-ID. */
export const MIN_SIGNING_SECRET_LENGTH = 16;

/** Why a Signing Secret is unfit (the credential test's answer), or null when it is fine. */
export function signingSecretProblem(secret: string): string | null {
	if (!secret.trim()) return 'The Signing Secret is empty';
	if (secret.length < MIN_SIGNING_SECRET_LENGTH)
		return `The Signing Secret has ${secret.length} characters: use at least ${MIN_SIGNING_SECRET_LENGTH} random ones, or anyone holding one of our Message-IDs could try short secrets until one signs it and then forge threads`;
	return null;
}

/**
 * The key material for `threadKey`: the Signing credential's secret (null: the node has none),
 * else n8n's instance key. The same secret always gives the same key, wherever it is stored.
 */
export function signingMaterial(
	secret: string | null,
	env: Env = process.env,
): { secret: string } | { instanceKey: string } {
	if (secret !== null) {
		// A short secret still signs (only the credential test refuses it): Message-IDs already
		// signed with it must keep verifying.
		if (!secret.trim())
			throw new CrmEmailError(
				'CONFIG_INVALID',
				"The Signing Secret of the CRM Email Signing API credential is empty: enter the secret, or remove the credential from the node to sign with n8n's own key",
			);
		return { secret };
	}
	const instanceKey = n8nInstanceKey(env);
	if (instanceKey) return { instanceKey };
	throw new CrmEmailError(
		'CONFIG_INVALID',
		`No signing key: the node has no CRM Email Signing API credential and n8n's encryption key was found neither in N8N_ENCRYPTION_KEY nor in ${n8nConfigFile(env)}. Choose a CRM Email Signing API credential (a long random secret, the same wherever this mailbox is handled).`,
	);
}
