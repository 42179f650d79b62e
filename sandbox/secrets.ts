/**
 * Secrets for tools: resolved on the worker at run time, handed to a tool in `ctx.secrets`, and scrubbed
 * from anything a tool returns (the result goes to the model, the transcript and Temporal history).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
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
/** Fuzzy forms (separators between bytes/characters) only for values at least this long: fewer false hits. */
const MIN_FUZZY_LENGTH = 8;
/** Decoded/decompressed blobs are inspected up to this size (a zip bomb must not stall the worker). */
const MAX_DECODED_BYTES = 1024 * 1024;

interface Needle {
  text: string;
  name: string;
}

interface Pattern {
  re: RegExp;
  name: string;
}

const rot13 = (s: string): string =>
  s.replace(/[a-zA-Z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - (c <= 'Z' ? 65 : 97) + 13) % 26) + (c <= 'Z' ? 65 : 97)));
const reverse = (s: string): string => [...s].reverse().join('');
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/**
 * The exact forms a value commonly takes in tool output: raw, reversed, upper/lower case, rot13,
 * JSON-escaped, URL-encoded (also every byte as %XX), hex (both cases, and of the reversed value), and base64 / base64url at each
 * of the three byte alignments (so it is also found inside a longer base64 blob).
 */
function needles(name: string, value: string): Needle[] {
  const bytes = Buffer.from(value, 'utf8');
  const forms = new Set<string>([
    value,
    reverse(value),
    value.toUpperCase(),
    value.toLowerCase(),
    rot13(value),
    JSON.stringify(value).slice(1, -1),
    encodeURIComponent(value),
    [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
    [...bytes].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join(''),
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    Buffer.from(reverse(value), 'utf8').toString('hex'),
  ]);
  for (const src of [bytes, Buffer.from(reverse(value), 'utf8')]) {
    for (let align = 0; align < 3; align++) {
      const b64 = Buffer.concat([Buffer.alloc(align), src]).toString('base64');
      // Drop the characters that also depend on the unknown neighbouring bytes.
      const lead = align === 0 ? 0 : align + 1;
      const tailBits = (align + src.length) % 3;
      const end = b64.replace(/=+$/, '').length - (tailBits === 0 ? 0 : 1);
      const core = b64.slice(lead, end);
      if (core.length >= 8) {
        forms.add(core);
        forms.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
      }
    }
  }
  return [...forms].filter((f) => f.length >= MIN_REDACT_LENGTH).map((text) => ({ text, name }));
}

/**
 * Forms with separators: hex bytes (of the value or reversed) split by anything that is not a hex digit (`de:ad`, `\xde\xad`,
 * `0xde, 0xad`), decimal byte lists (`[116, 111, 107]`), and the raw or reversed value with up to five
 * spacing/quoting characters between characters (`t o k`, `"tok" + "en"`), any case.
 */
function patterns(name: string, value: string): Pattern[] {
  if (value.length < MIN_FUZZY_LENGTH) return [];
  const bytes = [...Buffer.from(value, 'utf8')];
  const hexSep = '(?:0x|[^0-9A-Fa-f]){0,4}';
  const charSep = '[\\s\'"`+,.|]{0,5}';
  const spaced = (s: string): string => [...s].map(escapeRe).join(charSep);
  const hexOf = (bs: number[]): string => bs.map((b) => b.toString(16).padStart(2, '0')).join(hexSep);
  return [
    new RegExp(hexOf(bytes), 'gi'),
    new RegExp(hexOf([...Buffer.from(reverse(value), 'utf8')]), 'gi'),
    new RegExp(`(?<!\\d)${bytes.map(String).join('\\D{1,4}')}(?!\\d)`, 'g'),
    new RegExp(spaced(value), 'gi'),
    new RegExp(spaced(reverse(value)), 'gi'),
  ].map((re) => ({ re, name }));
}

/** Does this decoded blob carry a secret (raw, reversed or hex), possibly gzip/zlib-compressed or base64 again? */
function blobCarries(buf: Buffer, values: Array<[string, string]>, depth: number): string | undefined {
  const text = buf.toString('latin1');
  for (const [name, value] of values) {
    const raw = Buffer.from(value, 'utf8').toString('latin1');
    if (text.includes(raw) || text.includes(reverse(raw)) || text.toLowerCase().includes(Buffer.from(value).toString('hex'))) return name;
  }
  if (depth <= 0) return undefined;
  if (buf.length >= 2 && ((buf[0] === 0x1f && buf[1] === 0x8b) || (buf[0] === 0x78 && [0x01, 0x5e, 0x9c, 0xda].includes(buf[1])))) {
    try {
      const inflated = buf[0] === 0x1f ? zlib.gunzipSync(buf, { maxOutputLength: MAX_DECODED_BYTES }) : zlib.inflateSync(buf, { maxOutputLength: MAX_DECODED_BYTES });
      return blobCarries(inflated, values, depth - 1);
    } catch {
      return undefined; // not really compressed, or larger than we inspect
    }
  }
  const inner = /^[A-Za-z0-9+/_=\s-]{16,}$/.test(text) ? Buffer.from(text.replace(/\s+/g, ''), 'base64') : undefined;
  return inner && inner.length ? blobCarries(inner, values, depth - 1) : undefined;
}

/**
 * Replaces every occurrence of every secret value (and its encoded forms) with `[REDACTED:<name>]`.
 * Base64 and hex blobs are also decoded (and gunzipped/inflated) and replaced whole when they carry a
 * secret. Where output was cut (end of text, or just before a sandbox truncation marker) a trailing
 * *prefix* of a secret is redacted too, so truncation cannot leak the first half of a key.
 *
 * This is a best effort against accidental and simply-encoded leaks, not a guarantee against code that
 * sets out to exfiltrate a value it holds (encryption, arbitrary transforms, one character per call):
 * the guarantee is that sandboxed code is never given a secret (see README, "Secrets").
 */
export function redactSecrets(text: string, secrets: Readonly<Record<string, string>>): string {
  const all: Needle[] = [];
  const fuzzy: Pattern[] = [];
  const values: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(secrets)) {
    if (typeof value === 'string' && value.length >= MIN_REDACT_LENGTH) {
      all.push(...needles(name, value));
      fuzzy.push(...patterns(name, value));
      values.push([name, value]);
    }
  }
  if (all.length === 0 || !text) return text;
  let out = text;
  // Whole blobs first, while they are intact: base64/base64url and hex runs that decode to a secret.
  out = out.replace(/[A-Za-z0-9+/_-]{16,}={0,2}/g, (blob) => {
    // A blob may be glued to a neighbour (`\nH4sI...` in JSON text, `key=` is not): try a few starts.
    for (let k = 0; k < 4; k++) {
      const b = blob.slice(k);
      const candidates = /^[0-9a-fA-F]+$/.test(b) && b.length % 2 === 0 ? [Buffer.from(b, 'hex'), Buffer.from(b, 'base64')] : [Buffer.from(b, 'base64')];
      for (const buf of candidates) {
        const hit = blobCarries(buf, values, 2);
        if (hit) return `${blob.slice(0, k)}[REDACTED:${hit}]`;
      }
    }
    return blob;
  });
  // Longest first, so a JSON-escaped form is not half-replaced by a shorter raw form.
  all.sort((a, b) => b.text.length - a.text.length);
  for (const n of all) if (out.includes(n.text)) out = out.split(n.text).join(`[REDACTED:${n.name}]`);
  for (const p of fuzzy) out = out.replace(p.re, `[REDACTED:${p.name}]`);

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
