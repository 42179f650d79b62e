/** Functional behaviour of runSandboxed against real bubblewrap. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkSandbox,
  runSandboxed,
  sandboxIdle,
  sandboxMode,
  resolveLimits,
  TRUNCATION_MARKER,
  SANDBOX_UID,
  type SandboxRequest,
  _internal,
} from '../../sandbox/sandbox';
import { finalCgroupCheck, leftoverCgroups, makeTempRoot, marker, processesWithMarker, waitFor } from './helpers';

const tmp = makeTempRoot('func');
const ws = tmp.workspace('main');
const run = (argv: string[], extra: Partial<SandboxRequest> = {}) => runSandboxed({ workspaceDir: ws, argv, network: 'none', ...extra });

afterAll(async () => {
  expect(await finalCgroupCheck()).toEqual([]);
  tmp.cleanup();
});

describe('availability', () => {
  test('checkSandbox reports ok on this host and the mode defaults to bubblewrap', async () => {
    expect(await checkSandbox()).toEqual({ ok: true });
    expect(sandboxMode()).toBe('bubblewrap');
  });

  test('an unknown SANDBOX value fails closed with a clear message', () => {
    const old = process.env.SANDBOX;
    process.env.SANDBOX = 'off';
    try {
      expect(() => sandboxMode()).toThrow(/SANDBOX='off' is not a sandbox mode/);
    } finally {
      if (old === undefined) delete process.env.SANDBOX;
      else process.env.SANDBOX = old;
    }
  });

  test('SANDBOX=none runs directly on the host (explicit opt-in) and says so', async () => {
    const old = process.env.SANDBOX;
    process.env.SANDBOX = 'none';
    try {
      // Its own workspace: one created unsandboxed stays root's, and the runtime never chowns an existing folder.
      const own = tmp.workspace('none-mode');
      const r = await runSandboxed({ workspaceDir: own, argv: ['/bin/sh', '-c', 'echo "$HOME"; id -u'], network: 'none' });
      expect(r.mode).toBe('none');
      expect(r.stdout).toBe(`${own}\n${process.getuid?.()}\n`);
    } finally {
      if (old === undefined) delete process.env.SANDBOX;
      else process.env.SANDBOX = old;
    }
  });
});

describe('execution', () => {
  test('exit codes, stdout and stderr are reported separately', async () => {
    const r = await run(['/bin/bash', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r).toMatchObject({ exitCode: 7, signal: null, stdout: 'out\n', stderr: 'err\n', timedOut: false, killedReason: null, mode: 'bubblewrap' });
    expect(r.truncated).toEqual({ stdout: false, stderr: false });
    expect(r.durationMs).toBeGreaterThan(0);
  });

  test('a command that does not exist is a result, not a thrown error', async () => {
    const r = await run(['no-such-command-xyz']);
    expect(r.exitCode).not.toBe(0);
    // Started through the trampoline (setup-channel.ts): the shell's "exec: ...: not found" is the command's stderr.
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toMatch(/no-such-command-xyz: not found/);
  });

  test('stdin is delivered (string and bytes)', async () => {
    expect((await run(['cat'], { stdin: 'hello\nworld' })).stdout).toBe('hello\nworld');
    expect((await run(['wc', '-c'], { stdin: new Uint8Array(100_000) })).stdout.trim()).toBe('100000');
  });

  test('runs as the unprivileged sandbox uid in /workspace with a minimal environment', async () => {
    const r = await run(['/bin/bash', '-c', 'id -u; id -g; pwd; env | sort'], { env: { EXTRA_VAR: 'x y' } });
    const [uid, gid, cwd, ...env] = r.stdout.trim().split('\n');
    expect(Number(uid)).toBe(SANDBOX_UID);
    expect(Number(gid)).toBe(SANDBOX_UID);
    expect(cwd).toBe('/workspace');
    const names = env.map((l) => l.split('=')[0]).filter((n) => !['PWD', 'SHLVL', '_'].includes(n));
    expect(names.sort()).toEqual(['EXTRA_VAR', 'HOME', 'LANG', 'PATH', 'TMPDIR', 'USER']);
    expect(env).toContain('HOME=/workspace');
    expect(env).toContain('EXTRA_VAR=x y');
  });

  test('the workspace persists across runs and is owned by the sandbox uid on the host', async () => {
    expect((await run(['/bin/sh', '-c', 'echo 42 > data.txt'])).exitCode).toBe(0);
    expect((await run(['cat', 'data.txt'])).stdout).toBe('42\n');
    const st = fs.statSync(path.join(ws, 'data.txt'));
    expect(st.uid).toBe(SANDBOX_UID);
    expect(fs.statSync(ws).uid).toBe(SANDBOX_UID);
  });

  test('the workspace is created if missing, and python3 and node are available', async () => {
    const fresh = tmp.workspace();
    const r = await runSandboxed({ workspaceDir: fresh, argv: ['/bin/sh', '-c', 'python3 -c "print(6*7)" && node -e "console.log(6*7)"'], network: 'none' });
    expect(r.stdout).toBe('42\n42\n');
    expect(fs.statSync(fresh).isDirectory()).toBe(true);
  });

  test('a workspace the sandbox uid cannot reach is a clear setup error, not a command failure', async () => {
    const closed = path.join(tmp.root, 'closed');
    fs.mkdirSync(closed, { mode: 0o700 });
    await expect(runSandboxed({ workspaceDir: path.join(closed, 'ws'), argv: ['true'], network: 'none' })).rejects.toThrow(
      /sandbox unavailable: bubblewrap failed to set up the sandbox: bwrap: Can't find source path .*Fix: make every parent directory of the workspace traversable/s,
    );
  });

  test('/tmp is private to each run', async () => {
    await run(['/bin/sh', '-c', 'echo x > /tmp/left-behind']);
    expect((await run(['/bin/sh', '-c', 'ls /tmp | wc -l'])).stdout.trim()).toBe('0');
  });
});

describe('output', () => {
  test('long output is truncated with a clear marker and the byte counts', async () => {
    const r = await run(['/bin/sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" a; head -c 5000 /dev/zero | tr "\\0" b >&2'], { limits: { outputBytes: 4096 } });
    expect(r.truncated).toEqual({ stdout: true, stderr: true });
    expect(r.stdout.startsWith('a'.repeat(4096) + '\n' + TRUNCATION_MARKER)).toBe(true);
    expect(r.stdout).toContain('first 4096 bytes; 100000 bytes total');
    expect(r.stderr).toContain('5000 bytes total');
    expect(r.killedReason).toBeNull();
  });

  test('truncation never splits a UTF-8 character (so text is not mistaken for binary)', async () => {
    const r = await run(['python3', '-c', 'print("é" * 5000)'], { limits: { outputBytes: 1001 } });
    expect(r.truncated.stdout).toBe(true);
    expect(r.binary.stdout).toBe(false);
    expect(r.stdout.split('\n')[0]).toBe('é'.repeat(500));
  });

  test('binary output is decoded with U+FFFD replacements and flagged', async () => {
    const r = await run(['/bin/sh', '-c', 'printf "\\377\\376ok\\000"']);
    expect(r.binary).toEqual({ stdout: true, stderr: false });
    expect(r.stdout).toBe('\uFFFD\uFFFDok\u0000');
  });
});

describe('limits and termination', () => {
  test('the wall-clock timeout kills the whole tree, background processes included', async () => {
    const mark = marker('timeout');
    const started = Date.now();
    const r = await run(['/bin/bash', '-c', `(exec -a ${mark} sleep 1000 &); exec -a ${mark} sleep 1000`], { limits: { timeoutMs: 700 } });
    expect(r.timedOut).toBe(true);
    expect(r.killedReason).toBe('timeout');
    expect(r.exitCode).toBeNull();
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await waitFor(() => processesWithMarker(mark).length === 0, 3000)).toBe(true);
  });

  test('an AbortSignal cancels the run and kills the tree', async () => {
    const mark = marker('cancel');
    const ac = new AbortController();
    const p = run(['/bin/bash', '-c', `touch cancel-ready; exec -a ${mark} sleep 1000`], { signal: ac.signal });
    expect(await waitFor(() => fs.existsSync(path.join(ws, 'cancel-ready')), 10_000)).toBe(true);
    ac.abort();
    const r = await p;
    expect(r.killedReason).toBe('cancelled');
    expect(r.timedOut).toBe(false);
    expect(await waitFor(() => processesWithMarker(mark).length === 0, 3000)).toBe(true);
  });

  test('an already-aborted signal does not start anything', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await run(['/bin/sh', '-c', 'touch should-not-exist'], { signal: ac.signal });
    expect(r.killedReason).toBe('cancelled');
    expect(fs.existsSync(path.join(ws, 'should-not-exist'))).toBe(false);
  });

  test.each(['dash', 'prlimit'] as const)('rlimits are applied inside the sandbox (set with %s)', async (tool) => {
    _internal.useRlimitTool(tool);
    try {
      const r = await run(['cat', '/proc/self/limits'], { limits: { cpuSeconds: 7, fileSizeBytes: 1_048_576, openFiles: 99, maxProcesses: 20 } });
      expect(r.stdout).toMatch(/Max cpu time\s+7\s+8\s+seconds/);
      expect(r.stdout).toMatch(/Max file size\s+1048576\s+1048576\s+bytes/);
      expect(r.stdout).toMatch(/Max open files\s+99\s+99\s+files/);
      expect(r.stdout).toMatch(/Max core file size\s+0\s+0/);
      // pids.max is the per-run limit; RLIMIT_NPROC (per uid, shared by all runs) is left as the worker's.
      const own = /Max processes\s+(\S+)\s+(\S+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
      expect(r.stdout).toMatch(new RegExp(`Max processes\\s+${own?.[1]}\\s+${own?.[2]}`));
    } finally {
      _internal.useRlimitTool('dash');
    }
  });

  test('CPU seconds: a busy loop gets SIGXCPU and is reported as cpu', async () => {
    const r = await run(['python3', '-c', 'while True: pass'], { limits: { cpuSeconds: 1 } });
    expect(r.killedReason).toBe('cpu');
    expect(r.exitCode).toBe(128 + 24);
  });

  test('memory: the run is OOM-killed at the cgroup limit', async () => {
    const r = await run(['python3', '-c', 'a = []\nwhile True: a.append(bytearray(10**7))'], { limits: { memoryBytes: 64 * 1024 * 1024 } });
    expect(r.killedReason).toBe('memory');
    expect(r.exitCode).toBe(137);
  });

  test('memory without a writable memory cgroup: RLIMIT_DATA bounds each process instead (degraded mode, opted in)', async () => {
    _internal.hideControllers(['memory']);
    process.env.SANDBOX_ALLOW_DEGRADED = 'cgroups';
    try {
      expect(sandboxMode()).toBe('bubblewrap-degraded(no-cgroups)');
      const r = await run(['python3', '-c', 'a = []\nwhile True: a.append(bytearray(10**7))'], { limits: { memoryBytes: 64 * 1024 * 1024 } });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/MemoryError/);
      expect((await run(['cat', '/proc/self/limits'], { limits: { memoryBytes: 64 * 1024 * 1024 } })).stdout).toMatch(/Max data size\s+67108864\s+67108864/);
    } finally {
      delete process.env.SANDBOX_ALLOW_DEGRADED;
      _internal.hideControllers(null);
    }
  });

  test('file size: writing past RLIMIT_FSIZE fails', async () => {
    const r = await run(['/bin/sh', '-c', 'head -c 3000000 /dev/zero > big.bin'], { limits: { fileSizeBytes: 1_000_000 } });
    expect(r.exitCode).not.toBe(0);
    expect(fs.statSync(path.join(ws, 'big.bin')).size).toBeLessThanOrEqual(1_000_000);
    fs.rmSync(path.join(ws, 'big.bin'));
  });

  test('open files: RLIMIT_NOFILE is enforced', async () => {
    const r = await run(['python3', '-c', 'fs=[open("/dev/null") for _ in range(100)]'], { limits: { openFiles: 32 } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/Too many open files/);
  });

  test('processes: pids.max stops a run from creating more tasks', async () => {
    const r = await run(['python3', '-c', 'import os,time\nn=0\ntry:\n  for _ in range(100):\n    if os.fork()==0: time.sleep(5); os._exit(0)\n    n+=1\nexcept OSError as e: print("blocked", n, e.errno)'], {
      limits: { maxProcesses: 20, timeoutMs: 20_000 },
    });
    expect(r.stdout).toMatch(/^blocked \d+ 11$/m); // EAGAIN
    expect(Number(r.stdout.split(' ')[1])).toBeLessThan(20);
  });

  test('cpus: an explicit CPU bandwidth limit throttles the whole run', async () => {
    const code = [
      'import os, time',
      'pids = []',
      'for _ in range(2):',
      '    pid = os.fork()',
      '    if pid == 0:',
      '        end = time.time() + 1.5',
      '        while time.time() < end: pass',
      '        os._exit(0)',
      '    pids.append(pid)',
      'for p in pids: os.waitpid(p, 0)',
      't = os.times()',
      'print(round(t.children_user + t.children_system, 2))',
    ].join('\n');
    const r = await run(['python3', '-c', code], { limits: { cpus: 0.2 } });
    // Two busy processes for 1.5 s of wall time get ~0.3 s of CPU at 0.2 cores (vs up to 3 s unthrottled).
    expect(Number(r.stdout)).toBeLessThan(0.8);
  });

  test('/tmp size is capped', async () => {
    const r = await run(['/bin/sh', '-c', 'head -c 20000000 /dev/zero > /tmp/fill'], { limits: { tmpBytes: 4 * 1024 * 1024 } });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/No space left on device/);
  });

  test('limits are validated at the boundary', async () => {
    await expect(run(['true'], { limits: { timeoutMs: -1 } })).rejects.toThrow(/invalid sandbox request/);
    expect(() => resolveLimits({ memoryBytes: 10 })).toThrow();
    expect(resolveLimits({ cpus: 2 }).cpus).toBe(2);
    expect(resolveLimits().cpus).toBe(0);
  });

  test('network modes other than none are rejected for now', async () => {
    await expect(runSandboxed({ workspaceDir: ws, argv: ['true'], network: { mode: 'allowlist', allow: ['example.com'] } })).rejects.toThrow(/only 'none'/);
    expect((await runSandboxed({ workspaceDir: ws, argv: ['true'], network: { mode: 'none' } })).exitCode).toBe(0);
  });

  test('concurrent runs are independent and every run removes its cgroups', async () => {
    const results = await Promise.all([1, 2, 3, 4].map((i) => run(['/bin/sh', '-c', `sleep 0.2; echo ${i}`])));
    expect(results.map((r) => r.stdout)).toEqual(['1\n', '2\n', '3\n', '4\n']);
    await sandboxIdle();
    expect(leftoverCgroups()).toEqual([]);
  });
});
