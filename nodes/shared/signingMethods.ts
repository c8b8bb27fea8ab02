/**
 * n8n glue around the optional CRM Email Signing API credential (Template Sender, Parent Linker, Case
 * Router): its test, which checks the secret locally (there is no server to ask), the thread key
 * of a running node, and the reader of our signed Message-IDs.
 */
import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	IExecuteFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import { signingMaterial, signingSecretProblem } from './signingKey';
import { parseMessageId, threadKey, type ThreadRef } from './threadId';

export const SIGNING_CREDENTIAL = 'crmEmailSigningApi';

export async function crmEmailSigningTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const problem = signingSecretProblem(String(credential.data?.secret ?? ''));
	return problem
		? { status: 'Error', message: problem }
		: {
				status: 'OK',
				message: 'The secret can sign; use the same one wherever this mailbox is handled',
			};
}

/** The node's thread key: its Signing credential's secret when one is chosen, else n8n's key. */
export async function nodeThreadKey(ctx: IExecuteFunctions): Promise<Buffer> {
	// n8n refuses getCredentials for an optional credential that is not chosen: ask the node first.
	const chosen = ctx.getNode().credentials?.[SIGNING_CREDENTIAL] !== undefined;
	const secret = chosen
		? String((await ctx.getCredentials(SIGNING_CREDENTIAL)).secret ?? '')
		: null;
	return threadKey(signingMaterial(secret));
}

/** Reads our signed Message-IDs; null when "Thread Message-IDs" is Ignore. */
export async function ownMessageIdParser(
	ctx: IExecuteFunctions,
): Promise<((messageId: string) => ThreadRef | null) | null> {
	if (ctx.getNodeParameter('threadIds', 0) !== 'verify') return null;
	const key = await nodeThreadKey(ctx);
	return (messageId) => parseMessageId(messageId, key);
}
