/** Reads ../shared/fixtures/hf-gpt2-tiny/reference.safetensors independently of src (F32/I32 only). */
import { readFileSync } from 'node:fs';
import { SHARED } from './helpers.js';

export const FIXTURE_DIR = `${SHARED}fixtures/hf-gpt2-tiny/`;
export const FIXTURE_MODEL = `${FIXTURE_DIR}hf-save`;

export interface RefTensor { shape: number[]; data: Float32Array | Int32Array }

export function readReference(): Map<string, RefTensor> {
  const buf = readFileSync(`${FIXTURE_DIR}reference.safetensors`);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + n;
  const out = new Map<string, RefTensor>();
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const bytes = buf.subarray(base + v.data_offsets[0], base + v.data_offsets[1]);
    const copy = new Uint8Array(bytes).buffer;
    out.set(k, { shape: v.shape, data: v.dtype === 'I32' ? new Int32Array(copy) : new Float32Array(copy) });
  }
  return out;
}

/** The fixture's prompts as token rows, trimmed to their real lengths. */
export function fixtureTokens(ref: Map<string, RefTensor>): number[][] {
  const ids = ref.get('input_ids')!, lens = ref.get('lengths')!;
  const [B, T] = ids.shape;
  return Array.from({ length: B }, (_, i) => Array.from(ids.data.subarray(i * T, i * T + lens.data[i])));
}
