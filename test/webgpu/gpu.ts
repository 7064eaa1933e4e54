/**
 * Helpers of the WebGPU suite. On webgpu every read is asynchronous: `await t.data()`, never
 * dataSync / arraySync (tfjs-backend-webgpu's synchronous read needs OffscreenCanvas, which Node
 * lacks). Comparisons take host arrays (test/helpers.ts expectClose does the checking).
 */
import { expect, inject } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { expectClose } from '../helpers.js';
import type { ActivationCache } from '../../src/model/transformer.js';
import { inCi, type WebgpuGate } from './gate.js';

/** The verdict of global-setup.ts: whether this machine has a WebGPU adapter for the suite. */
export function webgpuGate(): WebgpuGate {
  return inject('webgpu') ?? { ok: false, reason: 'the webgpu vitest project did not run its global setup (vitest.config.ts)', adapter: null };
}

/** In a test that needs the adapter: skip without one, or fail when CI=true. */
export function requireWebgpu(ctx: { skip: (note?: string) => void }): void {
  const gate = webgpuGate();
  if (gate.ok) return;
  if (inCi()) throw new Error(`webgpu suite cannot run, and CI=true requires it: ${gate.reason}`);
  ctx.skip(gate.reason);
}

/** A tensor's values, read asynchronously, as a host copy. */
export async function host(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from((await t.data()) as Float32Array);
}

export interface HostTensor { shape: number[]; data: Float32Array }

/** Every activation of a cache, read to the host (reads started together), then disposed. */
export async function readCache(cache: ActivationCache): Promise<Map<string, HostTensor>> {
  const names = cache.keys();
  const data = await Promise.all(names.map((n) => host(cache.get(n))));
  const out = new Map(names.map((n, i) => [n, { shape: cache.get(n).shape, data: data[i] }]));
  cache.dispose();
  return out;
}

/** max |x| */
export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/**
 * Largest |diff| seen per label, printed as one line by `reportDiffs` when
 * CIRCUITSCOPE_WEBGPU_REPORT=1 (how the tolerances below were measured).
 */
const seen = new Map<string, { diff: number; scale: number; ratio: number }>();

/**
 * expectClose on host arrays with tolerance `abs + rel * max|expected|`; records the measured
 * max |diff| under `label`. Returns the max |diff|.
 */
export function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { abs: number; rel?: number }, what: string, label = what): number {
  const limit = tol.abs + (tol.rel ?? 0) * maxAbs(expected);
  const worst = expectClose(actual, expected, limit, what);
  recordDiff(label, worst, maxAbs(expected));
  return worst;
}

/** Records a measured max |diff| (and the max |expected| it was measured against). */
export function recordDiff(label: string, worst: number, scale: number): void {
  const s = seen.get(label) ?? { diff: 0, scale: 0, ratio: 0 };
  const ratio = scale > 0 ? worst / scale : 0;
  seen.set(label, worst >= s.diff ? { diff: worst, scale, ratio: Math.max(ratio, s.ratio) } : { ...s, ratio: Math.max(ratio, s.ratio) });
}

export function reportDiffs(title: string): void {
  if (process.env.CIRCUITSCOPE_WEBGPU_REPORT !== '1' || !seen.size) return;
  const parts = [...seen].map(([k, v]) => `  ${k}: ${v.diff.toExponential(2)} (max|expected| ${v.scale.toExponential(1)}; worst |diff| / max|expected| ${v.ratio.toExponential(1)})`);
  process.stdout.write(`${title} max |diff|:\n${parts.join('\n')}\n`);
}

/** Runs fn `n` times and expects tf.memory().numTensors unchanged (after one warm-up run). */
export async function expectNoLeakOver(n: number, fn: () => Promise<void>, what: string): Promise<void> {
  await fn();
  const before = tf.memory().numTensors;
  for (let i = 0; i < n; i++) await fn();
  expect(tf.memory().numTensors - before, `${what}: tensors leaked over ${n} runs`).toBe(0);
}
