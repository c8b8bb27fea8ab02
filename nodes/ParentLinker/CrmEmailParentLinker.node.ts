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
import { executeLinker } from './execute';

const verify = { show: { threadIds: ['verify'] } };

export class CrmEmailParentLinker implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'CRM Email Parent Linker',
		name: 'crmEmailParentLinker',
		icon: { light: 'file:../../icons/link.svg', dark: 'file:../../icons/link.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["mode"] === "b2c" ? "B2C" : "B2B"}}',
		description:
			'Links each mail to its Contact, Account, Lead, Opportunity or Case: thread first, then From, Reply-To, To',
		defaults: { name: 'CRM Email Parent Linker' },
		inputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		inputNames: ['Mails', 'Records'],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Linked', 'Unknown Sender', 'Failed'],
		usableAsTool: true,
		credentials: [
			{
				name: 'crmEmailSigningApi',
				required: false,
				testedBy: 'crmEmailSigningTest',
				displayOptions: { show: { threadIds: ['verify'] } },
			},
			{ ...postgresCredential },
		],
		properties: [
			{
				displayName:
					'Mails go to the first input; CRM records (from any node: Postgres, Google Sheets, HTTP Request, EspoCRM…) to the second',
				name: 'notice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Mode',
				name: 'mode',
				type: 'options',
				default: 'b2b',
				options: [
					{
						name: 'B2B',
						value: 'b2b',
						description: "A Contact's mail is linked to the Contact's Account when it has one",
					},
					{ name: 'B2C', value: 'b2c', description: "A Contact's mail is linked to the Contact" },
				],
			},
			{
				displayName: 'Record Type',
				name: 'recordType',
				type: 'options',
				default: 'field',
				options: [
					{ name: 'Account', value: 'Account' },
					{ name: 'Case', value: 'Case' },
					{ name: 'Contact', value: 'Contact' },
					{ name: 'From a Field', value: 'field', description: 'Each record names its type' },
					{ name: 'Lead', value: 'Lead' },
					{ name: 'Opportunity', value: 'Opportunity' },
				],
				description: 'The type of the records on the second input',
			},
			{
				displayName: 'Type Field',
				name: 'typeField',
				type: 'string',
				default: 'type',
				displayOptions: { show: { recordType: ['field'] } },
				description:
					'Field holding Contact, Account, Lead, Opportunity or Case (plural and lower case accepted)',
			},
			{
				displayName: 'Record Fields',
				name: 'recordFields',
				type: 'collection',
				placeholder: 'Change Field Name',
				default: {},
				description: 'Where the records keep their data; dotted paths such as data.email work',
				options: [
					{
						displayName: 'Account ID Field',
						name: 'accountIdField',
						type: 'string',
						default: 'accountId',
						description: "A Contact's (or Case's) Account",
					},
					{
						displayName: 'Converted To Account Field',
						name: 'convertedAccountField',
						type: 'string',
						default: 'createdAccountId',
						description: 'For a converted Lead: the Account it became',
					},
					{
						displayName: 'Converted To Contact Field',
						name: 'convertedContactField',
						type: 'string',
						default: 'createdContactId',
						description: 'For a converted Lead: the Contact it became',
					},
					{
						displayName: 'Email Fields',
						name: 'emailFields',
						type: 'string',
						default: 'emailAddress, emailAddressData, emails, email',
						description:
							'Comma-separated fields holding addresses: text (several split by , or ;), a list, or a list of objects with emailAddress/address/email',
					},
					{ displayName: 'ID Field', name: 'idField', type: 'string', default: 'id' },
					{ displayName: 'Name Field', name: 'nameField', type: 'string', default: 'name' },
					{ displayName: 'Status Field', name: 'statusField', type: 'string', default: 'status' },
				],
			},
			threadIdsProperty(),
			signingNotice(verify),
			stateStoreProperty,
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Memory Size',
						name: 'memorySize',
						type: 'number',
						default: 50000,
						typeOptions: { minValue: 0 },
						description: 'How many linked Message-IDs to remember (oldest forgotten first)',
					},
					ownAddressesOption('Never link through these addresses (our own mailboxes in To/Cc)'),
					{
						displayName: 'Remember Linked Mails',
						name: 'rememberThreads',
						type: 'boolean',
						default: true,
						description:
							"Whether to remember each linked mail's Message-ID, so a reply to it finds the same record",
					},
					{
						displayName: 'Type Order',
						name: 'typeOrder',
						type: 'string',
						default: 'Contact, Account, Lead',
						description: 'Which record type an address finds first',
					},
				],
			},
		],
	};

	methods = { credentialTest: { crmEmailSigningTest, crmEmailPostgresTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeLinker.call(this);
	}
}
