/**
 * Named opt-out lists of the "This Instance" store: a JSON file per list in the state folder
 * (`opt-out-<list>.json`), next to the node state files but of no node, so that the workflow
 * that fills a list and those that honour it share it. Adds are serialized per file in this
 * process and written durably (temp file, fsync, rename); readers see the last complete file.
 * A file that cannot be read or parsed is an error, never an empty list: that would mail
 * everyone who left.
 */
import { join } from 'node:path';

import { CrmEmailError } from '../errors';
import { readText, writeStateFile } from '../stateFile';
import type { OptOutStore } from './types';

const locks = new Map<string, Promise<unknown>>();

const has = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

function lowerCased(addresses: string[]): string[] {
	return [...new Set(addresses.map((a) => a.trim().toLowerCase()))];
}

export class FileOptOutStore implements OptOutStore {
	constructor(private readonly directory: string) {}

	/** The file of `list`, a name the Opt-Out node and the Sender checked (letters, digits, _, -). */
	file(list: string): string {
		if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(list))
			throw new CrmEmailError('CONFIG_INVALID', `"${list}" is not an opt-out list name`);
		return join(this.directory, `opt-out-${list}.json`);
	}

	private read(file: string): Record<string, number> {
		const text = readText(file);
		if (text === null) return {};
		let data: unknown;
		try {
			data = JSON.parse(text);
		} catch {
			data = null;
		}
		const addresses = (data as { addresses?: unknown } | null)?.addresses;
		if (!addresses || typeof addresses !== 'object' || Array.isArray(addresses))
			throw new CrmEmailError(
				'STATE_READ_FAILED',
				`The opt-out list file ${file} is damaged (not {"addresses": {…}}): nothing was sent or added. Repair it from a backup, or move it away to start the list afresh`,
				{ file },
			);
		return addresses as Record<string, number>;
	}

	async addOptOuts(list: string, addresses: string[], now: number): Promise<string[]> {
		const file = this.file(list);
		const run = (locks.get(file) ?? Promise.resolve()).then(() => {
			const known = this.read(file);
			const added = lowerCased(addresses).filter((a) => !has(known, a));
			if (!added.length) return added;
			for (const a of added) known[a] = now;
			writeStateFile(file, JSON.stringify({ list, addresses: known }));
			return added;
		});
		const tail = run.catch(() => undefined);
		locks.set(file, tail);
		void tail.then(() => {
			if (locks.get(file) === tail) locks.delete(file);
		});
		return await run;
	}

	async optedOut(list: string, addresses: string[]): Promise<Set<string>> {
		const known = this.read(this.file(list));
		return new Set(lowerCased(addresses).filter((a) => has(known, a)));
	}
}
