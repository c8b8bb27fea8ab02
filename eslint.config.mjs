import { configWithoutCloudSupport } from '@n8n/node-cli/eslint';

export default [
	...configWithoutCloudSupport,
	{ ignores: ['test/**', 'bench/**', 'harness/**', 'scripts/**', 'index.ts'] },
	{
		files: ['package.json'],
		rules: {
			// This package is for self-hosted n8n: it needs imapflow, mailparser, nodemailer and
			// handlebars at run time, which n8n Cloud's verification (this rule) forbids.
			'@n8n/community-nodes/no-runtime-dependencies': 'off',
		},
	},
];
