/**
 * safetensors: round trips, dtype conversions (F16 / BF16 / F64 / integers) against
 * hand-computed values, and every malformed-file error naming the file and the tensor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeToFloat32, encodeSafetensors, formatBytes, halfBitsToFloatBits, parseSafetensors,
  parseSafetensorsHeader, serializeSafetensors, type RawTensor,
} from '../../src/model/safetensors.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../../src/model/node-files.js';
import { hostTensor, type StateDict } from '../../src/model/weights.js';

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'circuitscope-st-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

const u16 = (xs: number[]) => new Uint8Array(new Uint16Array(xs).buffer);
const f32bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];

/** A file image with a hand-written header (for malformed files) followed by `data`. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), declared?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

describe('safetensors round trip', () => {
  it('writes and reads F32 tensors, 0-dim tensors included, skipping __metadata__', () => {
    const sd: StateDict = new Map([
      ['a.weight', hostTensor([2, 3], Float32Array.from([1, -2, 3.5, 1e-30, -0, 65504]))],
      ['scalar', hostTensor([], Float32Array.from([-1e5]))],
      ['empty', hostTensor([0, 4])],
    ]);
    const p = join(dir, 'rt.safetensors');
    writeSafetensors(p, sd, { format: 'pt' });
    const back = readSafetensors(p);
    expect([...back.keys()]).toEqual(['a.weight', 'scalar', 'empty']);
    for (const [k, t] of sd) {
      expect(back.get(k)!.shape).toEqual(t.shape);
      expect(Array.from(back.get(k)!.data)).toEqual(Array.from(t.data));
    }
    expect(Object.is(back.get('a.weight')!.data[4], -0)).toBe(true);
    const h = readSafetensorsHeader(p);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect((h.dataStart - 8) % 8).toBe(0); // header padded to 8 bytes
    // the in-memory parser agrees with the file reader
    const mem = parseSafetensors(serializeSafetensors(sd), 'mem');
    expect(Array.from(mem.get('a.weight')!.data)).toEqual(Array.from(sd.get('a.weight')!.data));
  });

  it('reads only the tensors asked for', () => {
    const p = join(dir, 'subset.safetensors');
    writeSafetensors(p, new Map([['x', hostTensor([2])], ['y', hostTensor([3])]]));
    expect([...readSafetensors(p, new Set(['y'])).keys()]).toEqual(['y']);
  });

  it('formats byte counts for messages', () => {
    expect(formatBytes(17)).toBe('17 bytes');
    expect(formatBytes(3_000_000)).toBe('3 MB');
    expect(formatBytes(1_200_000_000)).toBe('1.2 GB');
  });
});

describe('dtype conversion', () => {
  it('F16 matches hand-computed values (normals, subnormals, infinities, NaN, signed zero)', () => {
    const bits = [0x3c00, 0xc000, 0x3555, 0x4248, 0x7bff, 0x3800, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x8000, 0x0000];
    const want = [
      1, -2,
      0.333251953125, // 2^-2 * (1 + 341/1024)
      3.140625, // 2 * (1 + 584/1024)
      65504, // largest half
      0.5,
      5.960464477539063e-8, // 2^-24, smallest subnormal
      6.097555160522461e-5, // 1023 * 2^-24, largest subnormal
      6.103515625e-5, // 2^-14, smallest normal
      Infinity, -Infinity, -0, 0,
    ];
    const got = parseSafetensors(encodeSafetensors([['h', { dtype: 'F16', shape: [bits.length], bytes: u16(bits) }]]), 'f16').get('h')!;
    expect(got.data).toBeInstanceOf(Float32Array);
    want.forEach((w, i) => expect(Object.is(got.data[i], w), `F16 0x${bits[i].toString(16)} -> ${got.data[i]}, want ${w}`).toBe(true));
    const nan = decodeToFloat32('F16', u16([0x7e00]))[0];
    expect(Number.isNaN(nan)).toBe(true);
    expect(halfBitsToFloatBits(0x3c00)).toBe(0x3f800000);
  });

  it('BF16 matches hand-computed values', () => {
    const bits = [0x3f80, 0xc000, 0x4049, 0x3eab, 0x4780, 0x7f80, 0xff80, 0x8000, 0x0001];
    const want = [
      1, -2,
      3.140625, // 2 * (1 + 0x49/128)
      0.333984375, // 2^-2 * (1 + 43/128)
      65536, Infinity, -Infinity, -0,
      9.183549615799121e-41, // f32 bits 0x00010000: a float32 subnormal, 2^-133
    ];
    const got = parseSafetensors(encodeSafetensors([['b', { dtype: 'BF16', shape: [3, 3], bytes: u16(bits) }]]), 'bf16').get('b')!;
    expect(got.shape).toEqual([3, 3]);
    want.forEach((w, i) => expect(Object.is(got.data[i], w), `BF16 0x${bits[i].toString(16)} -> ${got.data[i]}, want ${w}`).toBe(true));
    expect(Number.isNaN(decodeToFloat32('BF16', u16([0x7fc0]))[0])).toBe(true);
    expect(f32bits(got.data[8])).toBe(0x00010000);
  });

  it('F64 rounds to nearest float32; integer and bool dtypes convert to their values', () => {
    const tensors: [string, RawTensor][] = [
      ['f64', { dtype: 'F64', shape: [2], bytes: new Uint8Array(new Float64Array([0.1, -1e300]).buffer) }],
      ['i32', { dtype: 'I32', shape: [2], bytes: new Uint8Array(new Int32Array([-7, 123456]).buffer) }],
      ['i64', { dtype: 'I64', shape: [2], bytes: new Uint8Array(new BigInt64Array([-3n, 16777216n]).buffer) }],
      ['bool', { dtype: 'BOOL', shape: [3], bytes: Uint8Array.from([1, 0, 1]) }],
      ['u8', { dtype: 'U8', shape: [1], bytes: Uint8Array.from([255]) }],
    ];
    const sd = parseSafetensors(encodeSafetensors(tensors), 'ints');
    expect(Array.from(sd.get('f64')!.data)).toEqual([Math.fround(0.1), -Infinity]);
    expect(Array.from(sd.get('i32')!.data)).toEqual([-7, 123456]);
    expect(Array.from(sd.get('i64')!.data)).toEqual([-3, 16777216]);
    expect(Array.from(sd.get('bool')!.data)).toEqual([1, 0, 1]);
    expect(Array.from(sd.get('u8')!.data)).toEqual([255]);
    const big = encodeSafetensors([['idx', { dtype: 'I64', shape: [1], bytes: new Uint8Array(new BigInt64Array([1n << 40n]).buffer) }]]);
    expect(() => parseSafetensors(big, 'big.safetensors')).toThrow(/safetensors: big\.safetensors: tensor 'idx' \(I64\) holds 1099511627776/);
  });
});

describe('malformed files', () => {
  it('a file shorter than 8 bytes', () => {
    const p = write('tiny.safetensors', Uint8Array.from([1, 2, 3]));
    expect(() => readSafetensors(p)).toThrow(new RegExp(`^safetensors: ${p}: file is 3 bytes long, shorter than the 8-byte header length`));
    expect(() => parseSafetensors(new Uint8Array(0), 'empty.safetensors')).toThrow(/safetensors: empty\.safetensors: file is 0 bytes long/);
  });

  it('a header length past the end of the file', () => {
    const p = write('huge-header.safetensors', rawFile({}, new Uint8Array(20), 1_200_000_000n));
    expect(() => readSafetensors(p)).toThrow(`safetensors: header of ${p} declares 1.2 GB but the file has 30 bytes`);
  });

  it('a header that is not JSON', () => {
    const p = write('notjson.safetensors', rawFile('{"a": [1, 2'));
    expect(() => readSafetensors(p)).toThrow(new RegExp(`^safetensors: ${p}: header is not valid JSON`));
    const arr = write('array.safetensors', rawFile([1, 2]));
    expect(() => readSafetensors(arr)).toThrow(`safetensors: ${arr}: header is not a JSON object`);
  });

  it('an unknown dtype', () => {
    const p = write('q4.safetensors', rawFile({ 'h.0.attn.c_attn.weight': { dtype: 'Q4', shape: [2], data_offsets: [0, 1] } }, new Uint8Array(1)));
    expect(() => readSafetensors(p)).toThrow(`safetensors: ${p}: tensor 'h.0.attn.c_attn.weight' has unknown dtype 'Q4'`);
    const f8 = write('f8.safetensors', rawFile({ w: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)));
    expect(() => readSafetensors(f8)).toThrow(`safetensors: ${f8}: tensor 'w' has unsupported dtype 'F8_E4M3'`);
  });

  it('data offsets past the end of the data region (truncated file)', () => {
    const good = serializeSafetensors(new Map([['a', hostTensor([4])], ['blocks.0.attn.W_Q', hostTensor([2, 2])]]));
    const p = write('truncated.safetensors', good.subarray(0, good.length - 5));
    expect(() => readSafetensors(p)).toThrow(new RegExp(`^safetensors: ${p}: tensor 'blocks\\.0\\.attn\\.W_Q' has data_offsets \\[16, 32\\] past the end of the data region \\(27 bytes; truncated file\\?\\)`));
    const off = write('offsets.safetensors', rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [100, 104] } }, new Uint8Array(8)));
    expect(() => readSafetensors(off)).toThrow(`safetensors: ${off}: tensor 'w' has data_offsets [100, 104] past the end`);
  });

  it('data offsets out of order', () => {
    const p = write('order.safetensors', rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, new Uint8Array(8)));
    expect(() => readSafetensors(p)).toThrow(`safetensors: ${p}: tensor 'w' has data_offsets [8, 4] out of order`);
  });

  it('a byte length that disagrees with the shape', () => {
    const p = write('len.safetensors', rawFile({ 'embed.W_E': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, new Uint8Array(16)));
    expect(() => readSafetensors(p)).toThrow(`safetensors: ${p}: tensor 'embed.W_E' (F32 [2, 2]) spans 12 bytes but its shape needs 16`);
  });

  it('invalid shapes and offsets', () => {
    const p = write('shape.safetensors', rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)));
    expect(() => readSafetensors(p)).toThrow(`safetensors: ${p}: tensor 'w' has an invalid shape [-1]`);
    expect(() => parseSafetensorsHeader(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(4)), 'x.st'))
      .toThrow(`safetensors: x.st: tensor 'w' has invalid data_offsets [0]`);
  });
});
