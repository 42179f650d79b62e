/**
 * Secrets for tools: resolved on the worker at run time, handed to a tool in `ctx.secrets`, and scrubbed
 * from anything a tool returns (the result goes to the model, the transcript and Temporal history).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { TRUNCATION_MARKER } from './sandbox';

export class MissingSecretError extends Error {
  constructor(
    readonly missing: string[],
    where: string,
  ) {
    super(`secret${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} not configured; looked in ${where}`);
    this.name = 'MissingSecretError';
  }
}

/** `AGENT_SECRET_<NAME>`: upper-cased, anything but [A-Z0-9_] replaced by '_' (so 'github-token' works from a shell). */
export function secretEnvName(name: string): string {
  return `AGENT_SECRET_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

const SecretsFileSchema = z.record(z.string(), z.string());

export interface ResolveSecretsOptions {
  env?: NodeJS.ProcessEnv;
  /** Defaults to AGENT_SECRETS_FILE, else `.data/secrets.json` under the working directory. */
  file?: string;
}

/**
 * Resolves each name from the environment first, then from the JSON secrets file (`{ "name": "value" }`).
 * Throws MissingSecretError naming every missing secret (never any value).
 */
export function resolveSecrets(names: string[], opts: ResolveSecretsOptions = {}): Record<string, string> {
  const env = opts.env ?? process.env;
  const file = path.resolve(opts.file ?? env.AGENT_SECRETS_FILE ?? '.data/secrets.json');
  const out: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of new Set(names)) {
    // The worker historically used the plain upper-cased name; accept it as well as the normalised one.
    const value = env[`AGENT_SECRET_${name.toUpperCase()}`] ?? env[secretEnvName(name)];
    if (value !== undefined) out[name] = value;
    else missing.push(name);
  }
  if (missing.length === 0) return out;
  let fromFile: Record<string, string> = {};
  if (fs.existsSync(file)) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      // Do not echo the file content: it is full of secrets.
      throw new Error(`secrets file ${file} is not valid JSON (${(err as Error).name})`);
    }
    const parsed = SecretsFileSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`secrets file ${file} must be a JSON object of string values`);
    fromFile = parsed.data;
  }
  const still: string[] = [];
  for (const name of missing) {
    if (Object.prototype.hasOwnProperty.call(fromFile, name)) out[name] = fromFile[name];
    else still.push(name);
  }
  if (still.length) {
    throw new MissingSecretError(still, `env ${still.map(secretEnvName).join(', ')} and ${file}`);
  }
  return out;
}

/** Values shorter than this are not redacted: replacing e.g. "1" everywhere would destroy the output. */
export const MIN_REDACT_LENGTH = 4;

interface Needle {
  text: string;
  name: string;
}

/**
 * The forms a value commonly takes in tool output: raw, JSON-escaped, URL-encoded, hex, and base64 /
 * base64url at each of the three byte alignments (so it is also found inside a longer base64 blob).
 */
function needles(name: string, value: string): Needle[] {
  const forms = new Set<string>([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]);
  const bytes = Buffer.from(value, 'utf8');
  forms.add(bytes.toString('hex'));
  for (let align = 0; align < 3; align++) {
    const b64 = Buffer.concat([Buffer.alloc(align), bytes]).toString('base64');
    // Drop the characters that also depend on the unknown neighbouring bytes.
    const lead = align === 0 ? 0 : align + 1;
    const tailBits = (align + bytes.length) % 3;
    const end = b64.replace(/=+$/, '').length - (tailBits === 0 ? 0 : 1);
    const core = b64.slice(lead, end);
    if (core.length >= 8) {
      forms.add(core);
      forms.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return [...forms].filter((f) => f.length >= MIN_REDACT_LENGTH).map((text) => ({ text, name }));
}

/**
 * Replaces every occurrence of every secret value (and its encoded forms) with `[REDACTED:<name>]`.
 * Where output was cut (end of text, or just before a sandbox truncation marker) a trailing *prefix* of
 * a secret is redacted too, so truncation cannot leak the first half of a key.
 */
export function redactSecrets(text: string, secrets: Readonly<Record<string, string>>): string {
  const all: Needle[] = [];
  for (const [name, value] of Object.entries(secrets)) {
    if (typeof value === 'string' && value.length >= MIN_REDACT_LENGTH) all.push(...needles(name, value));
  }
  if (all.length === 0 || !text) return text;
  // Longest first, so a JSON-escaped form is not half-replaced by a shorter raw form.
  all.sort((a, b) => b.text.length - a.text.length);
  let out = text;
  for (const n of all) if (out.includes(n.text)) out = out.split(n.text).join(`[REDACTED:${n.name}]`);

  const redactTail = (s: string): string => {
    for (const n of all) {
      for (let k = n.text.length - 1; k >= MIN_REDACT_LENGTH; k--) {
        if (s.endsWith(n.text.slice(0, k))) return `${s.slice(0, s.length - k)}[REDACTED:${n.name}]`;
      }
    }
    return s;
  };
  const cut = out.indexOf(`\n${TRUNCATION_MARKER}`);
  if (cut >= 0) out = redactTail(out.slice(0, cut)) + out.slice(cut);
  else out = redactTail(out);
  return out;
}

/** Applies `redactSecrets` to every string in a JSON-able value (keys included). */
export function redactDeep<T>(value: T, secrets: Readonly<Record<string, string>>): T {
  if (Object.keys(secrets).length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redactSecrets(v, secrets);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [redactSecrets(k, secrets), walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}
