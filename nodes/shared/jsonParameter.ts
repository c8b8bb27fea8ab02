/**
 * JSON text from a node parameter (often an expression reading a database or sheet). No n8n
 * imports: a bad text is a typed configuration error naming the parameter, which the glue passes
 * through the per-item error contract.
 */
import { CrmEmailError } from './errors';

export function parseJsonParameter(text: string, parameter: string): unknown {
	let problem: string;
	try {
		return JSON.parse(text) as unknown;
	} catch (error) {
		problem = (error as Error).message;
	}
	throw new CrmEmailError('CONFIG_INVALID', `${parameter} is not valid JSON: ${problem}`, {
		parameter,
	});
}
