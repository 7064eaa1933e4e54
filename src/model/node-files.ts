/**
 * The Node side of the loaders: the one module of the engine's model layer that touches the
 * disk. `nodeFiles` is the `ModelFiles` (./loaders/files.ts) of Node's file system, and the
 * safetensors helpers here read and write paths. A browser never imports this module: it passes
 * `memoryFiles` instead (the layering check keeps web/ and the browser worker away from here).
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ModelFiles } from './loaders/files.js';
import { loadTorchPt as loadTorchPtFrom, type TorchPtContents } from './loaders/torch-pt.js';
import type { ByteSource } from './loaders/zip.js';
import { readSafetensorsFile, readSafetensorsHeaderFile, serializeSafetensors, type SafetensorsHeader } from './safetensors.js';
import type { StateDict } from './weights.js';

/** Random access to a file through a file descriptor (files beyond a 2 GiB Buffer read too). */
export function fileSource(path: string): ByteSource {
  const fd = openSync(path, 'r');
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return {
    size,
    read(offset, length) {
      const out = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      let got = 0;
      while (got < out.length) {
        const n = readSync(fd, out, got, out.length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return got === out.length ? out : out.subarray(0, got);
    },
    close: () => closeSync(fd),
  };
}

/** Node's file system as the loaders see it. */
export const nodeFiles: ModelFiles = Object.freeze({
  isFile: (path: string) => { try { return statSync(path).isFile(); } catch { return false; } },
  isDirectory: (path: string) => { try { return statSync(path).isDirectory(); } catch { return false; } },
  list: (dir: string) => readdirSync(dir),
  open: fileSource,
  join,
  dirname,
  basename,
});

/** Read the header of a safetensors file without reading its data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  return readSafetensorsHeaderFile(nodeFiles, path);
}

/**
 * Read a safetensors file into float32 host tensors. `only`, when given, restricts the
 * tensors read (names not in the file are ignored; the caller checks completeness).
 */
export function readSafetensors(path: string, only?: ReadonlySet<string>): StateDict {
  return readSafetensorsFile(nodeFiles, path, only);
}

/** Write float32 host tensors as an F32 safetensors file. */
export function writeSafetensors(path: string, sd: StateDict, metadata?: Record<string, string>): void {
  writeFileSync(path, serializeSafetensors(sd, metadata));
}

/** Read a torch.save checkpoint file: float tensors, integer/bool tensors and dtypes. */
export function loadTorchPt(path: string): TorchPtContents {
  return loadTorchPtFrom(nodeFiles, path);
}
