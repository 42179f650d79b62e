/** Host-side workspace file operations: behaviour and containment. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FILE_LIMITS, listWorkspaceFiles, readWorkspaceFile, workspacePathComponents, writeWorkspaceFile } from '../../sandbox/files';
import { runSandboxed, SANDBOX_UID } from '../../sandbox/sandbox';
import { finalCgroupCheck, makeTempRoot } from './helpers';

const tmp = makeTempRoot('files');
const ws = tmp.workspace('ws');

afterAll(async () => {
  expect(await finalCgroupCheck()).toEqual([]);
  tmp.cleanup();
});

test('write then read round-trips text; new files and directories belong to the sandbox uid', async () => {
  const w = await writeWorkspaceFile(ws, 'dir/sub/hello.txt', 'héllo\n');
  expect(w).toEqual({ path: 'dir/sub/hello.txt', bytes: 7, created: true });
  const r = await readWorkspaceFile(ws, 'dir/sub/hello.txt');
  expect(r).toMatchObject({ path: 'dir/sub/hello.txt', content: 'héllo\n', encoding: 'utf8', size: 7, truncated: false, binary: false });
  expect(fs.statSync(path.join(ws, 'dir/sub/hello.txt')).uid).toBe(SANDBOX_UID);
  expect(fs.statSync(path.join(ws, 'dir/sub')).uid).toBe(SANDBOX_UID);
  // ... so the sandbox can modify what the host wrote.
  const s = await runSandboxed({ workspaceDir: ws, argv: ['/bin/sh', '-c', 'echo more >> dir/sub/hello.txt && mkdir dir/sub/x && cat dir/sub/hello.txt'], network: 'none' });
  expect(s.stdout).toBe('héllo\nmore\n');
  expect((await writeWorkspaceFile(ws, 'dir/sub/hello.txt', 'over')).created).toBe(false);
  expect((await readWorkspaceFile(ws, 'dir/sub/hello.txt')).content).toBe('over');
});

test('/workspace/ prefixed paths are accepted as the sandbox spells them', async () => {
  await writeWorkspaceFile(ws, '/workspace/abs.txt', 'a');
  expect((await readWorkspaceFile(ws, 'abs.txt')).content).toBe('a');
  expect(workspacePathComponents('/workspace/./a//b/')).toEqual(['a', 'b']);
  expect(workspacePathComponents('a/./b')).toEqual(['a', 'b']);
});

test('binary content: base64 in, base64 out, flagged when read as text', async () => {
  const bytes = Buffer.from([0, 255, 1, 254, 10]);
  await writeWorkspaceFile(ws, 'bin.dat', bytes.toString('base64'), { encoding: 'base64' });
  const r64 = await readWorkspaceFile(ws, 'bin.dat', { encoding: 'base64' });
  expect(Buffer.from(r64.content, 'base64')).toEqual(bytes);
  expect(r64.binary).toBe(true);
  expect((await readWorkspaceFile(ws, 'bin.dat')).binary).toBe(true);
});

test('sizes are capped: reads are truncated, oversized writes refused', async () => {
  await writeWorkspaceFile(ws, 'big.txt', 'x'.repeat(5000));
  const r = await readWorkspaceFile(ws, 'big.txt', { maxBytes: 100 });
  expect(r).toMatchObject({ size: 5000, truncated: true });
  expect(r.content).toHaveLength(100);
  await expect(writeWorkspaceFile(ws, 'huge.txt', Buffer.alloc(FILE_LIMITS.maxWriteBytes + 1))).rejects.toMatchObject({ code: 'TOO_LARGE' });
  expect(fs.existsSync(path.join(ws, 'huge.txt'))).toBe(false);
});

test('listing: flat and recursive, symlinks reported but not followed', async () => {
  fs.symlinkSync('/etc', path.join(ws, 'etc-link'));
  const flat = await listWorkspaceFiles(ws);
  const byPath = Object.fromEntries(flat.entries.map((e) => [e.path, e.type]));
  expect(byPath).toMatchObject({ dir: 'directory', 'abs.txt': 'file', 'etc-link': 'symlink' });
  expect(flat.entries.some((e) => e.path.startsWith('etc-link/'))).toBe(false);
  const deep = await listWorkspaceFiles(ws, '.', { recursive: true });
  expect(deep.entries.map((e) => e.path)).toContain('dir/sub/hello.txt');
  const sub = await listWorkspaceFiles(ws, 'dir', { recursive: true });
  expect(sub.entries.map((e) => e.path)).toEqual(['dir/sub', 'dir/sub/hello.txt', 'dir/sub/x']);
  const capped = await listWorkspaceFiles(ws, '.', { recursive: true, maxEntries: 2 });
  expect(capped).toMatchObject({ truncated: true });
  expect(capped.entries).toHaveLength(2);
});

test('missing files, directories used as files and FIFOs give clear errors (and never hang)', async () => {
  await expect(readWorkspaceFile(ws, 'nope.txt')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(readWorkspaceFile(ws, 'dir')).rejects.toMatchObject({ code: 'NOT_A_FILE' });
  await expect(writeWorkspaceFile(ws, 'abs.txt/child', 'x')).rejects.toMatchObject({ code: 'NOT_A_DIRECTORY' });
  execFileSync('mkfifo', [path.join(ws, 'fifo')]);
  await expect(readWorkspaceFile(ws, 'fifo')).rejects.toMatchObject({ code: 'NOT_A_FILE' });
  await expect(writeWorkspaceFile(ws, 'fifo', 'x')).rejects.toMatchObject({ code: 'NOT_A_FILE' });
});

test('invalid paths are refused', () => {
  expect(() => workspacePathComponents('a\0b')).toThrow(/NUL/);
  expect(() => workspacePathComponents('..')).toThrow(/'\.\.'/);
  expect(() => workspacePathComponents('/tmp/x')).toThrow(/outside the workspace/);
  expect(() => workspacePathComponents('')).toThrow();
});

test('a refused write does not truncate its target', async () => {
  // The workspace is its own filesystem (quota.ts), so a hard link from outside cannot exist; two links
  // inside it are refused the same way.
  await writeWorkspaceFile(ws, 'precious.txt', 'keep me');
  const target = path.join(ws, 'precious.txt');
  fs.linkSync(target, path.join(ws, 'precious-link.txt'));
  await expect(writeWorkspaceFile(ws, 'precious-link.txt', '')).rejects.toMatchObject({ code: 'HARDLINK' });
  expect(fs.readFileSync(target, 'utf8')).toBe('keep me');
});

test('a symlinked workspace root is refused for writes', async () => {
  const link = path.join(tmp.root, 'ws-link');
  fs.symlinkSync(ws, link);
  await expect(writeWorkspaceFile(link, 'x.txt', 'x')).rejects.toThrow(/not a directory/);
});
