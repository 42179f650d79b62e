/** Keeps descriptors the worker inherited without close-on-exec out of sandboxed processes. */
import * as fs from 'node:fs';

export type StdioSlot = 'pipe' | 'ignore' | number;

let leaked: number[] | undefined;
let devNull: number | undefined;

/**
 * Descriptors this process inherited without O_CLOEXEC (from whatever started the worker). libuv does
 * not close them in children, and a descriptor passes straight through every namespace: an inherited
 * socket or directory fd would be a hole in the sandbox. Read once from /proc/self/fdinfo (descriptors
 * the worker opens itself are close-on-exec: libuv, Rust and SQLite all set it).
 */
function leakedFds(): number[] {
  if (leaked) return leaked;
  const out: number[] = [];
  try {
    for (const name of fs.readdirSync('/proc/self/fd')) {
      const fd = Number(name);
      if (!(fd > 2)) continue;
      try {
        const flags = /^flags:\s+([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
        if (flags && (parseInt(flags[1], 8) & 0o2000000) === 0) out.push(fd);
      } catch {
        // the readdir's own fd, already closed
      }
    }
  } catch {
    // no /proc: nothing we can do here; bwrap still gets only what it is given explicitly
  }
  leaked = out;
  return out;
}

/** The child's stdio with every leaked descriptor number overwritten by /dev/null. */
export function guardStdio(stdio: StdioSlot[]): StdioSlot[] {
  const fds = leakedFds().filter((fd) => fd >= stdio.length || stdio[fd] === 'ignore');
  if (fds.length === 0) return stdio;
  devNull ??= fs.openSync('/dev/null', 'r');
  const out = [...stdio];
  for (const fd of fds) {
    while (out.length <= fd) out.push('ignore');
    out[fd] = devNull;
  }
  return out;
}
