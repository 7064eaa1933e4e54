/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors, format v1):
 * an 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {..} }`, then the data
 * region; offsets are relative to the start of the data region.
 *
 * Every tensor comes back as float32 (`HostTensor`). Float dtypes F32, F16, BF16 and F64 are
 * converted exactly (F64 rounds to nearest float32); integer and bool dtypes are converted to
 * their float value (exact up to 2^24 in magnitude; larger I64/U64 values are an error).
 * A file is read tensor by tensor through a random-access byte source (`readSafetensorsFrom`;
 * a file descriptor in Node, ./node-files.ts, a Blob in a browser worker), so files beyond a
 * 2 GiB buffer load too. No file system here: ./node-files.ts reads and writes paths.
 * Errors start with `safetensors:` and name the file and the tensor.
 */
import type { ModelFiles } from './loaders/files.js';
import type { ByteSource } from './loaders/zip.js';
import type { HostTensor, StateDict } from './weights.js';

/** Bytes per element of every dtype the format defines. */
const ITEMSIZE: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
};
/** dtypes this reader converts (the F8 formats are defined but not supported). */
const SUPPORTED = ['F32', 'F16', 'BF16', 'F64', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL'];
const MAX_HEADER = 100_000_000;

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** byte offsets relative to the start of the data region */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Readonly<Record<string, string>> | null;
  /** absolute byte offset of the data region in the file */
  readonly dataStart: number;
}

/** Human-readable byte count for messages: "1.2 GB", "3 MB", "17 bytes". */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n, u = -1;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return `${v >= 100 ? Math.round(v) : Number(v.toPrecision(2))} ${units[u]}`;
}

function fail(source: string, msg: string): never {
  throw new Error(`safetensors: ${source}: ${msg}`);
}

/** Parse the 8-byte length prefix; `fileSize` is the total file length. */
function headerLength(prefix: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8) fail(source, `file is ${formatBytes(fileSize)} long, shorter than the 8-byte header length (truncated or not a safetensors file)`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new Error(`safetensors: header of ${source} declares ${formatBytes(Number(n))} but the file has ${formatBytes(fileSize)} (truncated or not a safetensors file)`);
  }
  if (n > BigInt(MAX_HEADER)) fail(source, `header of ${formatBytes(Number(n))} exceeds the ${formatBytes(MAX_HEADER)} limit`);
  return Number(n);
}

/** Validate the JSON header against the size of the data region. */
function parseHeaderJson(bytes: Uint8Array, headerLen: number, fileSize: number, source: string): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    fail(source, `header is not valid JSON (${(e as Error).message}); not a safetensors file?`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(source, 'header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = fileSize - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> | null = null;
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) metadata = v as Record<string, string>;
      continue;
    }
    const where = `tensor '${name}'`;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(source, `${where}: header entry is not an object`);
    const { dtype, shape, data_offsets: off } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') fail(source, `${where} has no dtype`);
    if (!(dtype in ITEMSIZE)) fail(source, `${where} has unknown dtype '${dtype}' (supported: ${SUPPORTED.join(', ')})`);
    if (!SUPPORTED.includes(dtype)) fail(source, `${where} has unsupported dtype '${dtype}' (supported: ${SUPPORTED.join(', ')})`);
    if (!Array.isArray(shape) || shape.some((s) => typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0)) {
      fail(source, `${where} has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(off) || off.length !== 2 || off.some((o) => typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0)) {
      fail(source, `${where} has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    if (end < begin) fail(source, `${where} has data_offsets [${begin}, ${end}] out of order`);
    if (end > dataLen) {
      fail(source, `${where} has data_offsets [${begin}, ${end}] past the end of the data region (${formatBytes(dataLen)}; truncated file?)`);
    }
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const want = numel * ITEMSIZE[dtype];
    if (end - begin !== want) {
      fail(source, `${where} (${dtype} [${(shape as number[]).join(', ')}]) spans ${end - begin} bytes but its shape needs ${want}`);
    }
    entries.push({ name, dtype, shape: [...(shape as number[])], begin, end });
  }
  return { entries, metadata, dataStart };
}

/** Parse the header of an in-memory safetensors file. */
export function parseSafetensorsHeader(buf: Uint8Array, source = '<buffer>'): SafetensorsHeader {
  const n = headerLength(buf.subarray(0, 8), buf.length, source);
  return parseHeaderJson(buf.subarray(8, 8 + n), n, buf.length, source);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Convert one tensor's raw little-endian bytes to float32. */
export function decodeToFloat32(dtype: string, bytes: Uint8Array, source = '<buffer>', name = '?'): Float32Array {
  const size = ITEMSIZE[dtype];
  if (size === undefined || !SUPPORTED.includes(dtype)) fail(source, `tensor '${name}' has unknown dtype '${dtype}'`);
  const n = bytes.length / size;
  const out = new Float32Array(n);
  if (dtype === 'F32' && LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true); break;
    case 'F64': for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true); break;
    case 'F16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = halfBitsToFloatBits(dv.getUint16(2 * i, true));
      break;
    }
    case 'BF16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      break;
    }
    case 'I8': for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); break;
    case 'U8': case 'BOOL': for (let i = 0; i < n; i++) out[i] = bytes[i]; break;
    case 'I16': for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true); break;
    case 'U16': for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, true); break;
    case 'I32': for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true); break;
    case 'U32': for (let i = 0; i < n; i++) out[i] = dv.getUint32(4 * i, true); break;
    case 'I64': case 'U64': {
      for (let i = 0; i < n; i++) {
        const v = dtype === 'I64' ? dv.getBigInt64(8 * i, true) : dv.getBigUint64(8 * i, true);
        if (v > 16777216n || v < -16777216n) fail(source, `tensor '${name}' (${dtype}) holds ${v}, which float32 cannot represent exactly`);
        out[i] = Number(v);
      }
      break;
    }
  }
  return out;
}

/** IEEE binary16 bits -> binary32 bits (exact, including subnormals, infinities and NaN). */
export function halfBitsToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  let exp = (h >> 10) & 0x1f;
  let man = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (man << 13)) >>> 0;
  if (exp === 0) {
    if (man === 0) return sign >>> 0;
    // subnormal: shift the mantissa up until its leading 1 reaches the implicit bit
    exp = 1;
    while ((man & 0x400) === 0) { man <<= 1; exp--; }
    man &= 0x3ff;
  }
  return (sign | ((exp + 112) << 23) | (man << 13)) >>> 0;
}

function toHost(e: SafetensorsEntry, bytes: Uint8Array, source: string): HostTensor {
  return { shape: [...e.shape], data: decodeToFloat32(e.dtype, bytes, source, e.name) };
}

/** Parse an in-memory safetensors file; `source` names it in errors. Skips `__metadata__`. */
export function parseSafetensors(buf: Uint8Array, source = '<buffer>'): StateDict {
  const h = parseSafetensorsHeader(buf, source);
  const sd: StateDict = new Map();
  for (const e of h.entries) sd.set(e.name, toHost(e, buf.subarray(h.dataStart + e.begin, h.dataStart + e.end), source));
  return sd;
}

function readExactly(src: ByteSource, len: number, pos: number, source: string): Uint8Array {
  const out = src.read(pos, len);
  if (out.length < len) fail(source, `unexpected end of file at byte ${pos + out.length} (the file changed while reading?)`);
  return out;
}

/** Read the header of a safetensors file without reading its data; `source` names it in errors. */
export function readSafetensorsHeaderFrom(src: ByteSource, source: string): SafetensorsHeader {
  const size = src.size;
  const n = headerLength(size >= 8 ? readExactly(src, 8, 0, source) : new Uint8Array(8), size, source);
  return parseHeaderJson(readExactly(src, n, 8, source), n, size, source);
}

/**
 * Read a safetensors file into float32 host tensors, tensor by tensor. `only`, when given,
 * restricts the tensors read (names not in the file are ignored; the caller checks completeness).
 */
export function readSafetensorsFrom(src: ByteSource, source: string, only?: ReadonlySet<string>): StateDict {
  const h = readSafetensorsHeaderFrom(src, source);
  const sd: StateDict = new Map();
  for (const e of h.entries) {
    if (only && !only.has(e.name)) continue;
    sd.set(e.name, toHost(e, readExactly(src, e.end - e.begin, h.dataStart + e.begin, source), source));
  }
  return sd;
}

/** `readSafetensorsHeaderFrom` on a file of `files` (closed after reading). */
export function readSafetensorsHeaderFile(files: ModelFiles, path: string): SafetensorsHeader {
  const src = files.open(path);
  try {
    return readSafetensorsHeaderFrom(src, path);
  } finally {
    src.close();
  }
}

/** `readSafetensorsFrom` on a file of `files` (closed after reading). */
export function readSafetensorsFile(files: ModelFiles, path: string, only?: ReadonlySet<string>): StateDict {
  const src = files.open(path);
  try {
    return readSafetensorsFrom(src, path, only);
  } finally {
    src.close();
  }
}

export interface RawTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  /** little-endian element bytes */
  readonly bytes: Uint8Array;
}

/**
 * Serialise raw tensors (any dtype the format defines) into a safetensors file image. The
 * header is padded with spaces to a multiple of 8 bytes, as the reference implementation does.
 * Useful for tools and for tests that need F16/BF16 or deliberately odd files.
 */
export function encodeSafetensors(tensors: Iterable<[string, RawTensor]>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new Error(`safetensors: cannot write a tensor named '__metadata__'`);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [off, off + t.bytes.length] };
    parts.push(t.bytes);
    off += t.bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) {
    const padded = new Uint8Array(json.length + pad).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const b of parts) { out.set(b, p); p += b.length; }
  return out;
}

/** float32 host tensors -> an F32 safetensors file image. */
export function serializeSafetensors(sd: StateDict, metadata?: Record<string, string>): Uint8Array {
  const raw: [string, RawTensor][] = [];
  for (const [name, t] of sd) {
    const f = Float32Array.from(t.data);
    if (!LITTLE_ENDIAN) {
      const dv = new DataView(f.buffer);
      for (let i = 0; i < f.length; i++) dv.setFloat32(4 * i, t.data[i], true);
    }
    raw.push([name, { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(f.buffer) }]);
  }
  return encodeSafetensors(raw, metadata);
}
