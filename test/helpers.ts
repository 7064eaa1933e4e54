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
