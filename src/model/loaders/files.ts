/** Small file helpers shared by the loaders: JSON reading with prefixed errors, weights-file sniffing. */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { extname } from 'node:path';

/** Read and parse a JSON file; errors are prefixed with `module` and name the file. */
export function readJsonFile(path: string, module: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${module}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${module}: ${path} is not valid JSON (${(e as Error).message})`);
  }
}

export function isFile(path: string): boolean {
  try { return statSync(path).isFile(); } catch { return false; }
}

export function isDirectory(path: string): boolean {
  try { return statSync(path).isDirectory(); } catch { return false; }
}

export type WeightsKind = 'safetensors' | 'torch';

/** Decide how to read a weights file: by extension, else by its first bytes. */
export function weightsKind(path: string): WeightsKind | null {
  const ext = extname(path).toLowerCase();
  if (ext === '.safetensors') return 'safetensors';
  if (['.pt', '.pth', '.bin', '.ckpt'].includes(ext)) return 'torch';
  const head = new Uint8Array(4);
  let n = 0;
  try {
    const fd = openSync(path, 'r');
    try { n = readSync(fd, head, 0, 4, 0); } finally { closeSync(fd); }
  } catch {
    return null;
  }
  if (n >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'torch';
  if (n >= 2 && head[0] === 0x80 && head[1] <= 5) return 'torch';
  if (n >= 4) return 'safetensors';
  return null;
}
