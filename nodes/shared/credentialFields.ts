import type { INodeProperties } from 'n8n-workflow';

/** The connection security field both mail credentials share. */
export function securityProperty(defaultValue: 'tls' | 'starttls' | 'none'): INodeProperties {
	return {
		displayName: 'Security',
		name: 'security',
		type: 'options',
		default: defaultValue,
		options: [
			{ name: 'TLS', value: 'tls', description: 'Encrypted from the start (IMAP 993, SMTP 465)' },
			{
				name: 'STARTTLS',
				value: 'starttls',
				description: 'Plain connection upgraded to TLS; refused if the server cannot',
			},
			{
				name: 'None',
				value: 'none',
				description: 'No encryption: only for a server on this machine or a trusted network',
			},
		],
	};
}

/** Off by default: certificates are verified. */
export const allowSelfSignedProperty: INodeProperties = {
	displayName: 'Allow Self-Signed Certificate',
	name: 'allowSelfSigned',
	type: 'boolean',
	default: false,
	description:
		'Whether to accept a certificate that cannot be verified. Leave off unless the server is yours.',
};
