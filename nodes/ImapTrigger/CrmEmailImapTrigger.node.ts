import {
	NodeConnectionTypes,
	type INodeType,
	type INodeTypeDescription,
	type ITriggerFunctions,
	type ITriggerResponse,
} from 'n8n-workflow';

import { crmImapConnectionTest, getFolders } from '../shared/imapMethods';
import { crmOAuth2ConnectionTest } from '../shared/mailAuth';
import {
	authenticationProperty,
	genericOAuth2Credential,
	googleOAuth2Credential,
	microsoftOAuth2Credential,
} from '../shared/oauth2Description';
import { triggerImap } from './trigger';

export class CrmEmailImapTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'CRM Email IMAP Trigger',
		name: 'crmEmailImapTrigger',
		icon: { light: 'file:../../icons/inbox.svg', dark: 'file:../../icons/inbox.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{$parameter["folders"].join(", ")}}',
		description:
			'Starts the workflow for every new mail in one or more IMAP folders, exactly once: no mail lost, none twice',
		eventTriggerDescription: 'Waiting for new mail',
		defaults: { name: 'CRM Email IMAP Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		// Literal entries: n8n's lint reads them from the source.
		credentials: [
			{
				name: 'crmImapApi',
				required: true,
				testedBy: 'crmImapConnectionTest',
				displayOptions: { show: { authentication: ['password'] } },
			},
			{ ...microsoftOAuth2Credential },
			{ ...googleOAuth2Credential },
			{ ...genericOAuth2Credential },
		],
		properties: [
			authenticationProperty,
			{
				displayName: 'Folder Names or IDs',
				name: 'folders',
				type: 'multiOptions',
				typeOptions: { loadOptionsMethod: 'getFolders' },
				default: ['INBOX'],
				required: true,
				description:
					'Folders to watch, e.g. INBOX and Sent. A mail found in two of them is emitted once. Choose from the list, or specify IDs using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
			},
			{
				displayName: 'Fetch Since',
				name: 'fetchSince',
				type: 'dateTime',
				default: '',
				description:
					'The first run takes mails that arrived (IMAP internal date) on or after this moment. Empty: the moment the workflow is activated. Later runs continue from where the last one stopped.',
			},
			{
				displayName: 'After Fetch',
				name: 'afterFetch',
				type: 'options',
				default: 'nothing',
				options: [
					{
						name: 'Nothing',
						value: 'nothing',
						description: 'Leave the mail as it is (it stays unread)',
					},
					{
						name: 'Mark as Read',
						value: 'markRead',
						description: 'Set the \\Seen flag once the workflow has the mail',
					},
					{
						name: 'Move to Folder',
						value: 'move',
						description: 'Move the mail once the workflow has it',
					},
				],
			},
			{
				displayName: 'Move To Folder',
				name: 'moveTo',
				type: 'string',
				default: 'Processed',
				required: true,
				displayOptions: { show: { afterFetch: ['move'] } },
				description: 'An existing folder the fetched mails are moved to',
			},
			{
				displayName: 'Max Mails per Execution',
				name: 'batchSize',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 1000 },
				default: 50,
				description: 'A larger backlog becomes several executions, one after the other',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Attachments as Binary Data',
						name: 'downloadAttachments',
						type: 'boolean',
						default: false,
						description:
							'Whether to attach attachment contents as binary properties attachment_0, attachment_1, …',
					},
					{
						displayName: 'Max Attachment Size (MB)',
						name: 'maxAttachmentMb',
						type: 'number',
						typeOptions: { minValue: 0, maxValue: 50 },
						default: 10,
						description: 'Larger attachments are listed in `attachments` but not attached',
					},
					{
						displayName: 'Max Mail Size (MB)',
						name: 'maxMailMb',
						type: 'number',
						typeOptions: { minValue: 0, maxValue: 50 },
						default: 10,
						description:
							'A larger mail is emitted with its headers only, `truncated: true` and its attachments listed (at most 50)',
					},
					{
						displayName: 'New Mail Detection',
						name: 'newMailDetection',
						type: 'options',
						default: 'idle',
						options: [
							{ name: 'IMAP IDLE (Push) With Polling as Fallback', value: 'idle' },
							{ name: 'Polling Only', value: 'poll' },
						],
					},
					{
						displayName: 'Poll Interval (Seconds)',
						name: 'pollIntervalSeconds',
						type: 'number',
						typeOptions: { minValue: 5, maxValue: 86400 },
						default: 60,
						description:
							'How often all folders are checked (with IDLE, only as a fallback and for the other folders)',
					},
				],
			},
		],
	};

	methods = {
		credentialTest: { crmImapConnectionTest, crmOAuth2ConnectionTest },
		loadOptions: { getFolders },
	};

	async trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
		return await triggerImap.call(this);
	}
}
