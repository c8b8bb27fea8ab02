/**
 * n8n glue of the Email Filter: reads the rules, evaluates each item, optionally carries the
 * decisions out on the IMAP server, and splits items into Kept / Skipped / Failed.
 */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { CrmEmailError } from '../shared/errors';
import { failedItem, toNodeError } from '../shared/itemErrors';
import { parseJsonParameter } from '../shared/jsonParameter';
import { readImapCredentials } from '../shared/mailAuth';
import { imapAccount } from '../shared/transport/imap';
import { compileRules, evaluate, type CompiledRule, type Decision, type Rule } from './core/rules';
import { applyMailboxActions, type MailboxAction } from './mailbox';

interface PanelRule extends Omit<Rule, 'conditions'> {
	conditions?: { condition?: Rule['conditions'] };
}

function readRules(ctx: IExecuteFunctions, index: number): unknown {
	if (ctx.getNodeParameter('rulesSource', index) === 'json') {
		const raw = ctx.getNodeParameter('rulesJson', index) as unknown;
		return typeof raw === 'string' ? parseJsonParameter(raw, 'Rules (JSON)') : raw;
	}
	const panel = ctx.getNodeParameter('rules', index, {}) as { rule?: PanelRule[] };
	return (panel.rule ?? []).map((r) => ({ ...r, conditions: r.conditions?.condition ?? [] }));
}

function mailboxActionFor(
	json: IDataObject,
	decision: Decision,
	key: number,
): MailboxAction | null {
	if (!decision.folder && !decision.markAsRead) return null;
	const uid = Number(json.uid);
	if (!Number.isInteger(uid) || uid <= 0 || typeof json.folder !== 'string') return null;
	return {
		key,
		folder: json.folder,
		uid,
		uidValidity: json.uidValidity === undefined ? '' : String(json.uidValidity),
		moveTo: decision.folder,
		markAsRead: decision.markAsRead,
	};
}

export async function executeFilter(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const kept: INodeExecutionData[] = [];
	const skipped: INodeExecutionData[] = [];
	const failed: INodeExecutionData[] = [];
	const applyOnServer = this.getNodeParameter('applyOnServer', 0, false) as boolean;
	const options = this.getNodeParameter('options', 0, {}) as { regexTimeoutMs?: number };
	const regexTimeoutMs = Math.max(1, Number(options.regexTimeoutMs) || 100);
	// Rules usually are the same for every item: compile each distinct rule set once.
	const compiled = new Map<string, CompiledRule[]>();
	const decided: Array<{ index: number; decision: Decision } | { index: number; error: unknown }> =
		[];

	for (let i = 0; i < items.length; i++) {
		try {
			const raw = readRules(this, i);
			const key = JSON.stringify(raw);
			let rules = compiled.get(key);
			if (!rules) {
				rules = compileRules(raw);
				compiled.set(key, rules);
			}
			decided.push({ index: i, decision: evaluate(rules, items[i].json, { regexTimeoutMs }) });
		} catch (error) {
			if (!this.continueOnFail()) throw toNodeError(this, error, i);
			decided.push({ index: i, error });
		}
	}

	const mailbox = new Map<number, IDataObject>();
	// A decision the mailbox could not carry out: the mail goes to Failed, not Kept or Skipped.
	const mailboxErrors = new Map<number, CrmEmailError>();
	if (applyOnServer) {
		const creds = await readImapCredentials(this);
		const account = imapAccount(creds).toLowerCase();
		const actions: MailboxAction[] = [];
		for (const d of decided) {
			if (!('decision' in d)) continue;
			const json = items[d.index].json;
			const action = mailboxActionFor(json, d.decision, d.index);
			if (!action) continue;
			if (String(json.account ?? '').toLowerCase() !== account) {
				mailbox.set(d.index, {
					applied: false,
					reason: `The mail is from account "${String(json.account)}", the credential is for "${imapAccount(creds)}"`,
				});
				continue;
			}
			actions.push(action);
		}
		for (const outcome of await applyMailboxActions(creds, actions)) {
			if (outcome.error) {
				if (!this.continueOnFail()) throw toNodeError(this, outcome.error, outcome.key);
				mailboxErrors.set(outcome.key, outcome.error);
			}
			mailbox.set(outcome.key, {
				applied: outcome.error === null,
				markedRead: outcome.markedRead,
				movedTo: outcome.movedTo,
				...(outcome.error
					? { error: { code: outcome.error.code, message: outcome.error.message } }
					: {}),
			});
		}
	}

	for (const d of decided) {
		const item = items[d.index];
		if ('error' in d) {
			failed.push(failedItem(this, item, d.index, d.error));
			continue;
		}
		const { decision } = d;
		const filter: IDataObject = {
			decision: decision.skipped ? 'skipped' : 'kept',
			rule: decision.rule,
			hits: decision.hits as unknown as IDataObject[],
			folder: decision.folder,
			markAsRead: decision.markAsRead,
			skipNotification: decision.skipNotification,
			warnings: decision.warnings,
			...(mailbox.has(d.index) ? { mailbox: mailbox.get(d.index) } : {}),
		};
		const out: INodeExecutionData = {
			json: { ...item.json, filter },
			binary: item.binary,
			pairedItem: { item: d.index },
		};
		const mailboxError = mailboxErrors.get(d.index);
		// Still with its decision in `filter`: an error branch can route it on by the rules.
		if (mailboxError) failed.push(failedItem(this, out, d.index, mailboxError));
		else (decision.skipped ? skipped : kept).push(out);
	}
	return [kept, skipped, failed];
}
