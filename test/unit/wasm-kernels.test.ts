/**
 * The wasm kernels the project replaces (backend.ts): Slice and SplitV copy from heap views,
 * Identity shares its input's buffer. Checked exactly (they only move numbers) against plain
 * index arithmetic on random shapes of rank 1-5 with random begins and sizes.
 */
import { beforeAll, describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { Rng } from '../../src/util/rng.js';

beforeAll(async () => { await initBackend('wasm'); });

function refSlice(data: Float32Array, shape: number[], begin: number[], size: number[]): number[] {
  const out: number[] = [];
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = size.map(() => 0);
  const total = size.reduce((a, b) => a * b, 1);
  for (let o = 0; o < total; o++) {
    out.push(data[idx.reduce((a, v, i) => a + (v + begin[i]) * strides[i], 0)]);
    for (let i = size.length - 1; i >= 0; i--) { if (++idx[i] < size[i]) break; idx[i] = 0; }
  }
  return out;
}

describe('wasm kernels', () => {
  it('Slice equals index arithmetic (200 random cases, exact)', () => {
    expect(tf.getBackend()).toBe('wasm');
    const rng = new Rng(4);
    for (let c = 0; c < 200; c++) {
      const rank = rng.int(1, 6);
      const shape = Array.from({ length: rank }, () => rng.int(1, 6));
      const begin = shape.map((d) => rng.int(0, d));
      const size = shape.map((d, i) => (rng.next() < 0.2 ? -1 : rng.int(0, d - begin[i] + 1)));
      const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next());
      const x = tf.tensor(data, shape);
      const y = tf.slice(x, begin, size);
      const full = size.map((s, i) => (s === -1 ? shape[i] - begin[i] : s));
      expect(y.shape).toEqual(full);
      expect(Array.from(y.dataSync())).toEqual(refSlice(data, shape, begin, full));
      tf.dispose([x, y]);
    }
  });

  it('SplitV equals slices along the axis (exact), including a -1 size', () => {
    const rng = new Rng(5);
    for (let c = 0; c < 50; c++) {
      const rank = rng.int(1, 5);
      const shape = Array.from({ length: rank }, () => rng.int(2, 6));
      const axis = rng.int(0, rank);
      const first = rng.int(0, shape[axis]);
      const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next());
      const x = tf.tensor(data, shape);
      const parts = tf.split(x, [first, -1], axis);
      const begin = shape.map(() => 0);
      parts.forEach((p, k) => {
        const size = shape.slice();
        size[axis] = k === 0 ? first : shape[axis] - first;
        expect(p.shape).toEqual(size);
        expect(Array.from(p.dataSync())).toEqual(refSlice(data, shape, begin, size));
        begin[axis] += size[axis];
      });
      tf.dispose([x, ...parts]);
    }
  });

  it('Identity (clone) shares the buffer: values equal, and disposing either leaves the other intact', () => {
    const x = tf.tensor([1, 2, 3, 4], [2, 2]);
    const before = tf.memory().numBytes;
    const y = x.clone();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4]);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4]);
    const z = tf.add(y, 1);
    expect(Array.from(z.dataSync())).toEqual([2, 3, 4, 5]);
    tf.dispose([y, z]);
    expect(tf.memory().numBytes).toBeLessThanOrEqual(before);
  });
});
