/**
 * Email filter rules: plain data in (rules, a mail item from any source), a decision out.
 * Rules run in order; the first rule that matches decides unless it says `continue`.
 * Comparisons are case-insensitive unless a condition says otherwise (EspoCRM's case-sensitive
 * subject is a known trap). Every operator is linear in the text, except admin regexes, which run
 * under one time budget per mail, shared by all its regex tests (see safeRegex).
 */
import { CrmEmailError } from '../../shared/errors';
import { compileRegex, testRegex } from '../../shared/safeRegex';
import { compileGlob, type GlobMatcher } from '../../shared/glob';
import { htmlToText } from '../../shared/html';

export const FIELDS = ['from', 'to', 'cc', 'replyTo', 'subject', 'body', 'header'] as const;
export type Field = (typeof FIELDS)[number];
export const OPERATORS = [
	'contains',
	'notContains',
	'equals',
	'notEquals',
	'beginsWith',
	'endsWith',
	'glob',
	'regex',
] as const;
export type Operator = (typeof OPERATORS)[number];
export const ACTIONS = ['none', 'skip', 'folder'] as const;
export type Action = (typeof ACTIONS)[number];

export interface Condition {
	field: Field;
	/** Header name, for field `header`. */
	header?: string;
	operator: Operator;
	value: string;
	caseSensitive?: boolean;
}

export interface Rule {
	name: string;
	/** Only mail whose `account` equals this (case-insensitive); empty: every account. */
	account?: string;
	match?: 'all' | 'any';
	conditions: Condition[];
	action?: Action;
	/** Target folder, for action `folder`. */
	folder?: string;
	markAsRead?: boolean;
	skipNotification?: boolean;
	/** Go on with the next rules after this one matched. */
	continue?: boolean;
}

export interface Reason {
	field: Field;
	header?: string;
	operator: Operator;
	value: string;
	/** What the condition was compared against (shortened), for the admin to see why. */
	actual: string;
}

export interface RuleHit {
	rule: string;
	action: Action;
	reasons: Reason[];
}

export interface Decision {
	skipped: boolean;
	/** The first rule that matched, or null. */
	rule: string | null;
	hits: RuleHit[];
	folder: string | null;
	markAsRead: boolean;
	skipNotification: boolean;
	/** Regex tests stopped, or not run, at the mail's time budget (counted as "no match"). */
	warnings: string[];
}

interface CompiledCondition extends Condition {
	needle: string;
	regex: RegExp | null;
	glob: GlobMatcher | null;
	negative: boolean;
}

export interface CompiledRule extends Omit<Rule, 'conditions'> {
	match: 'all' | 'any';
	action: Action;
	accountKey: string;
	conditions: CompiledCondition[];
}

export interface FilterOptions {
	/** Time budget of all regex tests on one mail together, in milliseconds. */
	regexTimeoutMs: number;
}

/** What is left of a mail's regex budget. */
interface Budget {
	deadline: number;
	ms: number;
}

const POSITIVE: Record<Operator, Operator> = {
	contains: 'contains',
	notContains: 'contains',
	equals: 'equals',
	notEquals: 'equals',
	beginsWith: 'beginsWith',
	endsWith: 'endsWith',
	glob: 'glob',
	regex: 'regex',
};

function invalid(message: string, rule?: string): CrmEmailError {
	return new CrmEmailError('CONFIG_INVALID', message, { rule });
}

function oneOf<T extends string>(
	list: readonly T[],
	value: unknown,
	what: string,
	rule: string,
): T {
	if (typeof value === 'string' && (list as readonly string[]).includes(value)) return value as T;
	throw invalid(
		`Rule "${rule}": ${what} "${String(value)}" is not one of ${list.join(', ')}`,
		rule,
	);
}

/**
 * Checks and prepares rules once per execution. Rules may come from an expression (a database or
 * sheet), so everything is validated and errors name the rule.
 */
