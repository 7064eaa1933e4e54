/**
 * Output files of every command, so nothing a user had is lost or clobbered:
 *
 * 1. `checkOutputs` before any compute: each output path is writable (its folder exists or
 *    can be made, an existing file can be replaced), no output is also an input, no two
 *    outputs are the same file. One line names the option and the path.
 * 2. `writeOutputs` after it: every file is first written beside its target as a temporary
 *    file, and only when all of them are written are they renamed into place, so a failure
 *    leaves every earlier output as it was (and removes the temporaries).
 */
import { accessSync, constants, existsSync, mkdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface PathArg { /** the option that named it, e.g. '--out' ('' for a derived path) */ flag: string; path: string }

/** A path as the file system sees it (following links where it exists). */
function canonical(path: string): string {
  const abs = resolve(path);
  try { return realpathSync(abs); } catch { /* not there yet */ }
  try { return resolve(realpathSync(dirname(abs)), abs.slice(dirname(abs).length + 1)); } catch { return abs; }
}

const named = (p: PathArg) => (p.flag ? `${p.flag} ${p.path}` : p.path);

/** Why `path` cannot be written, or null. */
function unwritable(path: string): string | null {
  const abs = resolve(path);
  if (existsSync(abs)) {
    if (statSync(abs).isDirectory()) return 'is a folder';
    try { accessSync(abs, constants.W_OK); } catch { return 'is not writable'; }
    try { accessSync(dirname(abs), constants.W_OK); } catch { return `its folder ${dirname(abs)} is not writable`; }
    return null;
  }
  let dir = dirname(abs);
  while (!existsSync(dir)) { const up = dirname(dir); if (up === dir) break; dir = up; }
  if (!statSync(dir).isDirectory()) return `${dir} is a file, not a folder`;
  try { accessSync(dir, constants.W_OK); } catch { return `the folder ${dir} is not writable`; }
  return null;
}

/** Check the outputs before any compute (see the header); throws one line naming the first problem. */
export function checkOutputs(command: string, outputs: readonly PathArg[], inputs: readonly (PathArg | null | undefined)[]): void {
  const ins = inputs.filter((p): p is PathArg => !!p && !!p.path);
  const seen = new Map<string, PathArg>();
  for (const o of outputs) {
    const c = canonical(o.path);
    const clash = ins.find((i) => canonical(i.path) === c);
    if (clash) throw new Error(`${command}: ${named(o)} is also the input ${named(clash)}; choose another output so the input is not overwritten`);
    const dup = seen.get(c);
    if (dup) throw new Error(`${command}: ${named(o)} and ${named(dup)} are the same file`);
    seen.set(c, o);
    const why = unwritable(o.path);
    if (why) throw new Error(`${command}: cannot write ${named(o)}: ${why}`);
  }
}

const WHY: Record<string, string> = {
  ENOTDIR: 'a file is where its folder should be', EEXIST: 'a file is where its folder should be', EACCES: 'permission denied',
  EPERM: 'permission denied', ENOSPC: 'the disk is full', EROFS: 'the file system is read-only', EISDIR: 'it is a folder',
};

/**
 * Write the files all or nothing (see the header); returns the paths written. The message of
 * a failure names the file and says that no output was changed.
 */
export function writeOutputs(files: readonly { path: string; text: string }[]): string[] {
  const temps: { tmp: string; path: string }[] = [];
  let current = files[0]?.path;
  try {
    for (const f of files) {
      current = f.path;
      mkdirSync(dirname(resolve(f.path)), { recursive: true });
      const tmp = `${f.path}.${process.pid}.tmp`;
      temps.push({ tmp, path: f.path });
      writeFileSync(tmp, f.text);
    }
  } catch (e) {
    for (const t of temps) rmSync(t.tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const why = WHY[code] ? `${WHY[code]} (${code})` : code || (e as Error).message;
    throw new Error(`cannot write ${current}: ${why}; no output was changed`);
  }
  for (const t of temps) renameSync(t.tmp, t.path);
  return files.map((f) => f.path);
}

/** `wrote a, b` on stderr (a notice: not with --quiet). */
export function reportWritten(paths: readonly string[], quiet: boolean): void {
  if (!quiet && paths.length) process.stderr.write(`wrote ${paths.join(', ')}\n`);
}
