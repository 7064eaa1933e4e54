/** Shared numerical test helpers: named tolerances, one closeness check, a leak check. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';

export const TOL = { exact: 1e-6, component: 1e-5, model: 1e-4 } as const;

export const SHARED = new URL('../../shared/', import.meta.url).pathname;

type Arr = ArrayLike<number> | tf.Tensor;

function flat(x: Arr): Float32Array | number[] {
  if (x instanceof tf.Tensor) return x.dataSync() as Float32Array;
  return Array.from(x);
}

/** Max |a - b| <= tol; on failure reports the worst element and its index. */
export function expectClose(actual: Arr, expected: Arr, tol: number, what = 'value'): number {
  const a = flat(actual), b = flat(expected);
  expect(a.length, `${what}: length`).toBe(b.length);
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) { worst = d; at = i; }
  }
  if (!(worst <= tol)) {
    throw new Error(`${what}: max |diff| ${worst} at index ${at} (actual ${a[at]}, expected ${b[at]}) exceeds tolerance ${tol}`);
  }
  return worst;
}

/** Run fn and assert it leaves no new tensors behind. */
export async function expectNoLeak<T>(fn: () => T | Promise<T>, what = 'call'): Promise<T> {
  const before = tf.memory().numTensors;
  const r = await fn();
  const after = tf.memory().numTensors;
  expect(after, `${what} leaked ${after - before} tensors`).toBe(before);
  return r;
}

/**
 * Every number in two results agrees to `rel` relative (|a - b| <= rel * max(1, |a|)), through
 * nested objects, arrays, Maps, Sets and typed arrays; NaN equals NaN. Object keys matching
 * `skip` (times, dates, ...) are left out; the remaining keys must be the same on both sides.
 */
export function expectSameNumbers(a: unknown, b: unknown, rel: number, skip: RegExp, path = 'result'): void {
  const same = (x: unknown, y: unknown, p: string) => expectSameNumbers(x, y, rel, skip, p);
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a)) { expect(Number.isNaN(b), path).toBe(true); return; }
    expect(Math.abs(a - b), path).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(a)));
  } else if (a instanceof Map && b instanceof Map) {
    expect([...b.keys()], path).toEqual([...a.keys()]);
    for (const [k, v] of a) same(v, b.get(k), `${path}.${String(k)}`);
  } else if (a instanceof Set && b instanceof Set) {
    expect([...b].sort(), path).toEqual([...a].sort());
  } else if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    same(Array.from(a as Float32Array), Array.from(b as Float32Array), path);
  } else if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = (o: object) => Object.keys(o).filter((k) => !skip.test(k)).sort();
    expect(keys(b), path).toEqual(keys(a));
    for (const k of keys(a)) same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
  } else {
    expect(b, path).toEqual(a);
  }
}

export interface CliRun { code: number; stdout: string; stderr: string }

/**
 * The CLI run from the sources (`node --import tsx src/cli/main.ts ...args`) in the repository
 * root: its exit code (1 when killed) and output. `env` is added to this process's environment.
 */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<CliRun> {
  const root = fileURLToPath(new URL('../', import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root, env: { ...process.env, CIRCUITSCOPE_DEBUG: '', ...opts.env }, timeout: opts.timeout ?? 120_000, maxBuffer: 32 << 20,
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}
