import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { ownAddressesOption } from '../shared/ownAddressesOption';
import { crmImapConnectionTest } from '../shared/imapMethods';
import { crmOAuth2ConnectionTest } from '../shared/mailAuth';
import {
	authenticationProperty,
	genericOAuth2Credential,
	googleOAuth2Credential,
	microsoftOAuth2Credential,
} from '../shared/oauth2Description';
import { signingNotice } from '../shared/signingDescription';
import { crmEmailSigningTest } from '../shared/signingMethods';
import { crmSmtpConnectionTest } from '../shared/smtpMethods';
import {
	crmEmailPostgresTest,
	postgresCredential,
	stateStoreProperty,
} from '../shared/state/nodeStore';
import { executeSender } from './execute';

export class CrmEmailTemplateSender implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'CRM Email Template Sender',
		name: 'crmEmailTemplateSender',
		icon: { light: 'file:../../icons/send.svg', dark: 'file:../../icons/send.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle:
			'={{ {send: "Send", reply: "Reply", autoReply: "Auto-Reply"}[$parameter["operation"]] }}',
		description:
			'Sends templated mail (Handlebars and EspoCRM placeholders): new mail, threaded replies, auto-replies with a loop guard',
		defaults: { name: 'CRM Email Template Sender' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Sent', 'Not Sent', 'Failed'],
		usableAsTool: true,
		credentials: [
			{
				name: 'crmSmtpApi',
				required: true,
				testedBy: 'crmSmtpConnectionTest',
				displayOptions: { show: { authentication: ['password'] } },
			},
			{ name: 'crmEmailSigningApi', required: false, testedBy: 'crmEmailSigningTest' },
			{
				name: 'crmImapApi',
				required: true,
				testedBy: 'crmImapConnectionTest',
				displayOptions: { show: { appendToSent: [true], authentication: ['password'] } },
			},
			{ ...microsoftOAuth2Credential },
			{ ...googleOAuth2Credential },
			{ ...genericOAuth2Credential },
			{ ...postgresCredential },
		],
		properties: [
			authenticationProperty,
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				default: 'autoReply',
				options: [
					{
						name: 'Auto-Reply',
						value: 'autoReply',
						description:
							'Reply marked as automatic; skips lists, bulk, bounces, auto-replies, no-reply senders, and rate-limits per sender',
						action: 'Send an auto reply',
					},
					{
						name: 'Reply',
						value: 'reply',
						description: 'Reply to the incoming mail, in its thread',
						action: 'Reply to a mail',
					},
					{ name: 'Send', value: 'send', description: 'A new mail', action: 'Send a mail' },
				],
			},
			{
				displayName: 'From',
				name: 'from',
				type: 'string',
				default: '',
				placeholder: 'Support <support@example.com>',
				description:
					"Exactly one address, allowed by the SMTP credential. Empty: the credential's default From.",
			},
			{
				displayName: 'To',
				name: 'to',
				type: 'string',
				default: '',
				placeholder: 'customer@example.org',
				displayOptions: { show: { operation: ['send'] } },
				description:
					'Comma-separated addresses. An item with one that is not a clean address is not sent (Not Sent, INVALID_RECIPIENT).',
			},
			{
				displayName: 'Cc',
				name: 'cc',
				type: 'string',
				default: '',
				description:
					'Comma-separated addresses, added to every operation (in replies, besides the person answered)',
			},
			{
				displayName: 'Bcc',
				name: 'bcc',
				type: 'string',
				default: '',
				description: 'Comma-separated addresses; in the envelope only, never in the headers',
			},
			{
				displayName: 'Subject',
				name: 'subject',
				type: 'string',
				default: '',
				placeholder: 'We received your request',
				description:
					'Template (fixed mode; an expression\'s result is sent as text, never as a template). For Reply and Auto-Reply, empty means the original subject; "Re: " is added once and the case tag [#N] kept or added.',
			},
			{
				displayName: 'HTML Body',
				name: 'bodyHtml',
				type: 'string',
				typeOptions: { rows: 8 },
				default: '',
				placeholder: '<p>Hello {Person.firstName},</p><p>your case {Case.number} is open.</p>',
				description:
					"Template in fixed mode: Handlebars {{…}} and EspoCRM placeholders {Account.name}; values are HTML-escaped. An expression's result is used as it is, never as a template.",
			},
			{
				displayName: 'Text Body',
				name: 'bodyText',
				type: 'string',
				typeOptions: { rows: 6 },
				default: '',
				description:
					"Template for the plain-text part, in fixed mode; an expression's result is sent as text",
			},
			{
				displayName: 'Append to Sent Folder',
				name: 'appendToSent',
				type: 'boolean',
				default: false,
				description:
					'Whether to store a copy of each sent mail in the IMAP Sent folder (IMAP credential)',
			},
			signingNotice(),
			stateStoreProperty,
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Attachments',
						name: 'attachments',
						type: 'string',
						default: '',
						placeholder: 'data, attachment_0',
						description: 'Comma-separated binary property names to attach',
					},
					{
						displayName: 'Bulk Mail',
						name: 'bulk',
						type: 'boolean',
						displayOptions: { show: { '/operation': ['send'] } },
						default: false,
						description:
							'Whether this is mass mail: adds Precedence: bulk, List-Unsubscribe and one-click unsubscribe (needs Opt-Out Base URL)',
					},
					{
						displayName: 'Case Tag',
						name: 'caseTag',
						type: 'string',
						default: '[#{number}]',
						description: 'Put in the subject when the item has case.number; {number} is replaced',
					},
					{
						displayName: 'One-Off Key',
						name: 'oneOffKey',
						type: 'string',
						displayOptions: { show: { oneOff: [true] } },
						default: '',
						description: 'Names the one-off template (default: a hash of the template)',
					},
					{
						displayName: 'One-Off Template',
						name: 'oneOff',
						type: 'boolean',
						default: false,
						description:
							'Whether each recipient gets this template at most once, across executions',
					},
					{
						displayName: 'Opt-Out Base URL',
						name: 'optOutBaseUrl',
						type: 'string',
						displayOptions: { show: { '/operation': ['send'] } },
						default: '',
						placeholder: 'https://crm.example.com/unsubscribe',
						description:
							'Base of {optOutUrl} / {optOutLink}: email and a signed token are added, so links cannot be forged',
					},
					{
						displayName: 'Opt-Out List',
						name: 'optOutList',
						type: 'string',
						default: '',
						description:
							'Addresses that unsubscribed (comma-separated, or an array from an expression): not mailed, sent to Not Sent',
					},
					{
						displayName: 'Opt-Out List Name',
						name: 'optOutListName',
						type: 'string',
						displayOptions: { show: { '/operation': ['send'] } },
						default: 'default',
						description:
							'The named list (in the State Store) that the unsubscribe links fill, through the CRM Email Opt-Out node; Bulk Mail with an Opt-Out Base URL or this name is not sent to its addresses',
					},
					{
						...ownAddressesOption(
							"Auto-replies never go to these, nor the Cc of Reply To All Participants (the credential's addresses are always included)",
						),
						displayOptions: { show: { '/operation': ['reply', 'autoReply'] } },
					},
					{
						displayName: 'Quote Original',
						name: 'quoteOriginal',
						type: 'boolean',
						displayOptions: { show: { '/operation': ['reply', 'autoReply'] } },
						default: false,
						description: 'Whether replies quote the incoming mail',
					},
					{
						displayName: 'Rate Limit per Sender',
						name: 'rateLimit',
						type: 'number',
						displayOptions: { show: { '/operation': ['autoReply'] } },
						default: 5,
						description:
							'Auto-replies at most this many times per address within the window (0: no limit)',
					},
					{
						displayName: 'Rate Window (Hours)',
						name: 'rateWindowHours',
						type: 'number',
						displayOptions: { show: { '/operation': ['autoReply'] } },
						default: 2,
					},
					{
						displayName: 'Reply To All Participants',
						name: 'replyToAll',
						type: 'boolean',
						displayOptions: { show: { '/operation': ['reply'] } },
						default: false,
						description:
							"Whether to copy (Cc) the case's participants (the item's case.participants from the Case Router), less our own addresses and the person answered",
					},
					{
						displayName: 'Reply To Instead',
						name: 'toOverride',
						type: 'string',
						displayOptions: { show: { '/operation': ['reply', 'autoReply'] } },
						default: '',
						description:
							'Send to these addresses instead of the Reply-To or From of the mail answered',
					},
					{
						displayName: 'Retries',
						name: 'retries',
						type: 'number',
						default: 3,
						description:
							'Attempts after the first on a temporary failure (4xx, dropped connection, timeout)',
					},
					{
						displayName: 'Retry Delay (Ms)',
						name: 'retryDelayMs',
						type: 'number',
						default: 1000,
						description: 'First wait before a retry; doubled each time',
					},
					{
						displayName: 'Sent Folder',
						name: 'sentFolder',
						type: 'string',
						displayOptions: { show: { '/appendToSent': [true] } },
						default: 'Sent',
					},
					{
						displayName: 'Signature (HTML)',
						name: 'signatureHtml',
						type: 'string',
						typeOptions: { rows: 3 },
						default: '',
					},
					{
						displayName: 'Signature (Text)',
						name: 'signatureText',
						type: 'string',
						typeOptions: { rows: 3 },
						default: '',
					},
					{
						displayName: 'Signature on Auto-Replies',
						name: 'signatureOnAutoReply',
						type: 'boolean',
						displayOptions: { show: { '/operation': ['autoReply'] } },
						default: false,
						description: 'Whether auto-replies carry the signature too',
					},
					{
						displayName: 'Signature Placement',
						name: 'signaturePlacement',
						type: 'options',
						displayOptions: { show: { '/operation': ['reply', 'autoReply'] } },
						default: 'below',
						options: [
							{ name: 'Below Everything', value: 'below' },
							{ name: 'Above the Quote', value: 'aboveQuote' },
						],
					},
					{
						displayName: 'Unknown Placeholders',
						name: 'unknownPlaceholders',
						type: 'options',
						default: 'keep',
						options: [
							{ name: 'Keep Literally', value: 'keep', description: 'As EspoCRM does' },
							{ name: 'Fail the Item', value: 'fail' },
						],
					},
					{
						displayName: 'User Name',
						name: 'userName',
						type: 'string',
						default: '',
						description: "{User.name} in templates (default: From's display name)",
					},
				],
			},
		],
	};

	methods = {
		credentialTest: {
			crmSmtpConnectionTest,
			crmImapConnectionTest,
			crmEmailSigningTest,
			crmOAuth2ConnectionTest,
			crmEmailPostgresTest,
		},
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeSender.call(this);
	}
}
