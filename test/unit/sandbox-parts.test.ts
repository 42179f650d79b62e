/**
 * Pure parts of the sandbox runner, without bubblewrap: output capture and request validation. (The
 * runner itself is tested for real in test/sandbox.)
 */
import { Capture, utf8Boundary } from '../../sandbox/capture';
import { RequestSchema, resolveLimits } from '../../sandbox/request';
import { DEFAULT_LIMITS, TRUNCATION_MARKER } from '../../sandbox/types';

test('capture keeps the first bytes, counts the rest and says so', () => {
  const cap = new Capture(5);
  cap.push(Buffer.from('hello'));
  cap.push(Buffer.from(' world'));
  const out = cap.finish('stdout', false);
  expect(out).toEqual({ text: `hello\n${TRUNCATION_MARKER}: stdout shows the first 5 bytes; 11 bytes total]`, truncated: true, binary: false });
  expect(new Capture(100).finish('stderr', false)).toEqual({ text: '', truncated: false, binary: false });
});

test('a cut never splits a UTF-8 character; invalid bytes are flagged as binary', () => {
  const euro = Buffer.from('a€'); // 1 + 3 bytes
  expect(utf8Boundary(euro.subarray(0, 3))).toBe(1);
  expect(utf8Boundary(euro)).toBe(4);
  const cap = new Capture(3);
  cap.push(euro);
  expect(cap.finish('stdout', true).text.startsWith(`a\n${TRUNCATION_MARKER}: stdout shows the first 1 bytes; at least 4 bytes, command killed as an output flood`)).toBe(true);
  const bin = new Capture(10);
  bin.push(Buffer.from([0xff, 0xfe, 0x41]));
  expect(bin.finish('stdout', false).binary).toBe(true);
});

test('limits default per field and are bounded; requests refuse NUL bytes and unknown fields', () => {
  expect(resolveLimits()).toEqual(DEFAULT_LIMITS);
  expect(resolveLimits({ timeoutMs: 5 })).toEqual({ ...DEFAULT_LIMITS, timeoutMs: 5 });
  expect(() => resolveLimits({ memoryBytes: 1024 })).toThrow();
  expect(() => resolveLimits({ maxProcesses: 2 })).toThrow();
  const ok = { workspaceDir: '/w', argv: ['true'], network: 'none' as const };
  expect(RequestSchema.safeParse(ok).success).toBe(true);
  expect(RequestSchema.safeParse({ ...ok, argv: ['a\0b'] }).success).toBe(false);
  expect(RequestSchema.safeParse({ ...ok, env: { 'BAD-NAME': 'x' } }).success).toBe(false);
  expect(RequestSchema.safeParse({ ...ok, extra: 1 }).success).toBe(false);
});
