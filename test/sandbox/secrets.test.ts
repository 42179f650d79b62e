/** Secret resolution and redaction. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MissingSecretError, redactDeep, redactSecrets, resolveSecrets, secretEnvName } from '../../sandbox/secrets';
import { TRUNCATION_MARKER } from '../../sandbox/sandbox';
import { makeTempRoot } from './helpers';

const tmp = makeTempRoot('secrets');
afterAll(() => tmp.cleanup());

describe('resolveSecrets', () => {
  const file = path.join(tmp.root, 'secrets.json');
  beforeAll(() => fs.writeFileSync(file, JSON.stringify({ db_password: 'from-file', api_key: 'file-loses' })));

  test('env AGENT_SECRET_<NAME> wins over the file; the file fills the rest', () => {
    const env = { AGENT_SECRET_API_KEY: 'from-env', AGENT_SECRET_GITHUB_TOKEN: 'gh' };
    expect(resolveSecrets(['api_key', 'db_password', 'github-token'], { env, file })).toEqual({ api_key: 'from-env', db_password: 'from-file', 'github-token': 'gh' });
    expect(secretEnvName('github-token')).toBe('AGENT_SECRET_GITHUB_TOKEN');
  });

  test('AGENT_SECRETS_FILE selects the file', () => {
    expect(resolveSecrets(['db_password'], { env: { AGENT_SECRETS_FILE: file } })).toEqual({ db_password: 'from-file' });
  });

  test('a missing secret is a clear error naming it and where it was looked for, without values', () => {
    let err: unknown;
    try {
      resolveSecrets(['db_password', 'nope', 'also_missing'], { env: {}, file });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingSecretError);
    expect((err as Error).message).toMatch(/'nope', 'also_missing' not configured; looked in env AGENT_SECRET_NOPE, AGENT_SECRET_ALSO_MISSING and .*secrets\.json/);
    expect((err as Error).message).not.toContain('from-file');
    expect(() => resolveSecrets(['x'], { env: {}, file: path.join(tmp.root, 'absent.json') })).toThrow(MissingSecretError);
  });

  test('a malformed secrets file is reported without echoing its content', () => {
    const bad = path.join(tmp.root, 'bad.json');
    fs.writeFileSync(bad, '{"k": "super-secret-value",');
    expect(() => resolveSecrets(['k'], { env: {}, file: bad })).toThrow(/not valid JSON/);
    try {
      resolveSecrets(['k'], { env: {}, file: bad });
    } catch (e) {
      expect((e as Error).message).not.toContain('super-secret-value');
    }
    fs.writeFileSync(bad, '{"k": 1}');
    expect(() => resolveSecrets(['k'], { env: {}, file: bad })).toThrow(/string values/);
  });
});

describe('redactSecrets', () => {
  const secrets = { token: 'tok-1234567890"\\x', short: 'ab' };

  test('raw, JSON-escaped, URL-encoded, hex and base64 forms are replaced', () => {
    const v = secrets.token;
    const text = [
      `raw=${v}`,
      `json=${JSON.stringify({ t: v })}`,
      `url=${encodeURIComponent(v)}`,
      `hex=${Buffer.from(v).toString('hex')}`,
      `b64=${Buffer.from(v).toString('base64')}`,
      `b64-in-blob=${Buffer.from(`Authorization: Bearer ${v}!`).toString('base64')}`,
      `b64url=${Buffer.from(`x${v}`).toString('base64url')}`,
    ].join('\n');
    const out = redactSecrets(text, secrets);
    for (const line of out.split('\n')) expect(line).toContain('[REDACTED:token]');
    expect(out).not.toContain('tok-1234567890');
  });

  test('values shorter than 4 characters are left alone (they would shred the output)', () => {
    expect(redactSecrets('about ab', secrets)).toBe('about ab');
  });

  test('a secret cut by output truncation is redacted from its prefix', () => {
    const cut = `key: ${secrets.token.slice(0, 8)}\n${TRUNCATION_MARKER}: stdout shows the first 13 bytes; 100 bytes total]`;
    const out = redactSecrets(cut, secrets);
    expect(out).toBe(`key: [REDACTED:token]\n${TRUNCATION_MARKER}: stdout shows the first 13 bytes; 100 bytes total]`);
    expect(redactSecrets(`ends with ${secrets.token.slice(0, 6)}`, secrets)).toBe('ends with [REDACTED:token]');
  });

  test('redactDeep walks JSON-able values', () => {
    const out = redactDeep({ a: [`x ${secrets.token}`], n: 1, ok: true, nested: { [secrets.token]: secrets.token } }, secrets);
    expect(out).toEqual({ a: ['x [REDACTED:token]'], n: 1, ok: true, nested: { '[REDACTED:token]': '[REDACTED:token]' } });
  });
});
