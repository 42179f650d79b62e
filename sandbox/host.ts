/**
 * The host side of a sandbox: which binaries exist (fixed system paths only), the merged-/usr layout,
 * the prepared read-only /etc, and the environments the wrapper and the command see. Computed once.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SANDBOX_GID, SANDBOX_UID } from './types';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Fixed system directories only: the worker's PATH is not trusted to pick the sandbox binary. */
export function findExecutable(name: string): string | null {
  for (const d of ['/usr/bin', '/usr/local/bin', '/bin', '/usr/sbin', '/sbin']) {
    const p = path.join(d, name);
    if (isExecutable(p)) return p;
  }
  return null;
}


export interface HostPaths {
  bwrap: string | null;
  setpriv: string | null;
  prlimit: string | null;
  /** dash, for rlimits as shell builtins (see wrapperArgs); null means use prlimit. */
  dash: string | null;
  /** Top-level entries that are symlinks into /usr on merged-/usr systems (else bound read-only). */
  rootLinks: Array<{ name: string; target: string }>;
  rootDirs: string[];
}

let hostPaths: HostPaths | undefined;

/**
 * What the sandbox's /etc holds: the dynamic linker cache, the /usr/bin -> /etc/alternatives symlink
 * targets, the timezone and the CA certificates, plus stub passwd/group/hosts. Nothing with credentials
 * or host identity (shadow, npmrc, pip.conf, ssh, machine-id, resolv.conf).
 */
const ETC_COPY = ['ld.so.cache', 'alternatives', 'localtime', 'ssl/certs'];

export function paths(): HostPaths {
  if (hostPaths) return hostPaths;
  const rootLinks: HostPaths['rootLinks'] = [];
  const rootDirs: string[] = [];
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    try {
      const st = fs.lstatSync(`/${name}`);
      if (st.isSymbolicLink()) {
        const target = fs.readlinkSync(`/${name}`);
        // Only symlinks into /usr are recreated; anything else is not needed and not exposed.
        if (/^(\/?usr\/)[\w.-]+$/.test(target)) rootLinks.push({ name, target });
      } else if (st.isDirectory()) {
        rootDirs.push(`/${name}`);
      }
    } catch {
      // not present on this host
    }
  }
  // AGENT_SANDBOX_BWRAP points at a bwrap elsewhere (or a broken one, to test the failure path).
  const bwrapOverride = process.env.AGENT_SANDBOX_BWRAP;
  hostPaths = {
    bwrap: bwrapOverride ? (isExecutable(bwrapOverride) ? bwrapOverride : null) : findExecutable('bwrap'),
    setpriv: findExecutable('setpriv'),
    prlimit: findExecutable('prlimit'),
    dash: findExecutable('dash'),
    rootLinks,
    rootDirs,
  };
  return hostPaths;
}

// Stub identity files: tools such as `id`, `whoami`, python's getpass and ssh want a passwd entry.
const PASSWD = `root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nsandbox:x:${SANDBOX_UID}:${SANDBOX_GID}:sandbox:/workspace:/bin/bash\n`;
const GROUP = `root:x:0:\nsandbox:x:${SANDBOX_GID}:\n`;
const HOSTS = '127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost\n';
/** Extra fds of the wrapper: the seccomp program (--seccomp) and bwrap's options (--args). */
export const FD_SECCOMP = 3;
export const FD_ARGS = 4;
const ETC_LAYOUT_VERSION = '1';

let etcDir: string | undefined;

/**
 * The sandbox's /etc, prepared once as a real directory and bound read-only with a single mount: one
 * bind costs far less per run than a bind per entry plus generated files (~2 ms less on a loaded host).
 * The name is a hash of the sources' metadata, so a package update (new ld.so.cache, alternatives,
 * certificates) yields a new directory at the next worker start, and concurrent workers share it.
 * Root-owned under /run (not world-writable /tmp, where another user could pre-plant the path).
 */
export function sandboxEtc(): string {
  if (etcDir && fs.existsSync(etcDir)) return etcDir;
  const hash = createHash('sha256').update(`${ETC_LAYOUT_VERSION}\n${PASSWD}${GROUP}${HOSTS}`);
  // Directory mtimes change when entries are added or removed (update-alternatives, update-ca-certificates).
  for (const p of [...ETC_COPY.map((e) => `/etc/${e}`), '/etc/ssl/certs/ca-certificates.crt']) {
    try {
      const st = fs.statSync(p);
      hash.update(`${p} ${st.ino} ${st.size} ${st.mtimeMs}\n`);
    } catch {
      hash.update(`${p} -\n`);
    }
  }
  const base = etcBase();
  const final = path.join(base, `etc-${hash.digest('hex').slice(0, 16)}`);
  if (!fs.existsSync(final)) {
    const tmp = fs.mkdtempSync(path.join(base, 'building-'));
    for (const e of ETC_COPY) {
      const src = `/etc/${e}`;
      if (!fs.existsSync(src)) continue;
      fs.mkdirSync(path.dirname(path.join(tmp, e)), { recursive: true });
      // Symlinks are copied as symlinks: inside the sandbox they resolve against its own /usr.
      fs.cpSync(src, path.join(tmp, e), { recursive: true, verbatimSymlinks: true, dereference: false });
    }
    fs.writeFileSync(path.join(tmp, 'passwd'), PASSWD, { mode: 0o644 });
    fs.writeFileSync(path.join(tmp, 'group'), GROUP, { mode: 0o644 });
    fs.writeFileSync(path.join(tmp, 'hosts'), HOSTS, { mode: 0o644 });
    fs.chmodSync(tmp, 0o755);
    try {
      fs.renameSync(tmp, final);
    } catch {
      // Another worker won the race: use its copy.
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  etcDir = final;
  return final;
}

/** /run/agent-sandbox when we can own it; otherwise a private temp dir for this process. */
function etcBase(): string {
  const run = '/run/agent-sandbox';
  if (isRoot) {
    try {
      fs.mkdirSync(run, { mode: 0o755 });
    } catch {
      // exists (checked below) or /run not writable
    }
    try {
      const st = fs.lstatSync(run);
      if (st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0) return run;
    } catch {
      // fall through
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-sandbox-etc-'));
  fs.chmodSync(dir, 0o755);
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The wrapper and bwrap see only this environment; the worker's env (secrets!) never reaches them. */
export const WRAPPER_ENV: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

export function sandboxEnv(extra: Record<string, string>, home: string): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    TMPDIR: '/tmp',
    USER: 'sandbox',
    ...extra,
  };
}
