/**
 * Trust boundary, class 2 (redaction): the encodings a hostile or careless tool run used to get a secret
 * past the redactor. Pure function tests; the end-to-end run is in secrets-e2e.test.ts.
 */
import * as zlib from 'node:zlib';
import { redactDeep, redactSecrets } from '../../sandbox/secrets';

const SECRET = 'tok-9f8e7d6c5b4a-test-secret';
const secrets = { API_TOKEN: SECRET };
const hex = Buffer.from(SECRET).toString('hex');
const rev = [...SECRET].reverse().join('');
const rot13 = SECRET.replace(/[a-z]/gi, (c) => String.fromCharCode(((c.charCodeAt(0) - (c <= 'Z' ? 65 : 97) + 13) % 26) + (c <= 'Z' ? 65 : 97)));

const forms: Array<[string, string]> = [
  ['reversed', rev],
  ['rot13', rot13],
  ['upper case', SECRET.toUpperCase()],
  ['hex, colon separated', hex.match(/../g)!.join(':')],
  ['hex, space separated (od/xxd style)', hex.match(/../g)!.join(' ')],
  ['hex, \\x escapes', hex.match(/../g)!.map((b) => `\\x${b}`).join('')],
  ['hex, 0x list', hex.match(/../g)!.map((b) => `0x${b}`).join(', ')],
  ['hex, upper case with newlines', hex.toUpperCase().match(/.{1,10}/g)!.join('\n')],
  ['decimal byte list', `[${[...Buffer.from(SECRET)].join(', ')}]`],
  ['every byte percent-encoded', [...Buffer.from(SECRET)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')],
  ['split by string concatenation', `"${SECRET.slice(0, 9)}" + "${SECRET.slice(9, 17)}" + "${SECRET.slice(17)}"`],
  ['spaced out', [...SECRET].join(' ')],
  ['gzip + base64', zlib.gzipSync(Buffer.from(`the key is ${SECRET}\n`)).toString('base64')],
  ['zlib + hex', zlib.deflateSync(Buffer.from(SECRET)).toString('hex')],
  ['base64 of base64', Buffer.from(Buffer.from(SECRET).toString('base64')).toString('base64')],
  ['base64 of the reversed value', Buffer.from(rev).toString('base64')],
];

test.each(forms)('%s is redacted', (_name, form) => {
  const out = redactSecrets(`before ${form} after`, secrets);
  expect(out).toContain('[REDACTED:API_TOKEN]');
  expect(out).not.toContain(form);
  expect(out.startsWith('before ')).toBe(true);
});

test('ordinary output around secrets is left alone', () => {
  const text = 'total 12\ndrwx------ 2 sandbox sandbox 4096 .\n-rw-r--r-- 1 sandbox sandbox 0 /usr/local/lib/python3/site-packages\n';
  expect(redactSecrets(text, secrets)).toBe(text);
  expect(redactDeep({ n: 42, s: 'deadbeefcafebabe0123456789abcdef' }, secrets)).toEqual({ n: 42, s: 'deadbeefcafebabe0123456789abcdef' });
});