export function compileRules(input: unknown): CompiledRule[] {
	if (!Array.isArray(input)) throw invalid('Rules must be a list (a JSON array of rule objects)');
	return input.map((raw, index) => {
		if (!raw || typeof raw !== 'object') throw invalid(`Rule ${index + 1} is not an object`);
		const r = raw as Record<string, unknown>;
		const name = typeof r.name === 'string' && r.name.trim() ? r.name.trim() : `Rule ${index + 1}`;
		const match = oneOf(['all', 'any'] as const, r.match ?? 'all', 'match', name);
		const action = oneOf(ACTIONS, r.action ?? 'none', 'action', name);
		const folder = typeof r.folder === 'string' ? r.folder.trim() : '';
		if (action === 'folder' && !folder)
			throw invalid(`Rule "${name}": action "put in folder" needs a folder name`, name);
		const rawConditions = r.conditions ?? [];
		if (!Array.isArray(rawConditions))
			throw invalid(`Rule "${name}": conditions must be a list`, name);
		const conditions = rawConditions.map((c: Record<string, unknown>, ci): CompiledCondition => {
			if (!c || typeof c !== 'object')
				throw invalid(`Rule "${name}": condition ${ci + 1} is not an object`, name);
			const field = oneOf(FIELDS, c.field, 'field', name);
			const operator = oneOf(OPERATORS, c.operator ?? 'contains', 'operator', name);
			const value = c.value === undefined || c.value === null ? '' : String(c.value);
			const header = typeof c.header === 'string' ? c.header.trim().toLowerCase() : '';
			if (field === 'header' && !header)
				throw invalid(
					`Rule "${name}": condition ${ci + 1} on a header needs the header name`,
					name,
				);
			const caseSensitive = c.caseSensitive === true;
			const where = `Rule "${name}", condition ${ci + 1}`;
			const needle = caseSensitive ? value : value.toLowerCase();
			return {
				field,
				header: header || undefined,
				operator,
				value,
				caseSensitive,
				needle,
				regex: operator === 'regex' ? compileRegex(value, caseSensitive, where) : null,
				glob: operator === 'glob' ? compileGlob(needle) : null,
				negative: operator === 'notContains' || operator === 'notEquals',
			};
		});
		return {
			name,
			account: typeof r.account === 'string' ? r.account : undefined,
			accountKey: typeof r.account === 'string' ? r.account.trim().toLowerCase() : '',
			match,
			action,
			folder: action === 'folder' ? folder : undefined,
			markAsRead: r.markAsRead === true,
			skipNotification: r.skipNotification === true,
			continue: r.continue === true,
			conditions,
		};
	});
}

/** The parts of a mail item the filter reads; items from any source may miss any of them. */
export interface FilterableMail {
	account?: unknown;
	subject?: unknown;
	from?: unknown;
	to?: unknown;
	cc?: unknown;
	replyTo?: unknown;
	text?: unknown;
	html?: unknown;
	headers?: unknown;
}

/** Lazily computed, per-mail texts: each field is read (and lowercased) at most once. */
class MailView {
	private readonly cache = new Map<string, string[]>();

	constructor(private readonly mail: FilterableMail) {}

	values(field: Field, header: string | undefined, caseSensitive: boolean): string[] {
		const key = `${field}:${header ?? ''}:${caseSensitive ? 1 : 0}`;
		let out = this.cache.get(key);
		if (!out) {
			const raw = this.raw(field, header);
			out = caseSensitive ? raw : raw.map((v) => v.toLowerCase());
			this.cache.set(key, out);
		}
		return out;
	}

	private raw(field: Field, header: string | undefined): string[] {
		const m = this.mail;
		switch (field) {
			case 'subject':
				return [str(m.subject)];
			case 'body': {
				// Plain text and the HTML part without tags: a phrase may be in either.
				const text = str(m.text);
				const html = str(m.html);
				return html ? [text, htmlToText(html)] : [text];
			}
			case 'header': {
				const headers =
					m.headers && typeof m.headers === 'object' ? (m.headers as Record<string, unknown>) : {};
				const found = Object.entries(headers).find(([k]) => k.toLowerCase() === header);
				return found ? [str(found[1])] : [];
			}
			default:
				return addressStrings(m[field]);
		}
	}
}

