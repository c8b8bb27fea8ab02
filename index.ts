/**
 * The pure core of every node, for use outside n8n (scripts, other packages, tests).
 * n8n itself loads the node and credential classes listed in package.json.
 */
export * from './nodes/shared/errors';
export * from './nodes/shared/transport/imap';
export * from './nodes/ImapTrigger/core/cursor';
export * from './nodes/ImapTrigger/core/mail';
export * from './nodes/ImapTrigger/core/options';
export { ImapIntake } from './nodes/ImapTrigger/intake';
export type {
	IntakeOptions,
	IntakeHooks,
	StateStore,
	AfterFetch,
} from './nodes/ImapTrigger/intake';
