/**
 * n8n glue around the SMTP credential: its test, declared (`testedBy`) by every node that uses
 * the credential.
 */
import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import { testSmtpCredentials, toSmtpCredentials } from './transport/smtp';

export async function crmSmtpConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const result = await testSmtpCredentials(toSmtpCredentials(credential.data ?? {}));
	return { status: result.ok ? 'OK' : 'Error', message: result.message };
}
