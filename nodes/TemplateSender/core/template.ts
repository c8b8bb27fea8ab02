/**
 * Templates: Handlebars plus EspoCRM placeholders (`{Account.name}`, `{Contact.account.name}`,
 * `{today}`, `{optOutUrl}`), so an EspoCRM template can be pasted as is. Only the admin's template
 * is ever compiled; mail content enters as data, so a subject containing `{{…}}` or
 * `{Account.name}` stays literal text. Values are HTML-escaped in HTML bodies. Handlebars 4.6+
 * refuses prototype access by default, and each render uses an isolated Handlebars environment.
 * A field set by an n8n expression holds item data n8n has put there: it is a literal, never
 * compiled.
 */
import Handlebars from 'handlebars';

import { CrmEmailError } from '../../shared/errors';

export type UnknownPlaceholders = 'keep' | 'fail';

const hb = Handlebars.create();

/** `{Type.attr}` / `{global}` not part of a `{{…}}` Handlebars expression. */
const PLACEHOLDER = /(?<!\{)\{([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+){0,4})\}(?!\})/g;

function lookup(context: Record<string, unknown>, path: string): unknown {
	let cur: unknown = context;
	for (const part of path.split('.')) {
		if (!cur || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part))
			return undefined;
		cur = (cur as Record<string, unknown>)[part];
	}
	return cur;
}

/** Trusted HTML the package itself generates (the opt-out link): not escaped again. */
export function safeHtml(html: string): unknown {
	return new hb.SafeString(html);
}

function display(value: unknown): unknown {
	if (value instanceof hb.SafeString) return value;
	if (value === null || value === undefined) return '';
	if (Array.isArray(value)) return value.map((v) => String(display(v))).join(', ');
	if (typeof value === 'object') {
		const v = value as { name?: unknown; address?: unknown };
		if (typeof v.name === 'string' && v.name) return v.name;
		if (typeof v.address === 'string') return v.address;
		return '';
	}
	return String(value);
}

export interface CompiledTemplate {
	render(context: Record<string, unknown>): string;
}

/**
 * `where` names the parameter in errors ("Subject", "HTML Body"). `html` escapes values.
 */
export function compileTemplate(
	source: string,
	o: { where: string; html: boolean; unknown: UnknownPlaceholders },
): CompiledTemplate {
	const converted = source.replace(
		PLACEHOLDER,
		(_whole, path: string) => `{{espo ${JSON.stringify(path)}}}`,
	);
	let template: HandlebarsTemplateDelegate;
	try {
		// Parse now, so syntax errors surface once, naming the parameter.
		hb.parse(converted);
		template = hb.compile(converted, { noEscape: !o.html, strict: false });
	} catch (error) {
		throw templateError(o.where, error);
	}
	return {
		render(context) {
			try {
				return template(context, {
					helpers: {
						espo: (path: string) => {
							const value = lookup(context, path);
							if (value !== undefined && value !== null) return display(value);
							if (o.unknown === 'fail')
								throw new CrmEmailError(
									'CONFIG_INVALID',
									`${o.where}: the placeholder {${path}} has no value for this item`,
									{ placeholder: path },
								);
							return `{${path}}`;
						},
					},
				});
			} catch (error) {
				throw templateError(o.where, error);
			}
		},
	};
}

/** Text that is data, not a template (an n8n expression's result): rendered as it is. */
export function literalTemplate(text: string): CompiledTemplate {
	return { render: () => text };
}

function templateError(where: string, error: unknown): CrmEmailError {
	if (error instanceof CrmEmailError) return error;
	const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
	return new CrmEmailError('CONFIG_INVALID', `${where}: the template is invalid (${message})`);
}

export function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
