/**
 * The approvals inbox: one self-contained page served by the API. It reads GET /approvals, decides with
 * POST /approvals/<sessionId>/<seq> and follows each session's event stream (GET /sessions/:id/events),
 * all with the login cookie. Every value from the server is put in the page as text (never as HTML).
 */
import type { Identity } from './http-auth';

const STYLE = `body{font:14px system-ui,sans-serif;margin:1.5rem;max-width:72rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left}pre{margin:0;white-space:pre-wrap;max-width:28rem}
textarea{width:100%;min-height:5rem;font:12px monospace}.del{background:#fdd}.add{background:#dfd}#log{font:12px monospace;white-space:pre-wrap}
.err{color:#b00}`;

export function loginPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Approvals inbox: log in</title><style>${STYLE}</style></head><body>
<h1>Approvals inbox</h1><form id="login"><label>Bearer key <input id="key" type="password" autocomplete="off" size="50"></label>
<button type="submit">Log in</button></form><p id="msg" class="err"></p>
<script>
document.getElementById('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const res = await fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: document.getElementById('key').value }) });
  if (res.ok) location.reload(); else document.getElementById('msg').textContent = (await res.json()).error || res.statusText;
});
</script></body></html>`;
}

/** Client-side logic of the inbox (plain browser JavaScript). */
const SCRIPT = String.raw`
const me = JSON.parse(document.getElementById('me').textContent);
const rows = document.getElementById('rows');
const log = document.getElementById('log');
const streams = new Map();
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const note = (line) => { log.textContent = new Date().toISOString().slice(11, 19) + ' ' + line + '\n' + log.textContent; };

// Line diff (longest common subsequence) of the proposed and the edited arguments.
function diff(a, b) {
  const x = a.split('\n'), y = b.split('\n');
  const L = Array.from({ length: x.length + 1 }, () => new Array(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) for (let j = y.length - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = []; let i = 0, j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) { out.push(['', '  ' + x[i]]); i++; j++; }
    else if (j < y.length && (i >= x.length || L[i][j + 1] >= L[i + 1][j])) { out.push(['add', '+ ' + y[j]]); j++; }
    else { out.push(['del', '- ' + x[i]]); i++; }
  }
  return out;
}

// Browsers allow about six HTTP/1.1 connections per origin: a few live streams, so requests still get through.
const MAX_STREAMS = 3;
function follow(sessionId) {
  if (streams.has(sessionId)) return;
  if (streams.size >= MAX_STREAMS) { const [oldest, es] = streams.entries().next().value; es.close(); streams.delete(oldest); }
  const es = new EventSource('/sessions/' + encodeURIComponent(sessionId) + '/events');
  streams.set(sessionId, es);
  const kinds = ['step', 'tool_call', 'approval_requested', 'approval_decided', 'tool_result', 'final_answer'];
  for (const kind of kinds) es.addEventListener(kind, (ev) => {
    const d = JSON.parse(ev.data);
    const what = kind === 'final_answer' ? d.text : kind === 'approval_decided' ? d.status + (d.approver ? ' by ' + d.approver : '') : d.tool || '';
    note(sessionId + ' ' + kind + ' ' + (what || ''));
    const status = document.querySelector('[data-status="' + CSS.escape(sessionId) + '"]');
    if (status) status.textContent = kind === 'final_answer' ? 'completed: ' + d.text : kind === 'tool_result' ? 'resumed: ' + (d.tool || 'tool') + ' ran' : status.textContent;
    if (kind === 'approval_requested' || kind === 'approval_decided') refresh();
  });
  es.addEventListener('end', (ev) => { note(sessionId + ' ended (' + JSON.parse(ev.data).status + ')'); es.close(); streams.delete(sessionId); });
}

