/**
 * The pure core of every node, for use outside n8n (scripts, other packages, tests).
 * n8n itself loads the node and credential classes listed in package.json.
 */
export * from './nodes/shared/errors';
export * from './nodes/shared/addresses';
export * from './nodes/shared/mailItem';
export * from './nodes/shared/transport/imap';
export * from './nodes/ImapTrigger/core/cursor';
export * from './nodes/ImapTrigger/core/mail';
export * from './nodes/ImapTrigger/core/options';
export { ImapIntake } from './nodes/ImapTrigger/intake';
export type { IntakeOptions, IntakeHooks, StateStore } from './nodes/ImapTrigger/intake';
export * from './nodes/shared/glob';
export * from './nodes/shared/safeRegex';
export * from './nodes/shared/threadId';
export * from './nodes/shared/transport/smtp';
export * from './nodes/EmailFilter/core/rules';
export { htmlToText } from './nodes/shared/html';
export * from './nodes/shared/reply';
export { applyMailboxActions } from './nodes/EmailFilter/mailbox';
export * from './nodes/ParentLinker/core/records';
export * from './nodes/ParentLinker/core/link';
export * from './nodes/ParentLinker/core/person';
export { ObjectThreadMemory } from './nodes/ParentLinker/core/memory';
export * from './nodes/TemplateSender/core/template';
export * from './nodes/TemplateSender/core/compose';
export * from './nodes/TemplateSender/core/loopGuard';
export * from './nodes/TemplateSender/core/optOut';
export * from './nodes/TemplateSender/core/state';
export { buildRaw, Delivery } from './nodes/TemplateSender/delivery';
export type { OutgoingMail, DeliveryOptions, Delivered } from './nodes/TemplateSender/delivery';
export * from './nodes/CaseRouter/core/router';
export * from './nodes/CaseRouter/core/assign';
export * from './nodes/CaseRouter/core/store';
export * from './nodes/shared/oauth2Token';
