/**
 * Description parts shared by the nodes that sign (Template Sender) or verify (Parent Linker, Case
 * Router) thread Message-IDs: defined once so the three say the same thing. The credential entry
 * (crmEmailSigningApi, optional) stays written out in each node: n8n's linter reads it literally.
 */
import type { IDisplayOptions, INodeProperties } from 'n8n-workflow';

export function signingNotice(displayOptions?: IDisplayOptions): INodeProperties {
	return {
		displayName:
			"Mails this package sends carry a signed Message-ID, so a reply finds its case or record and nobody can forge one to slip into a thread. n8n's own encryption key signs: no credential needed. Choose a CRM Email Signing API credential only when several n8n installations handle the same mailbox.",
		name: 'signingNotice',
		type: 'notice',
		default: '',
		...(displayOptions ? { displayOptions } : {}),
	};
}

export function threadIdsProperty(displayOptions?: IDisplayOptions): INodeProperties {
	return {
		displayName: 'Thread Message-IDs',
		name: 'threadIds',
		type: 'options',
		default: 'verify',
		...(displayOptions ? { displayOptions } : {}),
		options: [
			{
				name: 'Recognise Signed Replies',
				value: 'verify',
				description:
					'A reply to a mail the Template Sender sent finds its case or record through the signed Message-ID it answers',
			},
			{
				name: 'Ignore',
				value: 'ignore',
				description:
					'Signatures are not checked: a reply is recognised only by what the node remembers, case tags and addresses',
			},
		],
	};
}
