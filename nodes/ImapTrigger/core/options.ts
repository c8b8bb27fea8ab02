/**
 * The trigger's panel parameters, checked and turned into intake settings. Errors name the
 * parameter as the panel shows it.
 */
import { CrmEmailError } from '../../shared/errors';
import type { AttachmentPolicy } from './mail';

export interface TriggerParameters {
	folders: unknown;
	fetchSince: unknown;
	afterFetch: unknown;
	moveTo?: unknown;
	batchSize: unknown;
	options: {
		downloadAttachments?: boolean;
		newMailDetection?: string;
		maxAttachmentMb?: number;
		maxMailMb?: number;
		pollIntervalSeconds?: number;
	};
}

export type AfterFetch = 'nothing' | 'markRead' | 'move';

/** The trigger's settings, as the intake takes them (with the credential). */
export interface TriggerSettings {
	folders: string[];
	fetchSince: Date;
	afterFetch: AfterFetch;
	moveTo?: string;
	/** At most this many mails are handed to the workflow at once. */
	batchSize: number;
	/** Mails larger than this are handed over with their headers only. */
	maxMailBytes: number;
	attachments: AttachmentPolicy;
	/** 'idle': IMAP IDLE on the first folder plus polling; 'poll': polling only. */
	mode: 'idle' | 'poll';
	pollIntervalMs: number;
}

const MB = 1024 * 1024;
/**
 * Upper bounds: a batch's mails (with their attachments) are held in memory until the workflow
 * has them, and a mail is parsed whole.
 */
export const MAX_BATCH_SIZE = 1000;
export const MAX_MAIL_MB = 50;

/** A number option within [min, max], or a CONFIG_INVALID error naming the option. */
function bounded(value: unknown, fallback: number, min: number, max: number, name: string): number {
	if (value === undefined || value === null || value === '') return fallback;
	const n = Number(value);
	if (!Number.isFinite(n) || n < min || n > max) {
		throw new CrmEmailError(
			'CONFIG_INVALID',
			`${name}: ${String(value)} is not between ${min} and ${max}`,
		);
	}
	return n;
}

export function readTriggerParameters(p: TriggerParameters, now: Date): TriggerSettings {
	const rawFolders = Array.isArray(p.folders) ? p.folders : String(p.folders ?? '').split(',');
	const folders = [...new Set(rawFolders.map((f) => String(f).trim()).filter(Boolean))];
	if (folders.length === 0)
		throw new CrmEmailError('CONFIG_INVALID', 'Folder Names or IDs: choose at least one folder');

	let fetchSince = now;
	if (p.fetchSince !== undefined && p.fetchSince !== null && String(p.fetchSince).trim() !== '') {
		fetchSince = new Date(String(p.fetchSince));
		if (Number.isNaN(fetchSince.getTime())) {
			throw new CrmEmailError(
				'CONFIG_INVALID',
				`Fetch Since: "${String(p.fetchSince)}" is not a date`,
			);
		}
	}

	const afterFetch =
		p.afterFetch === 'markRead' || p.afterFetch === 'move' ? p.afterFetch : 'nothing';
	const moveTo = afterFetch === 'move' ? String(p.moveTo ?? '').trim() : undefined;
	if (afterFetch === 'move' && !moveTo) {
		throw new CrmEmailError(
			'CONFIG_INVALID',
			'Move To Folder: name the folder fetched mails are moved to',
		);
	}
	if (moveTo && folders.includes(moveTo)) {
		throw new CrmEmailError(
			'CONFIG_INVALID',
			`Move To Folder: "${moveTo}" is also a watched folder; choose another`,
		);
	}

	const batchSize = Math.floor(
		bounded(p.batchSize, 50, 1, MAX_BATCH_SIZE, 'Max Mails per Execution'),
	);
	const o = p.options ?? {};
	const maxMailMb = bounded(o.maxMailMb, 10, 0, MAX_MAIL_MB, 'Max Mail Size (MB)');
	const maxAttachmentMb = bounded(
		o.maxAttachmentMb,
		10,
		0,
		MAX_MAIL_MB,
		'Max Attachment Size (MB)',
	);
	const pollSeconds = bounded(o.pollIntervalSeconds, 60, 5, 86_400, 'Poll Interval (Seconds)');
	return {
		folders,
		fetchSince,
		afterFetch,
		moveTo,
		batchSize,
		maxMailBytes: Math.round(maxMailMb * MB),
		attachments: {
			include: o.downloadAttachments === true,
			maxBytes: Math.round(maxAttachmentMb * MB),
		},
		mode: o.newMailDetection === 'poll' ? 'poll' : 'idle',
		pollIntervalMs: pollSeconds * 1000,
	};
}
