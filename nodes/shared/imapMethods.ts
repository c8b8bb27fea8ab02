/**
 * n8n methods around the IMAP credential that several nodes declare: the credential test (via
 * `testedBy`) and the folder list for pickers.
 */
import {
	NodeOperationError,
	type ICredentialsDecrypted,
	type ICredentialTestFunctions,
	type ILoadOptionsFunctions,
	type INodeCredentialTestResult,
	type INodePropertyOptions,
} from 'n8n-workflow';

import { readImapCredentials } from './mailAuth';
import {
	describeImapError,
	testImapCredentials,
	toImapCredentials,
	withImapSession,
} from './transport/imap';

export async function crmImapConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const result = await testImapCredentials(toImapCredentials(credential.data ?? {}));
	return { status: result.ok ? 'OK' : 'Error', message: result.message };
}

export async function getFolders(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
	const credentials = await readImapCredentials(this);
	try {
		const folders = await withImapSession(credentials, async (client) => await client.list());
		return folders
			.filter((f) => !f.flags.has('\\Noselect'))
			.map((f) => ({ name: f.path, value: f.path, description: f.specialUse ?? undefined }));
	} catch (error) {
		throw new NodeOperationError(this.getNode(), describeImapError(error, credentials).message);
	}
}
