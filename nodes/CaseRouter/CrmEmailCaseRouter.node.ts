import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { signingNotice, threadIdsProperty } from '../shared/signingDescription';
import { crmEmailSigningTest } from '../shared/signingMethods';
import {
	crmEmailPostgresTest,
	postgresCredential,
	stateStoreProperty,
} from '../shared/state/nodeStore';
import { ownAddressesOption } from '../shared/ownAddressesOption';
import { executeRouter } from './execute';

const route = { show: { operation: ['route'] } };
const update = { show: { operation: ['updateCase'] } };
const verify = { show: { operation: ['route'], threadIds: ['verify'] } };

export class CrmEmailCaseRouter implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'CRM Email Case Router',
		name: 'crmEmailCaseRouter',
		icon: { light: 'file:../../icons/router.svg', dark: 'file:../../icons/router.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] === "updateCase" ? "Update Case" : "Route"}}',
		description:
			'Email-to-case: the first mail of a thread opens a case, follow-ups join it; assignment direct, round-robin or least-busy',
		defaults: { name: 'CRM Email Case Router' },
		inputs: [NodeConnectionTypes.Main],
		outputs: `={{ $parameter.operation === "updateCase" ? [{ type: "${NodeConnectionTypes.Main}", displayName: "Updated" }, { type: "${NodeConnectionTypes.Main}", displayName: "Not Found" }, { type: "${NodeConnectionTypes.Main}", displayName: "Failed" }] : [{ type: "${NodeConnectionTypes.Main}", displayName: "New Case" }, { type: "${NodeConnectionTypes.Main}", displayName: "Follow-Up" }, { type: "${NodeConnectionTypes.Main}", displayName: "Ignored" }, { type: "${NodeConnectionTypes.Main}", displayName: "Failed" }] }}`,
		usableAsTool: true,
		credentials: [
			{
				name: 'crmEmailSigningApi',
				required: false,
				testedBy: 'crmEmailSigningTest',
				displayOptions: { show: { operation: ['route'], threadIds: ['verify'] } },
			},
			{ ...postgresCredential },
		],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				default: 'route',
				options: [
					{
						name: 'Route',
						value: 'route',
						description: 'New case, follow-up of a known case, or ignored',
						action: 'Route mails to cases',
					},
					{
						name: 'Update Case',
						value: 'updateCase',
						description: "Close, reopen or reassign a case in the router's ledger",
						action: 'Update a case',
					},
				],
			},
			{
				displayName: 'Team',
				name: 'team',
				type: 'string',
				default: '',
				placeholder: 'Support',
				displayOptions: route,
				description: 'Set on new cases; round-robin positions are kept per team',
			},
			{
				displayName: 'Assignment',
				name: 'assignment',
				type: 'options',
				default: 'roundRobin',
				displayOptions: route,
				options: [
					{ name: 'Direct', value: 'direct', description: 'Always the same user' },
					{
						name: 'Least-Busy',
						value: 'leastBusy',
						description: 'The member with the fewest open cases; ties go to the first in the list',
					},
					{ name: 'None', value: 'none', description: 'New cases stay unassigned (status New)' },
					{
						name: 'Round-Robin',
						value: 'roundRobin',
						description: 'The member after the one who got the previous case, in list order',
					},
				],
			},
			{
				displayName: 'User ID',
				name: 'userId',
				type: 'string',
				default: '',
				displayOptions: { show: { operation: ['route'], assignment: ['direct'] } },
			},
			{
				displayName: 'Team Members From',
				name: 'membersSource',
				type: 'options',
				default: 'list',
				displayOptions: { show: { operation: ['route'], assignment: ['roundRobin', 'leastBusy'] } },
				options: [
					{ name: 'List Below', value: 'list' },
					{
						name: 'JSON',
						value: 'json',
						description:
							'An array of {ID, name, role, active} from an expression (e.g. loaded from the CRM)',
					},
				],
			},
			{
				displayName: 'Team Members',
				name: 'members',
				type: 'fixedCollection',
				typeOptions: { multipleValues: true, sortable: true },
				default: {},
				placeholder: 'Add Member',
				displayOptions: {
					show: {
						operation: ['route'],
						assignment: ['roundRobin', 'leastBusy'],
						membersSource: ['list'],
					},
				},
				options: [
					{
						displayName: 'Member',
						name: 'member',
						values: [
							{ displayName: 'User ID', name: 'id', type: 'string', default: '' },
							{ displayName: 'Name', name: 'name', type: 'string', default: '' },
							{ displayName: 'Role', name: 'role', type: 'string', default: '' },
							{
								displayName: 'Active',
								name: 'active',
								type: 'boolean',
								default: true,
								description: 'Whether the member gets new cases',
							},
						],
					},
				],
			},
			{
				displayName: 'Team Members (JSON)',
				name: 'membersJson',
				type: 'json',
				default: '[]',
				displayOptions: {
					show: {
						operation: ['route'],
						assignment: ['roundRobin', 'leastBusy'],
						membersSource: ['json'],
					},
				},
			},
			{
				displayName: 'Only Role',
				name: 'role',
				type: 'string',
				default: '',
				displayOptions: { show: { operation: ['route'], assignment: ['roundRobin', 'leastBusy'] } },
				description: 'Only members with this role get cases. Empty: every active member.',
			},
			{
				displayName: 'Open Cases From',
				name: 'openCountsSource',
				type: 'options',
				default: 'ledger',
				displayOptions: { show: { operation: ['route'], assignment: ['leastBusy'] } },
				options: [
					{ name: "The Router's Ledger", value: 'ledger' },
					{
						name: 'A Field or Expression',
						value: 'field',
						description: 'Counts loaded from the CRM',
					},
				],
			},
			{
				displayName: 'Open Cases',
				name: 'openCounts',
				type: 'json',
				default: '{}',
				displayOptions: {
					show: { operation: ['route'], assignment: ['leastBusy'], openCountsSource: ['field'] },
				},
				description: 'Object {userId: count}, or an array of {ID, count}',
			},
			threadIdsProperty(route),
			signingNotice(verify),
			stateStoreProperty,
			{
				displayName: 'Case Number',
				name: 'caseNumber',
				type: 'number',
				default: 0,
				displayOptions: update,
			},
			{
				displayName: 'New Status',
				name: 'newStatus',
				type: 'string',
				default: '',
				placeholder: 'Closed',
				displayOptions: update,
				description: 'Empty: unchanged',
			},
			{
				displayName: 'New Assignee',
				name: 'newAssignee',
				type: 'string',
				default: '',
				displayOptions: update,
				description: 'User ID. Empty: unchanged.',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Case Tag Pattern',
						name: 'tagPattern',
						type: 'string',
						default: '\\[#(\\d+)\\]',
						description:
							'Regex finding the case number in a subject; the first group is the number',
					},
					{
						displayName: 'Closed Statuses',
						name: 'closedStatuses',
						type: 'string',
						default: 'Closed, Rejected, Duplicate',
						description: 'Statuses that do not count as open (least-busy, reopen, retention)',
					},
					{
						displayName: 'Forget Closed Cases After (Days)',
						name: 'retentionDays',
						type: 'number',
						default: 90,
						description: 'Closed cases untouched this long leave the ledger, with their threads',
					},
					{
						displayName: 'Max Remembered Messages',
						name: 'maxThreads',
						type: 'number',
						default: 200000,
						description: 'Message-ID → case entries kept (oldest dropped first)',
					},
					ownAddressesOption('Mail from these never opens a case'),
					{
						displayName: 'Reopen on Customer Reply',
						name: 'reopenOnReply',
						type: 'boolean',
						default: true,
						description: 'Whether a follow-up of a closed case reopens it',
					},
					{
						displayName: 'Unknown Case Tag',
						name: 'unknownTag',
						type: 'options',
						default: 'newCase',
						options: [
							{ name: 'Open a New Case', value: 'newCase' },
							{ name: 'Ignore the Mail', value: 'ignore' },
						],
					},
					{
						displayName: 'Who May Join a Case',
						name: 'joinPolicy',
						type: 'options',
						default: 'participants',
						description:
							'Which mails that name a known case (reply headers, Parent Linker, case tag) join it; any other opens a new case, with the reason in routing.reason',
						options: [
							{
								name: 'Anyone (Not Secure)',
								value: 'anyone',
								description:
									'Any mail that names the case joins and may reopen it (EspoCRM): a stranger who knows or guesses a case number can add to it',
							},
							{
								name: 'Case Contact or Account Only',
								value: 'contactOrAccount',
								description:
									"The sender must be the case's contact or of its account (vtiger), also for replies to our mails",
							},
							{
								name: 'Signed Reply or Known Participant',
								value: 'participants',
								description:
									"A reply to a mail this package sent (signed Message-ID), or a sender who is the case's contact, of its account, or wrote to or was copied on the case before",
							},
						],
					},
				],
			},
		],
	};

	methods = { credentialTest: { crmEmailSigningTest, crmEmailPostgresTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeRouter.call(this);
	}
}
