/**
 * A small seccomp-BPF deny list handed to bubblewrap (`--seccomp FD`). It is defence in depth on top of
 * the namespaces: the sandbox already has no capabilities and no user namespaces, so most of these calls
 * would fail anyway; the filter removes kernel attack surface (io_uring, bpf, userfaultfd, keyctl,
 * perf_event_open) and closes terminal injection (TIOCSTI/TIOCLINUX) even if a terminal ever leaked in.
 *
 * Only x86_64 syscall numbers are encoded (the only architecture this was tested on); on any other
 * architecture `seccompProgram()` returns null, and runs are refused unless the operator allows the
 * degraded mode (SANDBOX_ALLOW_DEGRADED=seccomp, see protections.ts).
 */

// Classic BPF opcodes (linux/filter.h) and seccomp constants (linux/seccomp.h, linux/audit.h).
const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;

// Offsets into struct seccomp_data { u32 nr; u32 arch; u64 ip; u64 args[6]; } (little endian).
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG1_LOW = 16 + 8 + 0;

const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

/** x86_64 numbers of the denied syscalls (arch/x86/entry/syscalls/syscall_64.tbl). */
const DENIED_X86_64: Record<string, number> = {
  ptrace: 101,
  syslog: 103,
  vhangup: 153,
  pivot_root: 155,
  acct: 163,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  init_module: 175,
  delete_module: 176,
  quotactl: 179,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
};
const IOCTL_X86_64 = 16;

type Insn = [code: number, jt: number, jf: number, k: number];

/** Names of the syscalls the filter denies with EPERM (exported for documentation and tests). */
export const DENIED_SYSCALLS: readonly string[] = Object.keys(DENIED_X86_64);

let cached: Buffer | null | undefined;
let archOverride: string | null = null;

/** Tests: behave as on another architecture (null: the real one). */
export function setSeccompArchForTest(arch: string | null): void {
  archOverride = arch;
  cached = undefined;
}

/** Why there is no filter on this architecture, or null when there is one. */
export function seccompUnsupportedReason(): string | null {
  const arch = archOverride ?? process.arch;
  return arch === 'x64' ? null : `the seccomp filter has syscall numbers for x86_64 only; this is ${arch}`;
}

/** The compiled filter (struct sock_filter[]), or null when the architecture is not supported. */
export function seccompProgram(): Buffer | null {
  if (cached !== undefined) return cached;
  if ((archOverride ?? process.arch) !== 'x64') {
    cached = null;
    return cached;
  }
  const deny = SECCOMP_RET_ERRNO | EPERM;
  const prog: Insn[] = [
    // Any other ABI (i386 via int 0x80) has a different numbering: kill rather than mis-filter.
    [BPF_LD_W_ABS, 0, 0, OFF_ARCH],
    [BPF_JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64],
    [BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS],
    [BPF_LD_W_ABS, 0, 0, OFF_NR],
    // x32 syscalls alias the x86_64 ones with bit 30 set; nothing in the sandbox needs them.
    [BPF_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT],
    [BPF_RET_K, 0, 0, deny],
  ];
  for (const nr of Object.values(DENIED_X86_64)) {
    prog.push([BPF_JMP_JEQ_K, 0, 1, nr], [BPF_RET_K, 0, 0, deny]);
  }
  // ioctl: the kernel reads `cmd` as an unsigned int, so only the low 32 bits of args[1] matter.
  prog.push(
    [BPF_JMP_JEQ_K, 0, 5, IOCTL_X86_64],
    [BPF_LD_W_ABS, 0, 0, OFF_ARG1_LOW],
    [BPF_JMP_JEQ_K, 2, 0, TIOCSTI],
    [BPF_JMP_JEQ_K, 1, 0, TIOCLINUX],
    [BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW],
    [BPF_RET_K, 0, 0, deny],
    [BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW],
  );
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    buf.writeUInt16LE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    buf.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  cached = buf;
  return cached;
}
