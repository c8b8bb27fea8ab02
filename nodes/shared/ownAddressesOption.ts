/**
 * The "Our Addresses" option, defined once for every node that has it; its value is read by
 * `ownAddressSet` (nodes/shared/addresses.ts).
 */
import type { INodeProperties } from 'n8n-workflow';

export function ownAddressesOption(what: string): INodeProperties {
	return {
		displayName: 'Our Addresses',
		name: 'ownAddresses',
		type: 'string',
		default: '',
		placeholder: 'support@example.com, Sales <sales@example.com>',
		description: `${what} (comma-separated)`,
	};
}
