/**
 * What the trigger does on the server with mails the workflow has: mark them read or move them.
 * No n8n imports.
 */
import type { ImapFlow } from 'imapflow';

import type { CrmEmailError } from '../shared/errors';
import { describeImapError, type ImapCredentials } from '../shared/transport/imap';
import type { Candidate } from './core/cursor';
import type { TriggerSettings } from './core/options';

export type AfterFetchSettings = Pick<TriggerSettings, 'afterFetch' | 'moveTo'> & {
	credentials: ImapCredentials;
};

/** One command per folder; a failure is reported, and the mails are never delivered again. */
export async function applyAfterFetch(
	client: ImapFlow,
	handled: Candidate[],
	o: AfterFetchSettings,
	report: (error: CrmEmailError) => void,
): Promise<void> {
	if (o.afterFetch === 'nothing' || handled.length === 0) return;
	const byFolder = new Map<string, number[]>();
	for (const c of handled) byFolder.set(c.folder, [...(byFolder.get(c.folder) ?? []), c.uid]);
	for (const [folder, uids] of byFolder) {
		const lock = await client.getMailboxLock(folder);
		try {
			if (o.afterFetch === 'markRead') {
				await client.messageFlagsAdd(uids.join(','), ['\\Seen'], { uid: true });
			} else if (o.moveTo && o.moveTo !== folder) {
				await client.messageMove(uids.join(','), o.moveTo, { uid: true });
			}
		} catch (error) {
			// The mails were delivered; only the action failed. Say so, never deliver them again.
			report(describeImapError(error, o.credentials, o.moveTo ?? folder));
		} finally {
			lock.release();
		}
	}
}