function str(value: unknown): string {
	if (typeof value === 'string') return value;
	if (value === undefined || value === null) return '';
	return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Each address of a field, and each display name: "any address matches". */
function addressStrings(value: unknown): string[] {
	const list = Array.isArray(value) ? value : value ? [value] : [];
	const out: string[] = [];
	for (const entry of list) {
		if (typeof entry === 'string') out.push(entry.trim());
		else if (entry && typeof entry === 'object') {
			const a = entry as { address?: unknown; name?: unknown };
			if (typeof a.address === 'string') out.push(a.address.trim());
			if (typeof a.name === 'string' && a.name.trim()) out.push(a.name.trim());
		}
	}
	return out;
}

function shorten(text: string): string {
	return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function testOne(
	c: CompiledCondition,
	candidate: string,
	budget: Budget,
	warnings: string[],
	rule: string,
): boolean {
	switch (POSITIVE[c.operator]) {
		case 'contains':
			return candidate.includes(c.needle);
		case 'equals':
			return candidate.trim() === c.needle.trim();
		case 'beginsWith':
			return candidate.startsWith(c.needle);
		case 'endsWith':
			return candidate.endsWith(c.needle);
		case 'glob':
			return (c.glob as GlobMatcher)(candidate);
		default: {
			const left = Math.floor(budget.deadline - performance.now());
			if (left < 1) {
				warnings.push(
					`Rule "${rule}": regex ${c.value} on ${c.field} not run, the mail's regex time budget of ${budget.ms} ms is used up (counted as no match)`,
				);
				return false;
			}
			const outcome = testRegex(c.regex as RegExp, candidate, left);
			if (outcome.timedOut) {
				// Stopped means the budget is gone, whatever the clock says to the millisecond.
				budget.deadline = 0;
				warnings.push(
					`Rule "${rule}": regex ${c.value} on ${c.field} stopped at the mail's regex time budget of ${budget.ms} ms (counted as no match)`,
				);
			}
			return outcome.matched;
		}
	}
}

/** Whether the condition holds, and what it was compared against. */
function evaluateCondition(
	c: CompiledCondition,
	view: MailView,
	budget: Budget,
	warnings: string[],
	rule: string,
): Reason | null {
	// Regexes get the original text (their own flags decide case); other operators the folded one.
	const values = view.values(c.field, c.header, c.caseSensitive === true || c.operator === 'regex');
	const hit = values.find((v) => testOne(c, v, budget, warnings, rule));
	const holds = c.negative ? hit === undefined : hit !== undefined;
	if (!holds) return null;
	return {
		field: c.field,
		...(c.header ? { header: c.header } : {}),
		operator: c.operator,
		value: c.value,
		actual: shorten(hit ?? values[0] ?? ''),
	};
}

function ruleMatches(
	rule: CompiledRule,
	view: MailView,
	budget: Budget,
	warnings: string[],
): Reason[] | null {
	// A rule without conditions matches every mail: a catch-all as the last rule.
	if (rule.conditions.length === 0) return [];
	const reasons: Reason[] = [];
	for (const c of rule.conditions) {
		const reason = evaluateCondition(c, view, budget, warnings, rule.name);
		if (rule.match === 'any' && reason) return [reason];
		if (rule.match === 'all') {
			if (!reason) return null;
			reasons.push(reason);
		}
	}
	return rule.match === 'all' ? reasons : null;
}

export function evaluate(
	rules: CompiledRule[],
	mail: FilterableMail,
	options: FilterOptions,
): Decision {
	const view = new MailView(mail);
	// One budget for the whole mail: 20 rules with a slow regex each must not cost 20 limits.
	const budget = {
		deadline: performance.now() + options.regexTimeoutMs,
		ms: options.regexTimeoutMs,
	};
	const account = str(mail.account).trim().toLowerCase();
	const decision: Decision = {
		skipped: false,
		rule: null,
		hits: [],
		folder: null,
		markAsRead: false,
		skipNotification: false,
		warnings: [],
	};
	for (const rule of rules) {
		if (rule.accountKey && rule.accountKey !== account) continue;
		const reasons = ruleMatches(rule, view, budget, decision.warnings);
		if (!reasons) continue;
		decision.hits.push({ rule: rule.name, action: rule.action, reasons });
		decision.rule ??= rule.name;
		if (rule.action === 'skip') decision.skipped = true;
		if (rule.action === 'folder' && decision.folder === null) decision.folder = rule.folder ?? null;
		decision.markAsRead ||= rule.markAsRead === true;
		decision.skipNotification ||= rule.skipNotification === true;
		if (!rule.continue) break;
	}
	return decision;
}
