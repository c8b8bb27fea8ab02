import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeProperties,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { crmImapConnectionTest } from '../shared/imapMethods';
import { crmOAuth2ConnectionTest } from '../shared/mailAuth';
import { authenticationProperty } from '../shared/oauth2Description';
import { ACTIONS } from './core/rules';
import { executeFilter } from './execute';

/** Folder and Mark as Read change the mailbox only with this parameter on: the rules say so. */
const APPLY = 'Apply on the Mailbox';

const conditionFields: INodeProperties[] = [
	{
		displayName: 'Field',
		name: 'field',
		type: 'options',
		default: 'subject',
		options: [
			{
				name: 'Body',
				value: 'body',
				description: 'Plain text, and the HTML part with tags stripped',
			},
			{ name: 'Cc', value: 'cc' },
			{ name: 'From', value: 'from' },
			{ name: 'Header', value: 'header', description: 'Any header, by name' },
			{ name: 'Reply-To', value: 'replyTo' },
			{ name: 'Subject', value: 'subject' },
			{ name: 'To', value: 'to' },
		],
		description: 'Address fields match when any of their addresses (or display names) matches',
	},
	{
		displayName: 'Header Name',
		name: 'header',
		type: 'string',
		default: '',
		placeholder: 'List-ID',
		displayOptions: { show: { field: ['header'] } },
	},
	{
		displayName: 'Operator',
		name: 'operator',
		type: 'options',
		default: 'contains',
		options: [
			{ name: 'Begins With', value: 'beginsWith' },
			{ name: 'Contains', value: 'contains' },
			{ name: 'Does Not Contain', value: 'notContains' },
			{ name: 'Does Not Equal', value: 'notEquals' },
			{ name: 'Ends With', value: 'endsWith' },
			{ name: 'Equals', value: 'equals' },
			{
				name: 'Matches Glob',
				value: 'glob',
				description: 'Whole value, * = anything, ? = one character',
			},
			{
				name: 'Matches Regex',
				value: 'regex',
				description: 'JavaScript regular expression, e.g. ^(re|aw):',
			},
		],
	},
	{ displayName: 'Value', name: 'value', type: 'string', default: '' },
	{
		displayName: 'Case Sensitive',
		name: 'caseSensitive',
		type: 'boolean',
		default: false,
		description: 'Whether upper and lower case must match exactly',
	},
];

const ruleFields: INodeProperties[] = [
	{
		displayName: 'Name',
		name: 'name',
		type: 'string',
		default: '',
		placeholder: 'No-reply senders',
	},
	{
		displayName: 'Only Account',
		name: 'account',
		type: 'string',
		default: '',
		placeholder: 'support@imap.example.com',
		description:
			"Apply the rule only to mail from this account (the trigger's account field, user@host). Empty: every account.",
	},
	{
		displayName: 'Match',
		name: 'match',
		type: 'options',
		default: 'all',
		options: [
			{ name: 'All Conditions', value: 'all' },
			{ name: 'Any Condition', value: 'any' },
		],
	},
	{
		displayName: 'Conditions',
		name: 'conditions',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true, sortable: true },
		default: {},
		placeholder: 'Add Condition',
		options: [{ displayName: 'Condition', name: 'condition', values: conditionFields }],
		description: 'A rule without conditions matches every mail (a catch-all as the last rule)',
	},
	{
		displayName: 'Action',
		name: 'action',
		type: 'options',
		default: 'skip',
		options: [
			{ name: 'Skip', value: 'skip', description: 'Send the mail to the Skipped output' },
			{
				name: 'Set Target Folder',
				value: 'folder',
				description: `Keep it and set filter.folder; the mail is moved there only with ${APPLY}`,
			},
			{ name: 'None', value: 'none', description: 'Keep it, only tag it with the rule' },
		] satisfies Array<{ name: string; value: (typeof ACTIONS)[number]; description: string }>,
	},
	{
		displayName: 'Folder',
		name: 'folder',
		type: 'string',
		default: '',
		placeholder: 'Newsletters',
		displayOptions: { show: { action: ['folder'] } },
	},
	{
		displayName: 'Mark as Read',
		name: 'markAsRead',
		type: 'boolean',
		default: false,
		description: `Whether to set filter.markAsRead; the mail is marked read on the server only with ${APPLY}`,
	},
	{
		displayName: 'Skip Notification',
		name: 'skipNotification',
		type: 'boolean',
		default: false,
		description: 'Whether to set filter.skipNotification, for later nodes that notify people',
	},
	{
		displayName: 'Continue With Next Rules',
		name: 'continue',
		type: 'boolean',
		default: false,
		description: 'Whether later rules are still evaluated after this one matched',
	},
];

