/**
 * The files behind node state (see nodeState.ts), without n8n: read (a missing file is empty
 * state, any other failure an error), durable replace, damaged files set aside, the floor file.
 */
import {
	closeSync,
	fsyncSync,
	mkdirSync,
	openSync,
	readFileSync,
	renameSync,
	unlinkSync,
	writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';

import { CrmEmailError, type CrmEmailErrorCode } from './errors';

function stateError(code: CrmEmailErrorCode, message: string, file: string): CrmEmailError {
	return new CrmEmailError(code, message, { file });
}

function osError(error: unknown): string {
	const e = error as NodeJS.ErrnoException;
	return e.code ? `${e.code} (${e.message})` : String(e?.message ?? error);
}

/** The file's text, or null when there is none yet. Any other failure is an error. */
export function readText(file: string): string | null {
	try {
		return readFileSync(file, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
		// Reading on as if empty would let the next save overwrite the state (case #1 again).
		throw stateError(
			'STATE_READ_FAILED',
			`Cannot read the node state file ${file}: ${osError(error)}. Nothing was changed; make the file readable (or move it away to start afresh) and run again`,
			file,
		);
	}
}

function removeTemp(tmp: string): void {
	try {
		unlinkSync(tmp);
	} catch {
		// Not there, or not a file of ours: the write's own error is the one to report.
	}
}

/** Replaces `file` with `text` durably: temp file, fsync, rename, fsync of the folder. */
export function writeStateFile(file: string, text: string): void {
	const tmp = `${file}.${process.pid}.tmp`;
	try {
		mkdirSync(dirname(file), { recursive: true });
		const fd = openSync(tmp, 'w');
		try {
			writeFileSync(fd, text); // unlike writeSync, loops until all is written
			fsyncSync(fd);
		} finally {
			closeSync(fd);
		}
		renameSync(tmp, file);
		// The rename is durable once the folder is synced. Windows cannot open a folder for that.
		if (process.platform !== 'win32') {
			const dir = openSync(dirname(file), 'r');
			try {
				fsyncSync(dir);
			} finally {
				closeSync(dir);
			}
		}
	} catch (error) {
		removeTemp(tmp);
		throw stateError(
			'STATE_WRITE_FAILED',
			`Cannot save the node state file ${file}: ${osError(error)}`,
			file,
		);
	}
}

export interface DamagedState {
	/** Where the damaged file was moved. */
	setAside: string;
	/** Its text, for whatever can be recovered from it. */
	text: string;
	/** Why it counts as damaged. */
	reason: string;
}

/** Moves a damaged file aside (kept for inspection) and says so in n8n's log. */
function setAside(file: string, text: string, reason: string, warn: (m: string) => void) {
	const aside = `${file}.damaged-${Date.now()}`;
	try {
		renameSync(file, aside);
	} catch (error) {
		throw stateError(
			'STATE_WRITE_FAILED',
			`The node state file ${file} is damaged (${reason}) and cannot be set aside: ${osError(error)}`,
			file,
		);
	}
	warn(`Node state file ${file} was damaged (${reason}); set aside as ${aside}`);
	return { setAside: aside, text, reason };
}

export function loadStateFile(
	file: string,
	warn: (message: string) => void,
): { data: Record<string, unknown>; damaged: DamagedState | null; text: string | null } {
	const text = readText(file);
	if (text === null) return { data: {}, damaged: null, text };
	let data: unknown;
	let reason = 'not a JSON object';
	try {
		data = JSON.parse(text);
	} catch (error) {
		reason = `not valid JSON: ${(error as Error).message}`;
	}
	if (data && typeof data === 'object' && !Array.isArray(data))
		return { data: data as Record<string, unknown>, damaged: null, text };
	return { data: {}, damaged: setAside(file, text, reason, warn), text: null };
}

/**
 * A number in a small file of its own next to the state file (`….floor`), so that it survives the
 * state's damage: read once, raised durably, never lowered. A damaged floor file is set aside and
 * replaced by the largest number left in its text.
 */
export function floorFile(file: string, warn: (m: string) => void) {
	const path = file.replace(/\.json$/, '.floor');
	let value: number | null = null;
	const read = (): number => {
		const text = readText(path);
		if (text === null) return 0;
		if (/^\d+\s*$/.test(text)) return Number(text);
		// Whatever digits are left still bound what was handed out: better a gap than a number twice.
		// A loop, not Math.max(...): a large damaged file would overflow the call stack.
		let recovered = 0;
		for (const m of text.matchAll(/\d+/g)) {
			const n = Number(m[0]);
			if (Number.isSafeInteger(n) && n > recovered) recovered = n;
		}
		setAside(path, text, 'not a number', warn);
		writeStateFile(path, `${recovered}\n`);
		return recovered;
	};
	return {
		read: () => (value ??= read()),
		raise: (next: number) => {
			if (next <= (value ??= read())) return;
			writeStateFile(path, `${next}\n`);
			value = next;
		},
	};
}
