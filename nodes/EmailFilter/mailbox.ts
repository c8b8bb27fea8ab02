/**
 * Carries a filter decision out on the IMAP server: mark read, then move. One connection per
 * execution; mails grouped by folder so each folder is selected once and each target gets one
 * UID MOVE. No n8n imports: failures come back per mail as typed errors.
 */
import { CrmEmailError } from '../shared/errors';
import { describeImapError, withImapSession, type ImapCredentials } from '../shared/transport/imap';

export interface MailboxAction {
	/** Caller's key (the item index). */
	key: number;
	folder: string;
	uid: number;
	uidValidity: string;
	moveTo: string | null;
	markAsRead: boolean;
}

export interface MailboxOutcome {
	key: number;
	markedRead: boolean;
	movedTo: string | null;
	error: CrmEmailError | null;
}

export async function applyMailboxActions(
	creds: ImapCredentials,
	actions: MailboxAction[],
): Promise<MailboxOutcome[]> {
	const outcomes = new Map<number, MailboxOutcome>(
		actions.map((a) => [a.key, { key: a.key, markedRead: false, movedTo: null, error: null }]),
	);
	const fail = (list: MailboxAction[], error: CrmEmailError) => {
		for (const a of list) (outcomes.get(a.key) as MailboxOutcome).error ??= error;
	};
	if (actions.length === 0) return [];
	try {
		await withImapSession(creds, async (client) => {
			const existing = new Set((await client.list()).map((f) => f.path));
			const byFolder = new Map<string, MailboxAction[]>();
			for (const a of actions) byFolder.set(a.folder, [...(byFolder.get(a.folder) ?? []), a]);
			for (const [folder, list] of byFolder) {
				let lock;
				try {
					lock = await client.getMailboxLock(folder);
				} catch (error) {
					fail(list, describeImapError(error, creds, folder));
					continue;
				}
				try {
					const current = client.mailbox ? String(client.mailbox.uidValidity) : '';
					const stale = list.filter((a) => a.uidValidity && a.uidValidity !== current);
					fail(
						stale,
						new CrmEmailError(
							'IMAP_COMMAND_FAILED',
							`The folder "${folder}" of ${creds.user} was renumbered (UIDVALIDITY ${current}) since the mail was fetched; nothing was changed`,
							{ folder },
						),
					);
					const live = list.filter((a) => !stale.includes(a));
					const toRead = live.filter((a) => a.markAsRead);
					if (toRead.length) {
						try {
							await client.messageFlagsAdd(toRead.map((a) => a.uid).join(','), ['\\Seen'], {
								uid: true,
							});
							for (const a of toRead) (outcomes.get(a.key) as MailboxOutcome).markedRead = true;
						} catch (error) {
							fail(toRead, describeImapError(error, creds, folder));
						}
					}
					const targets = new Map<string, MailboxAction[]>();
					for (const a of live) {
						if (a.moveTo && a.moveTo !== folder)
							targets.set(a.moveTo, [...(targets.get(a.moveTo) ?? []), a]);
					}
					for (const [target, moving] of targets) {
						if (!existing.has(target)) {
							fail(
								moving,
								new CrmEmailError(
									'IMAP_FOLDER_MISSING',
									`The folder "${target}" does not exist in the mailbox of "${creds.user}" on ${creds.host}: create it, or correct the rule's folder name`,
									{ folder: target },
								),
							);
							continue;
						}
						try {
							await client.messageMove(moving.map((a) => a.uid).join(','), target, { uid: true });
							for (const a of moving) (outcomes.get(a.key) as MailboxOutcome).movedTo = target;
						} catch (error) {
							fail(moving, describeImapError(error, creds, target));
						}
					}
				} finally {
					lock.release();
				}
			}
		});
	} catch (error) {
		// The session failed (connect, login, a lost connection): each mail not yet done says why.
		fail(actions, describeImapError(error, creds));
	}
	return [...outcomes.values()];
}
