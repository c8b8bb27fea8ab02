/**
 * What an admin sees in the editor: the node descriptions, credentials and codex files.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { INodeProperties, INodeType } from 'n8n-workflow';

import { CrmEmailSigningApi } from '../../../credentials/CrmEmailSigningApi.credentials';
import { CrmSmtpApi } from '../../../credentials/CrmSmtpApi.credentials';
import { CrmEmailCaseRouter } from '../../../nodes/CaseRouter/CrmEmailCaseRouter.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { CrmEmailFilter } from '../../../nodes/EmailFilter/CrmEmailFilter.node.ts';
import { CrmEmailImapTrigger } from '../../../nodes/ImapTrigger/CrmEmailImapTrigger.node.ts';
import { CrmEmailParentLinker } from '../../../nodes/ParentLinker/CrmEmailParentLinker.node.ts';
import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts';

const root = join(__dirname, '..', '..', '..');
const linker = new CrmEmailParentLinker();
const router = new CrmEmailCaseRouter();
const sender = new CrmEmailTemplateSender();
const filter = new CrmEmailFilter();

function property(node: INodeType, name: string): INodeProperties {
	const p = node.description.properties.find((x) => x.name === name);
	assert.ok(p, `${node.description.name} has no property ${name}`);
	return p;
}

describe('Filter: the actions say what they do', () => {
	const ruleFields = (property(filter, 'rules').options as Array<{ values: INodeProperties[] }>)[0]
		.values;
	const field = (name: string) => ruleFields.find((p) => p.name === name)!;
	const apply = property(filter, 'applyOnServer');

	it('Folder and Mark as Read name the parameter without which they only tag the item', () => {
		const folder = (
			field('action').options as Array<{ value: string; name: string; description: string }>
		).find((o) => o.value === 'folder')!;
		assert.doesNotMatch(folder.name, /^Put in/);
		assert.ok(folder.description.includes('filter.folder'));
		assert.ok(folder.description.includes(apply.displayName), folder.description);
		const read = field('markAsRead').description!;
		assert.ok(read.includes('filter.markAsRead') && read.includes(apply.displayName), read);
	});

	it('a notice says that rules only tag while Apply on the Mailbox is off', () => {
		const notice = filter.description.properties.find((p) => p.type === 'notice');
		assert.ok(notice, 'no notice');
		assert.deepEqual(notice.displayOptions, { show: { applyOnServer: [false] } });
		assert.ok(notice.displayName.includes(apply.displayName));
	});
});

describe('signing: no SMTP credential to route mail', () => {
	it("Linker and Router need no credential but the PostgreSQL store's when it is chosen; an optional Signing credential is shared with the Sender", () => {
		for (const node of [linker, router, sender]) {
			const creds = node.description.credentials ?? [];
			const signing = creds.find((c) => c.name === 'crmEmailSigningApi');
			assert.ok(signing, `${node.description.name} offers no Signing credential`);
			assert.notEqual(signing.required, true);
			assert.equal(
				typeof (node.methods?.credentialTest as Record<string, unknown>)[
					signing.testedBy as string
				],
				'function',
			);
		}
		// The one required credential is the PostgreSQL state store's, asked only when chosen.
		for (const node of [linker, router])
			assert.deepEqual(
				(node.description.credentials ?? [])
					.filter((c) => c.required)
					.map((c) => [c.name, c.displayOptions]),
				[['crmEmailPostgresApi', { show: { stateStore: ['postgres'] } }]],
				node.description.name,
			);
	});

	it('the secret lives in one place: the Signing credential, not the SMTP credential', () => {
		const fields = (c: { properties: INodeProperties[] }) =>
			c.properties.filter((p) => p.typeOptions?.password).map((p) => p.name);
		assert.deepEqual(fields(new CrmSmtpApi()), ['password']);
		assert.deepEqual(fields(new CrmEmailSigningApi()), ['secret']);
	});

	it('Linker, Router and Sender explain why signing matters, in the same words', () => {
		const notices = [linker, router, sender].map((n) => property(n, 'signingNotice').displayName);
		assert.equal(new Set(notices).size, 1);
		assert.match(notices[0], /reply finds its case/);
		assert.match(notices[0], /forge/);
	});
});

describe('shared properties and codex', () => {
	it('Thread Message-IDs is one definition in the Linker and the Router', () => {
		const strip = ({ displayOptions: _, ...p }: INodeProperties) => p;
		assert.deepEqual(strip(property(linker, 'threadIds')), strip(property(router, 'threadIds')));
		assert.doesNotMatch(JSON.stringify(property(linker, 'threadIds')), /SMTP/);
	});

	it("codex categories are n8n's node-panel categories, not Core Nodes", () => {
		// The categories n8n's docs list for codex files.
		const known = new Set([
			'Analytics',
			'Communication',
			'Data & Storage',
			'Development',
			'Finance & Accounting',
			'Marketing & Content',
			'Miscellaneous',
			'Productivity',
			'Sales',
			'Utility',
		]);
		const nodes: Record<string, INodeType> = {
			ParentLinker: linker,
			CaseRouter: router,
			TemplateSender: sender,
			EmailFilter: filter,
			ImapTrigger: new CrmEmailImapTrigger(),
		};
		for (const [folder, node] of Object.entries(nodes)) {
			const name = node.description.name;
			const file = join(
				root,
				'nodes',
				folder,
				`${name[0].toUpperCase()}${name.slice(1)}.node.json`,
			);
			const codex = JSON.parse(readFileSync(file, 'utf8')) as {
				categories: string[];
				subcategories?: Record<string, string[]>;
			};
			assert.ok(codex.categories.includes('Communication'), file);
			for (const c of codex.categories) assert.ok(known.has(c), `${file}: ${c}`);
			assert.equal(codex.subcategories?.['Core Nodes'], undefined, file);
		}
	});
});
