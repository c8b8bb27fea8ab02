/**
 * Headless Chromium (Debian's `chromium` package, driven by playwright-core, which downloads no
 * browser of its own) looking at a real n8n editor.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

import { installCommand } from './debian';
import type { N8nOwner } from './n8n';

export const CHROMIUM = process.env.CRM_EMAIL_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
	if (!existsSync(CHROMIUM))
		throw new Error(
			`No Chromium at ${CHROMIUM}: ${installCommand('chromium')} (or set CRM_EMAIL_CHROMIUM)`,
		);
	return chromium.launch({
		executablePath: CHROMIUM,
		// The background-networking flags keep Chromium from calling Google's hosts, which this
		// machine's closed network refuses many times over; --no-sandbox because tests run as root.
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--no-first-run',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
		],
	});
}

/** Signs in through n8n's own sign-in form. */
export async function signIn(page: Page, baseUrl: string, owner: N8nOwner): Promise<void> {
	await page.goto(`${baseUrl}/signin`);
	await page.locator('input[type=email], input[name=emailOrLdapLoginId]').first().fill(owner.email);
	await page.locator('input[type=password]').first().fill(owner.password);
	await page.keyboard.press('Enter');
	await page.waitForURL((url) => !url.pathname.startsWith('/signin'), { timeout: 60_000 });
}

export interface CanvasNode {
	name: string;
	type: string;
	/** n8n draws a "?" instead of the icon when it does not know the node type. */
	unknownType: boolean;
	/** The red warning (node issues: unknown credential type, missing parameter …). */
	issues: boolean;
}

/** Opens a workflow in the editor and reads every node drawn on the canvas. */
export async function openWorkflow(
	page: Page,
	baseUrl: string,
	id: string,
	nodeCount: number,
): Promise<CanvasNode[]> {
	await page.goto(`${baseUrl}/workflow/${id}`);
	await page
		.locator('[data-test-id="canvas-node"]')
		.nth(nodeCount - 1)
		.waitFor({ timeout: 60_000 });
	await page.waitForLoadState('networkidle');
	return page.$$eval('[data-test-id="canvas-node"]', (els) =>
		els.map((el) => ({
			name: el.getAttribute('data-node-name') ?? '',
			type: el.getAttribute('data-node-type') ?? '',
			unknownType: el.querySelector('[class*="nodeIconPlaceholder"]') !== null,
			issues:
				el.querySelector('[data-test-id="node-issues"], [data-test-id="node-setup-required"]') !==
				null,
		})),
	);
}

/**
 * Closes the "Production Checklist" that n8n opens over the canvas of a published workflow, so a
 * screenshot shows the workflow; waits a few seconds for it, as it fades in late.
 */
export async function closeChecklist(page: Page): Promise<void> {
	await page
		.locator('[data-test-id="suggested-actions-close"]')
		.click({ timeout: 5_000 })
		.catch(() => undefined);
	await page.mouse.move(0, 0);
	await page.waitForTimeout(500);
}
