import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { signingNotice } from '../shared/signingDescription';
import { crmEmailSigningTest } from '../shared/signingMethods';
import { crmEmailPostgresTest, stateStoreProperty } from '../shared/state/nodeStore';
import { executeOptOut } from './execute';

const verify = { show: { operation: ['verifyToken'] } };
const add = { show: { operation: ['add'] } };

export class CrmEmailOptOut implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'CRM Email Opt-Out',
		name: 'crmEmailOptOut',
		icon: { light: 'file:../../icons/optout.svg', dark: 'file:../../icons/optout.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ {verifyToken: "Verify Token", add: "Add to List"}[$parameter["operation"]] }}',
		description:
			"Unsubscribe links of the Template Sender's bulk mail: verifies their signed token and keeps the named opt-out lists",
		defaults: { name: 'CRM Email Opt-Out' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Done', 'Refused', 'Failed'],
		usableAsTool: true,
		credentials: [
			{
				name: 'crmEmailSigningApi',
				required: false,
				testedBy: 'crmEmailSigningTest',
				displayOptions: verify,
			},
			{
				name: 'crmEmailPostgresApi',
				required: true,
				testedBy: 'crmEmailPostgresTest',
				displayOptions: { show: { operation: ['add'], stateStore: ['postgres'] } },
			},
		],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				default: 'verifyToken',
				options: [
					{
						name: 'Verify Unsubscribe Token',
						value: 'verifyToken',
						description:
							'Done: the link was made by the Template Sender for this address; Refused: forged, altered, cut short or expired',
						action: 'Verify an unsubscribe token',
					},
					{
						name: 'Add to Opt-Out List',
						value: 'add',
						description:
							'Adds the address to the named list the Template Sender honours for bulk mail',
						action: 'Add an address to an opt out list',
					},
				],
			},
			{
				...signingNotice(verify),
				displayName:
					"The token is checked with the key the Template Sender signed it with: n8n's own encryption key, or the same CRM Email Signing API credential",
			},
			{
				displayName: 'Email',
				name: 'email',
				type: 'string',
				placeholder: 'name@email.com',
				default: '={{ $json.query.email }}',
				displayOptions: verify,
				description: "The link's email parameter (a Webhook node puts it in query)",
			},
			{
				displayName: 'Token',
				name: 'token',
				type: 'string',
				typeOptions: { password: true },
				default: '={{ $json.query.token }}',
				displayOptions: verify,
				description: "The link's token parameter",
			},
			{
				displayName: 'Email',
				name: 'email',
				type: 'string',
				placeholder: 'name@email.com',
				default: '={{ $json.optOut.email }}',
				displayOptions: add,
				description: 'The address to add: by default the one a verified link named',
			},
			{
				displayName: 'List Name',
				name: 'list',
				type: 'string',
				default: '={{ $json.optOut.list }}',
				displayOptions: add,
				description:
					"The opt-out list: by default the one a verified link named (the Template Sender's Opt-Out List Name)",
			},
			{ ...stateStoreProperty, displayOptions: add },
		],
	};

	methods = { credentialTest: { crmEmailSigningTest, crmEmailPostgresTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeOptOut.call(this);
	}
}
