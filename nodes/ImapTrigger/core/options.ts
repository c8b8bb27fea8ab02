/**
 * The trigger's panel parameters, checked and turned into intake settings. Errors name the
 * parameter as the panel shows it.
 */
import { CrmEmailError } from '../../shared/errors';

export interface TriggerParameters {
	folders: unknown;
	fetchSince: unknown;
	afterFetch: unknown;
	moveTo?: unknown;
	batchSize: unknown;
	options: {
		downloadAttachments?: boolean;
		mode?: string;
		maxAttachmentMb?: number;
		maxMailMb?: number;
		pollIntervalSeconds?: number;
	};
}

export interface TriggerSettings {
	folders: string[];
	fetchSince: Date;
	afterFetch: 'nothing' | 'markRead' | 'move';
	moveTo?: string;
	batchSize: number;
	maxMailBytes: number;
	attachments: { include: boolean; maxBytes: number };
	mode: 'idle' | 'poll';
	pollIntervalMs: number;
}

const MB = 1024 * 1024;

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

	const batchSize = Math.floor(Number(p.batchSize));
	if (!Number.isFinite(batchSize) || batchSize < 1) {
		throw new CrmEmailError('CONFIG_INVALID', 'Max Mails per Execution: must be 1 or more');
	}
	const o = p.options ?? {};
	const positive = (v: number | undefined, fallback: number) =>
		typeof v === 'number' && v >= 0 ? v : fallback;
	return {
		folders,
		fetchSince,
		afterFetch,
		moveTo,
		batchSize,
		maxMailBytes: Math.round(positive(o.maxMailMb, 10) * MB),
		attachments: {
			include: o.downloadAttachments === true,
			maxBytes: Math.round(positive(o.maxAttachmentMb, 10) * MB),
		},
		mode: o.mode === 'poll' ? 'poll' : 'idle',
		pollIntervalMs: Math.max(5, positive(o.pollIntervalSeconds, 60)) * 1000,
	};
}
