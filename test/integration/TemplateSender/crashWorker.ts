/**
 * A process that runs one Template Sender execution on this instance's file store (the state
 * folder from CRM_EMAIL_STATE_DIR), for stateSave.test.ts to kill while it sends. The job comes
 * over IPC.
 */
import type { IDataObject } from 'n8n-workflow';

import { CrmEmailTemplateSender } from '../../../nodes/TemplateSender/CrmEmailTemplateSender.node.ts'; // explicit: ".node" would resolve to the codex .node.json
import { fakeExecute } from '../../../harness/fakeExecute';

export interface CrashJob {
	parameters: Record<string, unknown>;
	credentials: Record<string, Record<string, unknown>>;
	workflowId: string;
	mails: IDataObject[];
}

process.on('message', (job: CrashJob) => {
	const node = new CrmEmailTemplateSender();
	const f = fakeExecute({
		description: node.description,
		parameters: job.parameters,
		inputs: [job.mails.map((json) => ({ json }))],
		credentials: job.credentials,
		mode: 'trigger',
		workflowId: job.workflowId,
	});
	node.execute.call(f.ctx).then(
		() => process.send!({ done: true }),
		(error: Error) => process.send!({ error: error.message }),
	);
});
process.send!({ ready: true });
