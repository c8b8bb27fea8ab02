/**
 * The one async interface behind all node state, as the atomic operations the nodes need — not
 * "load the blob, change it, save the blob" — so that the same node code runs on this n8n
 * instance's file store and on a PostgreSQL database shared by n8n's queue-mode workers. Each
 * operation is atomic on its own: a second worker doing the same operation at the same moment
 * never gets the same case number, round-robin turn, rate-limit slot or one-off mark.
 */

export interface CaseRecord {
	number: number;
	id: string;
	name: string;
	status: string;
	assignee: string | null;
	team: string | null;
	contactId: string | null;
	accountId: string | null;
	leadId: string | null;
	createdAt: number;
	updatedAt: number;
	/** Addresses that wrote to or were copied on the case's mails (not ours); absent on old records. */
	participants?: string[];
}

/** Who gets a new case, decided by the store atomically with counting the case. */
export type Assignment =
	| { kind: 'fixed'; userId: string | null }
	/** The member after the pool's previous one, by id, in list order; the first when unknown. */
	| { kind: 'roundRobin'; pool: string; members: string[] }
	/** Fewest open cases in the ledger (statuses not in `closed`, lower-case); ties: list order. */
	| { kind: 'leastBusy'; members: string[]; closed: string[] };

/** How a mail was routed, kept per Message-ID so that routing it again gives the same answer. */
export interface RoutedMail {
	number: number;
	route: 'newCase' | 'followUp';
	/** Tells the same mail from another one reusing its Message-ID (see the router). */
	fingerprint: string;
}

export interface CaseRetention {
	/** Closed cases untouched for this long are forgotten, with their thread entries. */
	closedMs: number;
	/** Most thread entries kept (oldest dropped first). */
	maxThreads: number;
}

export interface CaseStore {
	/** A new case number: increasing, never reused (also after retention drops old cases). */
	nextNumber(): Promise<number>;
	getCase(number: number): Promise<CaseRecord | undefined>;
	/** Writes a case; a number above the counter raises the counter (a case made elsewhere). */
	putCase(record: CaseRecord): Promise<void>;
	/** Opens case `number` for the assignee `assignment` picks, counted with it in one step. */
	openCase(
		number: number,
		build: (assignee: string | null) => CaseRecord,
		assignment: Assignment,
	): Promise<CaseRecord>;
	caseForMessage(messageId: string): Promise<number | undefined>;
	/**
	 * Links a Message-ID to a case unless it names one already: a mail that reuses a customer's
	 * Message-ID must not redirect the customer's later replies.
	 */
	linkMessage(messageId: string, number: number): Promise<void>;
	routedMail(messageId: string): Promise<RoutedMail | undefined>;
	/** Records how a mail was routed unless that is recorded already; returns what is recorded. */
	recordRoute(messageId: string, routed: RoutedMail): Promise<RoutedMail>;
	/** Forgets closed cases past the retention with their threads; caps the thread map. */
	prune(now: number, retention: CaseRetention, closed: Set<string>): Promise<void>;
}

/** The Parent Linker's memory of a mail it linked. */
export interface LinkedParent {
	parentType: string;
	parentId: string;
	caseNumber: number | null;
}

export interface LinkStore {
	/** The remembered parents of those Message-IDs that have one. */
	getLinks(messageIds: string[]): Promise<Map<string, LinkedParent>>;
	/** Remembers (or refreshes) links; the newest are kept longest. */
	putLinks(links: Array<[string, LinkedParent]>): Promise<void>;
	/** Keeps the newest `limit` links. */
	trimLinks(limit: number): Promise<void>;
}

export interface RateLimit {
	max: number;
	windowMs: number;
}

/** Where a mail keyed per incoming mail and template stands. */
export type SendMark = 'claimed' | 'sending' | 'sent';

export interface SendStore {
	/** Counts a reply to `recipient` at `now` if fewer than `limit.max` fall in the window. */
	countReply(recipient: string, limit: RateLimit, now: number): Promise<boolean>;
	/** Takes back a reply counted at `at` whose sending failed before SMTP had it. */
	forgetReply(recipient: string, at: number): Promise<void>;
	/** Marks a one-off (template key and recipient); false when it was marked before. */
	markOneOff(key: string, now: number): Promise<boolean>;
	/** Takes back a one-off marked for a mail that certainly did not reach SMTP. */
	forgetOneOff(key: string): Promise<void>;
	/**
	 * Claims the sending of the mail `key` (incoming mail + template): 'claimed' when this call
	 * may send it; 'sending' when an earlier attempt claimed it and may have handed it to SMTP;
	 * 'sent' when it was sent. Either of the latter: do not send again.
	 */
	claimSend(key: string, now: number): Promise<SendMark>;
	/** The claimed mail was accepted by SMTP. */
	markSent(key: string, now: number): Promise<void>;
	/** The claimed mail certainly did not reach SMTP: it may be sent by a later attempt. */
	releaseSend(key: string): Promise<void>;
	/** Forgets reply times outside the window, and marks older than `keepMs`. */
	pruneSends(limit: RateLimit, keepMs: number, now: number): Promise<void>;
}

/**
 * Named opt-out lists, shared by every workflow (one fills a list, another honours it) — not
 * node state. Addresses are kept lower-case; an address once added stays.
 */
export interface OptOutStore {
	/** Adds the addresses to `list` at once; returns those that were not on it yet. */
	addOptOuts(list: string, addresses: string[], now: number): Promise<string[]>;
	/** Those of `addresses` that are on `list`. */
	optedOut(list: string, addresses: string[]): Promise<Set<string>>;
}

/** All node state of one node (a workflow's node, by its id). */
export type StateStore = CaseStore & LinkStore & SendStore;