export class CrmEmailFilter implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'CRM Email Filter',
		name: 'crmEmailFilter',
		icon: { light: 'file:../../icons/filter.svg', dark: 'file:../../icons/filter.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["rulesSource"] === "json" ? "rules from JSON" : "rules"}}',
		description: 'Routes mails by rules on sender, recipients, subject, body or headers',
		defaults: { name: 'CRM Email Filter' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Kept', 'Skipped', 'Failed'],
		usableAsTool: true,
		// Literal entries: n8n's lint reads them from the source.
		credentials: [
			{
				name: 'crmImapApi',
				required: true,
				testedBy: 'crmImapConnectionTest',
				displayOptions: { show: { applyOnServer: [true], authentication: ['password'] } },
			},
			{
				name: 'crmMicrosoftOAuth2Api',
				required: true,
				testedBy: 'crmOAuth2ConnectionTest',
				displayOptions: { show: { applyOnServer: [true], authentication: ['microsoftOAuth2'] } },
			},
			{
				name: 'crmGoogleOAuth2Api',
				required: true,
				testedBy: 'crmOAuth2ConnectionTest',
				displayOptions: { show: { applyOnServer: [true], authentication: ['googleOAuth2'] } },
			},
			{
				name: 'crmOAuth2Api',
				required: true,
				testedBy: 'crmOAuth2ConnectionTest',
				displayOptions: { show: { applyOnServer: [true], authentication: ['oAuth2'] } },
			},
		],
		properties: [
			{
				displayName: 'Rules From',
				name: 'rulesSource',
				type: 'options',
				noDataExpression: true,
				default: 'panel',
				options: [
					{ name: 'Defined Below', value: 'panel' },
					{
						name: 'JSON',
						value: 'json',
						description:
							'A JSON array of rules, e.g. from an expression reading a database or sheet',
					},
				],
			},
			{
				displayName: 'Rules',
				name: 'rules',
				type: 'fixedCollection',
				typeOptions: { multipleValues: true, sortable: true },
				default: {},
				placeholder: 'Add Rule',
				displayOptions: { show: { rulesSource: ['panel'] } },
				description:
					'Evaluated in order; the first rule that matches decides, unless it says to continue',
				options: [{ displayName: 'Rule', name: 'rule', values: ruleFields }],
			},
			{
				displayName: 'Rules (JSON)',
				name: 'rulesJson',
				type: 'json',
				default: '[]',
				displayOptions: { show: { rulesSource: ['json'] } },
				description:
					'Array of {name, account, match, conditions: [{field, header, operator, value, caseSensitive}], action, folder, markAsRead, skipNotification, continue}',
			},
			{
				displayName: `Rules only tag the mails (filter.folder, filter.markAsRead). Turn on ${APPLY} to move them and mark them read on the IMAP server.`,
				name: 'tagOnlyNotice',
				type: 'notice',
				default: '',
				displayOptions: { show: { applyOnServer: [false] } },
			},
			{
				displayName: APPLY,
				name: 'applyOnServer',
				type: 'boolean',
				default: false,
				description:
					"Whether to really move mails to the rule's folder and mark them read on the IMAP server (mails from the credential's account only)",
			},
			{ ...authenticationProperty, displayOptions: { show: { applyOnServer: [true] } } },
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Regex Time Limit (Ms)',
						name: 'regexTimeoutMs',
						type: 'number',
						default: 100,
						typeOptions: { minValue: 1 },
						description:
							'Time all regex tests on one mail may take together; a test still running then is stopped, later ones are not run, and both count as no match (protects against crafted mail)',
					},
				],
			},
		],
	};

	methods = { credentialTest: { crmImapConnectionTest, crmOAuth2ConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeFilter.call(this);
	}
}
