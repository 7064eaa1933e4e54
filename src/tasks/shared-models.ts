/**
 * Where the shared toy models (docs/tasks.md "Toy tasks") live; the project does not ship
 * them. `resolveSharedModel(name)` is the one place that looks them up: `$CIRCUITSCOPE_SHARED/<name>` first (the variable may name the `models`
 * folder itself or the `shared` folder holding it), then `<repo root>/../shared/models/<name>`.
 * A hit is a directory with a config.json; anything else gives null. No caching: each call
 * looks at the file system again.
 *
 * The shared models exist only on a developer's disk, so this module reaches Node's fs, path
 * and url through `process.getBuiltinModule` at call time instead of importing them: the task
 * registry (which the browser app bundles) stays free of Node imports, and where there is no
 * Node (a browser, a worker) there are no shared models: every lookup gives null.
 */

/** The bits of Node's fs / path / url used here (declared, not imported: no Node import at all). */
interface NodeBits {
  fs: { existsSync(p: string): boolean; readFileSync(p: string, enc: 'utf8'): string };
  path: { dirname(p: string): string; join(...p: string[]): string; resolve(...p: string[]): string };
  url: { fileURLToPath(u: string): string };
}

/** Node's fs / path / url when running under Node (>= 20.16), else null. */
function node(): NodeBits | null {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (!p?.getBuiltinModule) return null;
  return { fs: p.getBuiltinModule('node:fs'), path: p.getBuiltinModule('node:path'), url: p.getBuiltinModule('node:url') } as NodeBits;
}

const processEnv = (): Record<string, string | undefined> => (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};

/** The repository root: the nearest folder above this file with circuitscope's package.json. */
export function repoRoot(): string {
  const n = node();
  if (!n) throw new Error('shared-models: the repository root exists only under Node');
  const { fs: { existsSync, readFileSync }, path: { dirname, join, resolve }, url: { fileURLToPath } } = n;
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

/** Folders searched for shared models, in order (none without Node). */
export function sharedModelDirs(env: Record<string, string | undefined> = processEnv()): string[] {
  const n = node();
  if (!n) return [];
  const { resolve } = n.path;
  const out: string[] = [];
  const v = env.CIRCUITSCOPE_SHARED;
  if (v) out.push(resolve(v), resolve(v, 'models'));
  out.push(resolve(repoRoot(), '..', 'shared', 'models'));
  return out;
}

/** The directory of shared model `name` (e.g. 'permute_lists'), or null when it is not there. */
export function resolveSharedModel(name: string, env: Record<string, string | undefined> = processEnv()): string | null {
  const n = node();
  if (!n || !/^[\w.-]+$/.test(name)) return null;
  for (const base of sharedModelDirs(env)) {
    const p = n.path.join(base, name);
    if (n.fs.existsSync(n.path.join(p, 'config.json'))) return p;
  }
  return null;
}

/**
 * The text of `file` in shared model `name`'s folder, with the path it was read from; null when
 * the model or the file is not there. Other read errors are thrown.
 */
export function readSharedModelFile(name: string, file: string, env: Record<string, string | undefined> = processEnv()): { text: string; path: string } | null {
  const base = resolveSharedModel(name, env);
  const n = node();
  if (!base || !n) return null;
  const path = n.path.join(base, file);
  try {
    return { text: n.fs.readFileSync(path, 'utf8'), path };
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return null;
    throw e;
  }
}
