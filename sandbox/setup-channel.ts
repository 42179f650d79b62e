/**
 * The setup channel: how the host learns that a sandbox could not be set up, without ever looking at
 * what the command printed or how it exited.
 *
 * Layout of the spawned chain's descriptors:
 *   fd 1  the command's stdout
 *   fd 2  the SETUP CHANNEL: stderr of the wrapper, setpriv and bwrap (their diagnostics go here)
 *   fd 5  the command's stderr (held by the chain, handed to the command as its fd 2 at the last step)
 *
 * The last step before the command is a tiny trampoline inside the sandbox (after every namespace,
 * mount, rlimit and the seccomp filter are in place). It writes STARTED to the channel, then moves fd 5
 * onto fd 2 and closes 5, then execs the command. So:
 * - the command never holds the channel (it cannot write to it, let alone before STARTED);
 * - "setup failed" means exactly "STARTED never arrived and we did not kill the run ourselves", and
 *   the error text is what the chain wrote before STARTED: never the command's output, whatever the
 *   command prints and whatever code it exits with (`bwrap: $SECRET` + exit 1 is just a result).
 */

/** Descriptor of the command's stderr until the trampoline moves it to 2. */
export const FD_CMD_STDERR = 5;

/** Written by the trampoline once setup is complete. NUL-delimited so no diagnostic line can contain it by accident. */
export const STARTED = '\0agent-sandbox-started\0';

/** Most bytes of setup diagnostics kept for the error message (bwrap's messages are one line). */
const MAX_DIAGNOSTIC_BYTES = 2048;

/**
 * Shell text (POSIX sh) that ends a chain: announce STARTED on the channel, give the command its real
 * stderr, close every other descriptor of the chain, exec the command ("$@").
 */
export const TRAMPOLINE = `printf '\\000agent-sandbox-started\\000' >&2; exec 2>&${FD_CMD_STDERR} ${FD_CMD_STDERR}>&- 3>&- 4>&-; exec "$@"`;

/** Collects the channel. Only what arrives before STARTED is kept; anything after it is dropped unread. */
export class SetupChannel {
  private buf = Buffer.alloc(0);
  private seen = false;
  private dropped = 0;

  push(chunk: Buffer): void {
    if (this.seen) return;
    this.buf = Buffer.concat([this.buf, chunk]);
    const at = this.buf.indexOf(STARTED);
    if (at >= 0) {
      this.seen = true;
      this.buf = this.buf.subarray(0, at);
    }
    // Keep the tail long enough to find a STARTED split across chunks, but bounded.
    const keep = MAX_DIAGNOSTIC_BYTES + STARTED.length;
    if (!this.seen && this.buf.length > keep) {
      this.dropped += this.buf.length - keep;
      this.buf = Buffer.concat([this.buf.subarray(0, MAX_DIAGNOSTIC_BYTES), this.buf.subarray(this.buf.length - STARTED.length)]);
    }
  }

  /** The command was started (setup completed). */
  get started(): boolean {
    return this.seen;
  }

  /** The chain's diagnostics (text before STARTED), bounded, printable. */
  diagnostic(): string {
    let text = this.buf.subarray(0, MAX_DIAGNOSTIC_BYTES).toString('utf8');
    // Control characters are not for error messages (and could fake line structure in logs).
    text = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?').trim();
    if (this.dropped > 0 || this.buf.length > MAX_DIAGNOSTIC_BYTES) text += ' [diagnostics truncated]';
    return text;
  }
}
