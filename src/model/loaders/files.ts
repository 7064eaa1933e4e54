/**
 * What the loaders read through: `ModelFiles`, a small read-only file system (is this a file or
 * a folder, list a folder, open a file for random access, and its own path syntax). The loaders
 * take bytes, never Node's fs: in Node the CLI passes `nodeFiles` (../node-files.ts, the one
 * module that touches the disk); a browser passes `memoryFiles`, built from buffers it fetched
 * or from the File objects a user picked (read slice by slice with FileReaderSync in a worker).
 * Also: JSON reading with prefixed errors and weights-file sniffing over any `ModelFiles`.
 */
import type { ByteSource } from './zip.js';

export type { ByteSource } from './zip.js';

export interface ModelFiles {
  isFile(path: string): boolean;
  isDirectory(path: string): boolean;
  /** the names in a folder; throws when it is not one */
  list(dir: string): string[];
  /** random access to a file; throws an Error with `code: 'ENOENT'` when there is none */
  open(path: string): ByteSource;
  /** this file system's path syntax (Node's path module, or '/'-separated names in memory) */
  join(...parts: string[]): string;
  dirname(path: string): string;
  basename(path: string): string;
}

/** The whole of a file, closed after reading. */
export function readBytes(files: ModelFiles, path: string): Uint8Array {
  const src = files.open(path);
  try {
    return src.read(0, src.size);
  } finally {
    src.close();
  }
}

/** Read and parse a JSON file; errors are prefixed with `module` and name the file. */
export function readJsonFile(files: ModelFiles, path: string, module: string): unknown {
  let text: string;
  try {
    text = new TextDecoder().decode(readBytes(files, path));
  } catch (e) {
    throw new Error(`${module}: cannot read ${path}: ${(e as { code?: string }).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${module}: ${path} is not valid JSON (${(e as Error).message})`);
  }
}

/** The extension of a path's last part, lower-cased, with its dot ('' when none). */
export function extensionOf(path: string): string {
  const base = path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

export type WeightsKind = 'safetensors' | 'torch';

/** Decide how to read a weights file: by extension, else by its first bytes. */
export function weightsKind(files: ModelFiles, path: string): WeightsKind | null {
  const ext = extensionOf(path);
  if (ext === '.safetensors') return 'safetensors';
  if (['.pt', '.pth', '.bin', '.ckpt'].includes(ext)) return 'torch';
  let head: Uint8Array;
  try {
    const src = files.open(path);
    try { head = src.read(0, Math.min(4, src.size)); } finally { src.close(); }
  } catch {
    return null;
  }
  const n = head.length;
  if (n >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'torch';
  if (n >= 2 && head[0] === 0x80 && head[1] <= 5) return 'torch';
  if (n >= 4) return 'safetensors';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Files in memory (a browser, tests)

/** A Blob / File as far as this module needs it (no DOM types in the engine's lib). */
export interface BlobLike {
  readonly size: number;
  slice(start: number, end: number): unknown;
}

/** Random access to bytes in memory. */
export function bufferSource(buf: Uint8Array): ByteSource {
  return {
    size: buf.length,
    read: (offset, length) => buf.subarray(offset, offset + length),
    close: () => {},
  };
}

/**
 * Random access to a Blob (a File the user picked) where reads must be synchronous: in a Web
 * Worker, through FileReaderSync, one slice per read, so a 500 MB checkpoint is never one buffer.
 */
export function blobSource(blob: BlobLike, name: string): ByteSource {
  const Reader = (globalThis as { FileReaderSync?: new () => { readAsArrayBuffer(b: unknown): ArrayBuffer } }).FileReaderSync;
  if (!Reader) throw new Error(`loaders: ${name}: a picked file can be read only in a worker (FileReaderSync)`);
  const reader = new Reader();
  return {
    size: blob.size,
    read: (offset, length) => new Uint8Array(reader.readAsArrayBuffer(blob.slice(offset, Math.min(blob.size, offset + length)))),
    close: () => {},
  };
}

const normalize = (p: string): string => {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
};

/**
 * A read-only file system over files in memory, by '/'-separated path ('models/x/config.json');
 * folders are implied by the paths. Values are bytes, or Blobs (read lazily, in a worker).
 */
export function memoryFiles(entries: Iterable<[string, Uint8Array | ArrayBuffer | BlobLike]>): ModelFiles {
  const files = new Map<string, Uint8Array | BlobLike>();
  const dirs = new Set<string>(['']);
  for (const [path, v] of entries) {
    const p = normalize(path);
    files.set(p, v instanceof ArrayBuffer ? new Uint8Array(v) : v);
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const enoent = (path: string) => Object.assign(new Error(`no such file: ${path}`), { code: 'ENOENT' });
  return {
    isFile: (path) => files.has(normalize(path)),
    isDirectory: (path) => dirs.has(normalize(path)),
    list(dir) {
      const d = normalize(dir);
      if (!dirs.has(d)) throw Object.assign(new Error(`no such folder: ${dir}`), { code: 'ENOENT' });
      const pre = d ? `${d}/` : '';
      const names = new Set<string>();
      for (const p of [...files.keys(), ...dirs]) if (p.startsWith(pre) && p.length > pre.length) names.add(p.slice(pre.length).split('/')[0]);
      return [...names].sort();
    },
    open(path) {
      const v = files.get(normalize(path));
      if (!v) throw enoent(path);
      return v instanceof Uint8Array ? bufferSource(v) : blobSource(v, path);
    },
    join: (...parts) => parts.filter((p) => p !== '').join('/').replace(/\/+/g, '/'),
    dirname: (path) => { const i = path.replace(/\/+$/, '').lastIndexOf('/'); return i < 0 ? '.' : i === 0 ? '/' : path.slice(0, i); },
    basename: (path) => path.replace(/\/+$/, '').split('/').pop() ?? '',
  };
}
