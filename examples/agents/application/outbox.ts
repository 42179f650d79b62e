/**
 * The application agent's side effect: decisions "sent" to applicants, recorded in an outbox table.
 * Keyed by the tool call's idempotency key, so a retried or crash-repeated send is stored once.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export interface SentDecision {
  idempotencyKey: string;
  sessionId: string;
  applicantId: string;
  decision: string;
  amount: number;
  reason: string;
  sentAt: string;
}

export function outboxPath(): string {
  return process.env.OUTBOX_DB ?? path.resolve('.data', 'outbox.sqlite');
}

export function openOutbox(file: string = outboxPath()): Database.Database {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(`CREATE TABLE IF NOT EXISTS sent_decisions (
    idempotency_key TEXT PRIMARY KEY, session_id TEXT NOT NULL, applicant_id TEXT NOT NULL,
    decision TEXT NOT NULL, amount REAL NOT NULL, reason TEXT NOT NULL, sent_at TEXT NOT NULL)`);
  return db;
}

/** Returns true when this call sent the decision, false when the same key had already sent it. */
export function sendDecision(db: Database.Database, d: SentDecision): boolean {
  const r = db
    .prepare(
      `INSERT INTO sent_decisions (idempotency_key, session_id, applicant_id, decision, amount, reason, sent_at)
       VALUES (@idempotencyKey, @sessionId, @applicantId, @decision, @amount, @reason, @sentAt) ON CONFLICT DO NOTHING`,
    )
    .run(d);
  return r.changes === 1;
}

export function sentDecisions(db: Database.Database, sessionId?: string): SentDecision[] {
  const rows = db
    .prepare(
      `SELECT idempotency_key AS idempotencyKey, session_id AS sessionId, applicant_id AS applicantId, decision, amount, reason, sent_at AS sentAt
       FROM sent_decisions ${sessionId ? 'WHERE session_id = ?' : ''} ORDER BY sent_at`,
    )
    .all(...(sessionId ? [sessionId] : [])) as SentDecision[];
  return rows;
}
