/** Bounded capture of a run's output streams, cut on a UTF-8 boundary, flagged when binary. */
import { TRUNCATION_MARKER } from './types';

export class Capture {
  private readonly chunks: Buffer[] = [];
  captured = 0;
  total = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.limit - this.captured;
    if (room <= 0) return;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(part);
    this.captured += part.length;
  }
  finish(name: 'stdout' | 'stderr', floodKilled: boolean): { text: string; truncated: boolean; binary: boolean } {
    let buf = Buffer.concat(this.chunks);
    const truncated = this.total > this.captured;
    if (truncated) buf = buf.subarray(0, utf8Boundary(buf));
    let text: string;
    let binary = false;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
    } catch {
      binary = true;
      text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(buf);
    }
    if (truncated) {
      const total = floodKilled ? `at least ${this.total} bytes, command killed as an output flood` : `${this.total} bytes total`;
      text += `\n${TRUNCATION_MARKER}: ${name} shows the first ${buf.length} bytes; ${total}]`;
    }
    return { text, truncated, binary };
  }
}

/** Length of `buf` without a trailing incomplete UTF-8 sequence (so a cut does not look like binary). */
export function utf8Boundary(buf: Buffer): number {
  for (let back = 1; back <= Math.min(4, buf.length); back++) {
    const b = buf[buf.length - back];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? buf.length - back : buf.length;
  }
  return buf.length;
}
