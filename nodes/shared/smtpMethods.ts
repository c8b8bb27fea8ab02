/**
 * n8n glue around the SMTP credential: its test, declared (`testedBy`) by every node that uses
 * the credential, and the reader of our signed thread Message-IDs (Parent Linker, Case Router).
 */
import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	IExecuteFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import { parseMessageId, type ThreadRef } from './threadId';
import { smtpThreadKey, testSmtpCredentials, toSmtpCredentials } from './transport/smtp';

export async function crmSmtpConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const result = await testSmtpCredentials(toSmtpCredentials(credential.data ?? {}));
	return { status: result.ok ? 'OK' : 'Error', message: result.message };
}

/** Reads our signed Message-IDs with the SMTP credential's key; null when "Thread Message-IDs" is Ignore. */
export async function ownMessageIdParser(
	ctx: IExecuteFunctions,
): Promise<((messageId: string) => ThreadRef | null) | null> {
	if (ctx.getNodeParameter('threadIds', 0) !== 'verify') return null;
	const key = smtpThreadKey(toSmtpCredentials(await ctx.getCredentials('crmSmtpApi')));
	return (messageId) => parseMessageId(messageId, key);
}
