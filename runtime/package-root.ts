/** Where this package's own files live, from source (repository) or from dist/ (installed package). */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The folder holding this package's package.json: scripts shipped next to the code are found from here. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'agent-runtime') return dir;
      } catch {
        // not ours (or unreadable): keep walking up
      }
    }
    if (path.dirname(dir) === dir) throw new Error(`agent-runtime: no package.json of agent-runtime above ${from}`);
  }
}