async function decide(a, decision, editor, comment, msg) {
  const body = { decision, argsHash: a.argsHash };
  if (comment.value) body.comment = comment.value;
  if (decision === 'approve' && editor.value.trim() !== JSON.stringify(a.args, null, 2)) {
    try { body.editedArgs = JSON.parse(editor.value); } catch (e) { msg.textContent = 'edited arguments are not JSON: ' + e.message; return; }
  }
  const res = await fetch('/approvals/' + a.approvalId, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const out = await res.json();
  if (!res.ok) { msg.textContent = res.status + ': ' + out.error; return; }
  note(a.approvalId + ' ' + out.status + ' by ' + out.approver);
  follow(a.sessionId); // watch it resume
  refresh();
}

function row(a) {
  const tr = el('tr'); tr.dataset.approval = a.approvalId;
  const session = el('td'); const link = el('a', a.sessionId); link.href = a.webUi; link.target = '_blank'; session.append(link, el('div', a.agent || ''), el('div', 'waiting', 'status'));
  session.lastChild.dataset.status = a.sessionId;
  const original = JSON.stringify(a.args, null, 2) || '';
  const editor = el('textarea'); editor.value = original;
  const diffBox = el('pre');
  editor.addEventListener('input', () => { diffBox.textContent = ''; if (editor.value === original) return; for (const [cls, line] of diff(original, editor.value)) diffBox.append(el('div', line, cls)); });
  const comment = el('input'); comment.placeholder = 'comment'; comment.name = 'comment';
  const msg = el('div', '', 'err');
  const approve = el('button', 'Approve'); approve.name = 'approve'; approve.onclick = () => decide(a, 'approve', editor, comment, msg);
  const reject = el('button', 'Reject'); reject.name = 'reject'; reject.onclick = () => decide(a, 'reject', editor, comment, msg);
  const args = el('td'); args.append(editor, diffBox);
  const act = el('td'); act.append(comment, approve, reject, msg);
  tr.append(session, el('td', a.tool), args, el('td', a.reason || a.detailsError || ''), el('td', a.deadline), el('td', a.approverGroup), act);
  return tr;
}

async function refresh() {
  const res = await fetch('/approvals?pageSize=200');
  if (res.status === 401) { location.reload(); return; }
  const page = await res.json();
  // Rows already shown are kept as they are (an approver's edits and messages survive a refresh).
  const shown = new Map([...rows.children].map((tr) => [tr.dataset.approval, tr]));
  rows.replaceChildren(...page.items.map((a) => shown.get(a.approvalId) || row(a)));
  document.getElementById('count').textContent = page.items.length + ' pending' + (page.unavailable.length ? ', ' + page.unavailable.length + ' sessions not listable now' : '');
  for (const a of page.items.slice(0, MAX_STREAMS)) follow(a.sessionId);
}
document.getElementById('logout').onclick = async () => { await fetch('/logout', { method: 'POST' }); location.reload(); };
refresh();
setInterval(refresh, 10000);
`;

export function inboxPage(identity: Identity): string {
  // JSON in a script element: '<' is escaped so no value can end the element.
  const me = JSON.stringify({ id: identity.id, groups: identity.groups, roles: identity.roles }).replace(/</g, '\\u003c');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Approvals inbox</title><style>${STYLE}</style></head><body>
<h1>Approvals inbox</h1><p>Logged in as <b id="who"></b> <button id="logout">Log out</button> · <span id="count"></span></p>
<table><thead><tr><th>Session</th><th>Tool</th><th>Arguments</th><th>Reason</th><th>Deadline</th><th>Group</th><th>Decision</th></tr></thead><tbody id="rows"></tbody></table>
<h2>Activity</h2><div id="log"></div>
<script type="application/json" id="me">${me}</script>
<script>document.getElementById('who').textContent = JSON.parse(document.getElementById('me').textContent).id + ' (' + JSON.parse(document.getElementById('me').textContent).groups.join(', ') + ')';</script>
<script>${SCRIPT}</script></body></html>`;
}
