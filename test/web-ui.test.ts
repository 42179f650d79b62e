/**
 * The Temporal Web UI as an operator sees it: the real UI served by the dev server, opened in headless
 * Chromium (Debian's chromium + playwright-core). A session paused on an approval must show its summary,
 * the current details (approval id, tool, key arguments, the command that decides it) and its search
 * attributes.
 */
import { chromium, type Browser } from 'playwright-core';
import { startSession, waitForState } from '../client/sessions';
import { oneNoticeScript } from './support/agents';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
let browser: Browser | undefined;
beforeAll(async () => {
  h = await createHarness([], {}, { webUi: true });
  await h.startWorker();
  h.model.setScript(oneNoticeScript('vip-fay', 'Your loan is approved'));
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

test('a paused session shows its summary, how to decide it and its search attributes', async () => {
  const s = await startSession(h.client, { agent: 'signed-notifier', task: 'tell vip-fay the news', userId: 'dan' }, h.config);
  const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
  const approvalId = st.pendingApprovals[0].approvalId;
  // The search attributes are upserted with the status change; wait until visibility has them.
  for (let i = 0; i < 100; i++) {
    const d = await s.handle.describe();
    if ((d.searchAttributes?.SessionStatus as string[] | undefined)?.[0] === 'awaiting_approval') break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const page = await browser!.newPage();
  const url = `${h.server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(s.sessionId)}`;
  await page.goto(url);
  // User Metadata: the summary (set at start) and the current details (set by the workflow), each
  // rendered as markdown in its own frame.
  await page.getByText('User Metadata').first().click({ timeout: 60_000 });
  const details = page.frameLocator('iframe#user-metadata-current-details');
  await details.getByText(`approval id: ${approvalId}`).waitFor({ timeout: 60_000 });
  const summary = await page.frameLocator('iframe#user-metadata-summary').locator('body').innerText();
  expect(summary).toContain('agent signed-notifier for dan: tell vip-fay the news');
  const text = await details.locator('body').innerText();
  expect(text).toContain('Waiting for approval (1)');
  expect(text).toContain('tool: send_notice (recipient=vip-fay, text=Your loan is approved, holdMs=0)');
  expect(text).toContain('asked: group support-leads until');
  expect(text).toContain(`agentctl approve ${s.sessionId} --approval-id ${approvalId}`);
  expect(text).toContain('this agent requires signed decisions');

  // Search attributes, on their tab.
  await page.getByText('Search Attributes').first().click();
  await page.getByText('"SessionStatus": "awaiting_approval"').first().waitFor({ timeout: 30_000 });
  const attrs = await page.locator('body').innerText();
  expect(attrs).toContain('"AgentName": "signed-notifier"');
  expect(attrs).toContain('"PendingApprovals": 1');
  expect(attrs).toContain('"UserId": "dan"');

  // Search attributes: the workflow list can filter on them, and shows the session.
  const list = `${h.server.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`SessionStatus="awaiting_approval" AND AgentName="signed-notifier"`)}`;
  await page.goto(list);
  await page.getByText(s.sessionId).first().waitFor({ timeout: 60_000 });
  await page.close();
});
