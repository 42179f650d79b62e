/**
 * The approvals inbox in a real browser (Debian's chromium, headless): a user outside the approval's
 * group is refused; an approver edits the arguments (the diff shows), approves, and sees the session
 * resume through its event stream.
 */
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { applicationScript } from '../examples/agents/application/script';
import { buildHttpApi } from '../client/http-api';
import { openSessionStore, type SessionStore } from '../runtime/store';
import { createHarness, type Harness } from './support/harness';
import { bearer, TEST_KEYS } from './support/http-keys';
import { testAuth } from './support/http-keys';

let h: Harness;
let api: FastifyInstance;
let store: SessionStore;
let browser: Browser;
let base = '';

beforeAll(async () => {
  h = await createHarness(applicationScript);
  await h.startWorker();
  store = openSessionStore(h.env.AGENT_STORE_URL);
  api = await buildHttpApi(await h.newClient(), h.config, { auth: testAuth, store, eventPollMs: 200 });
  base = await api.listen({ port: 0, host: '127.0.0.1' });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
});
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await store?.close();
  await h?.close();
});

async function logIn(page: Page, key: string): Promise<void> {
  await page.goto(`${base}/inbox`);
  await page.fill('#key', key);
  await page.click('button[type=submit]');
  await page.waitForSelector('#who');
}

test('an outsider cannot approve; an approver edits, approves and sees the session resume', async () => {
  const started = await fetch(`${base}/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer('starter') },
    body: JSON.stringify({ agent: 'application-processor', task: 'Process applicant A-1001.', sessionId: 'inbox-1' }),
  });
  expect(started.status).toBe(201);

  const context = await browser.newContext();
  const page = await context.newPage();
  // Without credentials the inbox is a login form, and a wrong key says so.
  await page.goto(`${base}/inbox`);
  await page.fill('#key', 'wrong-key');
  await page.click('button[type=submit]');
  await page.locator('#msg', { hasText: 'unknown bearer key' }).waitFor();

  // Mallory (group finance) sees the request but cannot decide it.
  await logIn(page, TEST_KEYS.outsider);
  const row = page.locator('tr[data-approval^="inbox-1/"]');
  await row.waitFor();
  await row.locator('button[name=approve]').click();
  await row.locator('.err', { hasText: /^403: mallory is not in group 'approvers'/ }).waitFor();
  await page.click('#logout');
  // Logging out reloads the page: wait for the login form, or the next navigation races the reload.
  await page.waitForSelector('#key');

  // Alice (group approvers) edits the reason, sees the diff, approves with a comment.
  await logIn(page, TEST_KEYS.approver);
  await expect(page.locator('#who').textContent()).resolves.toMatch(/^alice/);
  await row.waitFor();
  await expect(row.locator('td').nth(1).textContent()).resolves.toBe('send_decision');
  await expect(row.locator('td').nth(5).textContent()).resolves.toBe('approvers');
  await expect(row.locator('a').getAttribute('href')).resolves.toContain('/workflows/inbox-1');
  const editor = row.locator('textarea');
  const args = JSON.parse(await editor.inputValue()) as { reason: string };
  await editor.fill(JSON.stringify({ ...args, reason: 'Edited by the approver.' }, null, 2));
  await expect(row.locator('pre .add').first().textContent()).resolves.toContain('Edited by the approver.');
  await expect(row.locator('pre .del').first().textContent()).resolves.toContain(args.reason);
  await row.locator('input[name=comment]').fill('checked the figures');
  await row.locator('button[name=approve]').click();

  // The session resumes: its event stream reports the tool's result and the final answer.
  await page.locator('#log', { hasText: /inbox-1 final_answer Done: the decision for A-1001 was approved/ }).waitFor({ timeout: 60_000 });
  const log = (await page.locator('#log').textContent()) ?? '';
  expect(log).toMatch(/inbox-1 approval_decided approved by alice/);
  expect(log).toMatch(/inbox-1 tool_result send_decision/);
  await expect(row.count()).resolves.toBe(0);
  expect(h.sent('inbox-1')).toEqual([expect.objectContaining({ reason: 'Edited by the approver.' })]);
  const record = (await h.client.workflow.getHandle('inbox-1').query<{ approvals: Array<{ approver: string; comment: string; originalArgs: unknown }> }>('state')).approvals[0];
  expect(record).toMatchObject({ approver: 'alice', comment: 'checked the figures', originalArgs: args });
  await context.close();
});
