/**
 * Where the shared toy models (docs/tasks.md "Toy tasks") live; the project does not ship
 * them. `resolveSharedModel(name)` is the one place that looks them up: `$CIRCUITSCOPE_SHARED/<name>` first (the variable may name the `models`
 * folder itself or the `shared` folder holding it), then `<repo root>/../shared/models/<name>`.
 * A hit is a directory with a config.json; anything else gives null. No caching: each call
 * looks at the file system again.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file with circuitscope's package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'circuitscope') return dir;
      } catch { /* not ours; keep looking */ }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  // Fallback: src/tasks -> repo root (also right for dist/src/tasks minus one level, checked above).
  return resolve(dirname(fileURLToPath(import.meta.url)), '../..');
}

/** Folders searched for shared models, in order. */
export function sharedModelDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const v = env.CIRCUITSCOPE_SHARED;
  if (v) out.push(resolve(v), resolve(v, 'models'));
  out.push(resolve(repoRoot(), '..', 'shared', 'models'));
  return out;
}

/** The directory of shared model `name` (e.g. 'permute_lists'), or null when it is not there. */
export function resolveSharedModel(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (!/^[\w.-]+$/.test(name)) return null;
  for (const base of sharedModelDirs(env)) {
    const p = join(base, name);
    if (existsSync(join(p, 'config.json'))) return p;
  }
  return null;
}
