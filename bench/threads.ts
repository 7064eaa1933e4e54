/**
 * Worker threads (src/parallel/, `--workers`) on this machine's backend: writes
 * bench/results/threads.json.
 *
 *   npm run build && npm run bench:threads
 *   node dist/bench/threads.js --quick        # the shipped-model ACDC part only
 *
 * tfjs' wasm backend runs one thread in Node; the pool gives each extra core its own backend and
 * model copy and splits the prompts. Each case runs with 1 thread and with one per core, the
 * results must agree (same circuit; scores to 1e-5 of the largest), and the figure is the
 * speed-up of the wall time:
 * 1. ACDC on the shipped ioi-words model, 100 IOI prompts, threshold 0.01 (the quick-start job):
 *    the method's seconds (pruning; engine setup included) and the whole discover call.
 * 2. EAP on a GPT-2-small-shaped model (random weights), 100 IOI prompts in chunks of 5: the
 *    attribution's seconds and the whole discover call.
 * 3. One patched evaluation of the full circuit over 100 prompts on the same shape (ACDC's unit
 *    of work; from layer 0), and the projected time for ACDC over its 32,491 edges with the
 *    fast/naive ratio of bench/results/discovery.json.
 * Pool startup (workers loading their backend and model) is reported separately.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { initBackend } from '../src/model/backend.js';
import { loadModel } from '../src/model/load-model.js';
import type { HookedTransformer } from '../src/model/transformer.js';
import { tokenizerFor } from '../src/model/tokenizer.js';
import { discover } from '../src/discovery/run.js';
import { ablationFor } from '../src/patching/ablation.js';
import { ChunkedEngine } from '../src/patching/chunked.js';
import { ParallelEngine } from '../src/parallel/engine.js';
import type { WorkerPool } from '../src/parallel/pool.js';
import { startPool } from '../src/parallel/node-threads.js';
import { getTask } from '../src/tasks/registry.js';
import type { CircuitFile } from '../src/graph/circuit-file.js';

const ROOT = process.cwd();
const quick = process.argv.includes('--quick');
const THREADS = Math.max(2, Math.min(8, availableParallelism()));

async function withPool<T>(model: HookedTransformer, threads: number, backend: string, f: (pool: WorkerPool | undefined) => Promise<T>): Promise<{ value: T; startSeconds: number }> {
  if (threads === 1) return { value: await f(undefined), startSeconds: 0 };
  const t0 = performance.now();
  const pool = await startPool(model, { threads, backend, task: { task: 'ioi' } });
  const startSeconds = (performance.now() - t0) / 1000;
  try { return { value: await f(pool), startSeconds }; } finally { pool.close(); }
}

function agree(a: CircuitFile, b: CircuitFile): boolean {
  const maxAbs = Math.max(...a.edges.map((e) => Math.abs(e.score ?? 0)));
  return a.edges.every((e, i) => e.inCircuit === b.edges[i].inCircuit && Math.abs((e.score ?? 0) - (b.edges[i].score ?? 0)) <= 1e-5 * Math.max(1, maxAbs));
}

async function main(): Promise<void> {
  const backend = await initBackend((process.env.CIRCUITSCOPE_BACKEND as 'wasm') ?? 'auto');
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version }, backend, threads: THREADS, date: new Date().toISOString(),
  };
  const out = join(ROOT, 'bench', 'results', quick ? 'threads.quick.json' : 'threads.json');
  const save = () => { mkdirSync(dirname(out), { recursive: true }); writeFileSync(out, JSON.stringify(results, null, 1) + '\n'); };
  const task = getTask('ioi');

  // 1. ACDC on the shipped model
  {
    const { model } = await loadModel('ioi-words', { quiet: true });
    const runs: Record<string, unknown>[] = [];
    const files: CircuitFile[] = [];
    for (const threads of [1, THREADS]) {
      const t0 = performance.now();
      const { value: file, startSeconds } = await withPool(model, threads, backend, async (pool) => { const r = await discover(model, task, { method: 'acdc', threshold: 0.01, n: 100, modelName: 'ioi-words', backend, pool }); r.evaluator.dispose(); return r.file; });
      const wall = (performance.now() - t0) / 1000 - startSeconds;
      files.push(file);
      runs.push({ threads, methodSeconds: file.results.methodSeconds, discoverSeconds: wall, poolStartSeconds: startSeconds, edgesKept: file.results.edgesKept, faithfulness: file.results.faithfulness });
      console.log(`ACDC ioi-words, 100 prompts, ${threads} thread(s): method ${file.results.methodSeconds?.toFixed(2)} s, discover ${wall.toFixed(2)} s (pool start ${startSeconds.toFixed(2)} s), ${file.results.edgesKept} edges`);
    }
    const [a, b] = runs as { methodSeconds: number; discoverSeconds: number }[];
    results.acdcShipped = { runs, identical: agree(files[0], files[1]), methodSpeedup: a.methodSeconds / b.methodSeconds, discoverSpeedup: a.discoverSeconds / b.discoverSeconds };
    model.dispose();
    save();
  }
  if (quick) { console.log(`wrote ${out}`); return; }

  // 2. EAP and 3. one patched evaluation on the GPT-2-small shape
  const { model } = await loadModel('gpt2-small', { quiet: true });
  const batch = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n: 100, seed: 0 });
  const bs = 5;
  model.forward(batch.clean.slice(0, bs)).dispose(); // warm-up (kernels, XNNPACK weight packing)
  {
    const runs: Record<string, unknown>[] = [];
    const files: CircuitFile[] = [];
    for (const threads of [1, THREADS]) {
      const t0 = performance.now();
      const { value: file, startSeconds } = await withPool(model, threads, backend, async (pool) => { const r = await discover(model, task, { method: 'eap', topN: 200, batchSize: bs, modelName: 'gpt2-small (random)', backend, batch, pool }); r.evaluator.dispose(); return r.file; });
      const wall = (performance.now() - t0) / 1000 - startSeconds;
      files.push(file);
      runs.push({ threads, attributionSeconds: file.results.attributionSeconds, methodSeconds: file.results.methodSeconds, discoverSeconds: wall, poolStartSeconds: startSeconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 });
      console.log(`EAP gpt2-small shape, 100 prompts, ${threads} thread(s): attribution ${file.results.attributionSeconds?.toFixed(1)} s, method ${file.results.methodSeconds?.toFixed(1)} s, discover ${wall.toFixed(1)} s (pool start ${startSeconds.toFixed(1)} s)`);
    }
    const [a, b] = runs as { attributionSeconds: number; methodSeconds: number; discoverSeconds: number }[];
    results.eapGpt2Small = { prompts: 100, chunk: bs, runs, identical: agree(files[0], files[1]), attributionSpeedup: a.attributionSeconds / b.attributionSeconds, methodSpeedup: a.methodSeconds / b.methodSeconds, discoverSpeedup: a.discoverSeconds / b.discoverSeconds };
    save();
  }
  {
    const runs: { threads: number; evaluationSeconds: number }[] = [];
    for (const threads of [1, THREADS]) {
      const { value: seconds } = await withPool(model, threads, backend, async (pool) => {
        const ab = ablationFor('resample', batch);
        const engine = pool
          ? new ParallelEngine(pool, model, batch.clean, ab, { positions: batch.positions, batchSize: bs })
          : new ChunkedEngine(model, batch.clean, ab, { positions: batch.positions, batchSize: bs });
        try {
          const full = engine.fullMask();
          (await engine.run([full])).dispose(); // warm-up
          const t0 = performance.now();
          (await engine.run([full])).dispose();
          return (performance.now() - t0) / 1000;
        } finally {
          engine.dispose();
        }
      });
      runs.push({ threads, evaluationSeconds: seconds });
      console.log(`one patched evaluation, gpt2-small shape, 100 prompts, ${threads} thread(s): ${seconds.toFixed(1)} s`);
    }
    const disc = join(ROOT, 'bench', 'results', 'discovery.json');
    const ratio = existsSync(disc) ? (JSON.parse(readFileSync(disc, 'utf8')) as { acdcGpt2Small?: { ratioUsed: number } }).acdcGpt2Small?.ratioUsed ?? 1 : 1;
    const best = runs[runs.length - 1].evaluationSeconds;
    results.evaluationGpt2Small = { prompts: 100, chunk: bs, runs, speedup: runs[0].evaluationSeconds / best, acdcEdges: 32491, fastNaiveRatio: ratio, acdcProjectedHours: 32491 * best / ratio / 3600 };
    console.log(`ACDC over 32,491 edges at ${THREADS} threads: ~${(32491 * best / ratio / 3600).toFixed(1)} h (ratio ${ratio.toFixed(1)})`);
    save();
  }
  model.dispose();
  console.log(`wrote ${out}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
