/** `--workers`: threads that split the prompts (src/parallel/), shared by discover, sweep and evaluate. */
import { availableParallelism } from 'node:os';
import type { HookedTransformer } from '../model/transformer.js';
import type { WorkerPool, TaskSpec } from '../parallel/pool.js';
import { startPool } from '../parallel/node-threads.js';

export const workersOption = {
  type: 'string',
  default: 'auto',
  describe: 'threads that split the prompts between them (same results): a number, or auto (one per core up to 8 with the wasm and cpu backends, whose kernels run on one thread; 1 with the others)',
} as const;

/** The thread count `--workers` asks for: a positive integer, or auto for this backend. */
export function workerThreads(value: string | number | undefined, backend: string): number {
  if (value === undefined || value === 'auto') return backend === 'wasm' || backend === 'cpu' ? Math.max(1, Math.min(8, availableParallelism())) : 1;
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`--workers must be a positive integer or 'auto', got '${value}'`);
  return n;
}

/** A pool for `--workers` (no more threads than prompts); undefined when one thread does. */
export async function startWorkers(model: HookedTransformer, value: string | number | undefined, backend: string, rows: number, task?: TaskSpec): Promise<WorkerPool | undefined> {
  const threads = Math.min(workerThreads(value, backend), rows);
  if (threads <= 1) return undefined;
  return startPool(model, { threads, backend, task });
}
