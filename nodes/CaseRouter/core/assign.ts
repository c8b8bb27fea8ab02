/**
 * Assignment of a new case. Members are taken in the order given (deterministic); inactive
 * members and, when a role is asked for, members without it are left out.
 *   direct:      a fixed user;
 *   round-robin: the member after the one who got the previous case (by id), wrapping; the first
 *                when the previous one is unknown or gone;
 *   least-busy:  fewest open cases; ties go to the first in list order.
 */
export interface Member {
	id: string;
	name?: string;
	role?: string;
	active?: boolean;
}

export type Strategy =
	| { kind: 'none' }
	| { kind: 'direct'; userId: string }
	| { kind: 'roundRobin'; members: Member[]; role?: string }
	| { kind: 'leastBusy'; members: Member[]; role?: string };

export function eligible(members: Member[], role?: string): Member[] {
	const wanted = role?.trim().toLowerCase();
	return members.filter(
		(m) =>
			m.id && m.active !== false && (!wanted || (m.role ?? '').trim().toLowerCase() === wanted),
	);
}

export function roundRobin(members: Member[], previous: string | null): Member | null {
	if (members.length === 0) return null;
	const at = previous === null ? -1 : members.findIndex((m) => m.id === previous);
	return members[(at + 1) % members.length];
}

export function leastBusy(members: Member[], open: Map<string, number>): Member | null {
	let best: Member | null = null;
	let fewest = Infinity;
	for (const m of members) {
		const n = open.get(m.id) ?? 0;
		if (n < fewest) {
			best = m;
			fewest = n;
		}
	}
	return best;
}

/** Members from the panel or from an expression/field (e.g. loaded from the CRM). */
export function parseMembers(value: unknown): Member[] {
	const list =
		typeof value === 'string' ? (value.trim() ? (JSON.parse(value) as unknown) : []) : value;
	if (!Array.isArray(list)) return [];
	return list
		.map((m): Member | null => {
			if (typeof m === 'string') return { id: m };
			if (!m || typeof m !== 'object') return null;
			const o = m as Record<string, unknown>;
			const id = o.id ?? o.userId;
			if (id === undefined || id === null || id === '') return null;
			return {
				id: String(id),
				name: typeof o.name === 'string' ? o.name : undefined,
				role: typeof o.role === 'string' ? o.role : undefined,
				active: o.active === false || o.isActive === false ? false : true,
			};
		})
		.filter((m): m is Member => m !== null);
}
