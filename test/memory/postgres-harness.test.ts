/**
 * The reusable PostgreSQL test harness (test/support/postgres.ts): isolation helpers work, and a
 * server it started is really gone (process and files) after stop().
 */
import fs from 'node:fs';
import { Client } from 'pg';
import { postgresSkipReason, startPostgres } from '../support/postgres';

const skip = postgresSkipReason();
if (skip) console.warn(`[postgres harness test] skipping: ${skip}`);

async function query<T extends Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

(skip ? describe.skip : describe)('PostgreSQL test harness', () => {
  it('provides isolated databases and schemas, and cleans up on stop()', async () => {
    const pg = await startPostgres();
    if (!pg) throw new Error('unreachable: skip reason was null');
    const dbUrl = await pg.createDatabase('harness');
    const dbName = new URL(dbUrl).pathname.slice(1);
    expect((await query<{ db: string }>(dbUrl, 'SELECT current_database() AS db'))[0].db).toBe(dbName);
    const schema = await pg.createSchema('harness');
    await query(pg.url, `CREATE TABLE "${schema}".t (x int)`);
    expect(await query(pg.url, `SELECT * FROM "${schema}".t`)).toEqual([]);

    let dataDir: string | undefined;
    if (!pg.external) {
      dataDir = (await query<{ setting: string }>(pg.url, `SELECT setting FROM pg_settings WHERE name = 'data_directory'`))[0].setting;
      expect(fs.existsSync(dataDir)).toBe(true);
    }
    await pg.stop();

    if (pg.external) {
      // On a shared server only what we created goes away.
      expect(await query(pg.url, `SELECT 1 FROM pg_database WHERE datname = '${dbName}'`)).toEqual([]);
      expect(await query(pg.url, `SELECT 1 FROM pg_namespace WHERE nspname = '${schema}'`)).toEqual([]);
    } else {
      await expect(query(pg.url, 'SELECT 1')).rejects.toThrow();
      expect(fs.existsSync(dataDir as string)).toBe(false);
    }
  });
});
