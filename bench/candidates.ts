/**
 * ACDC over candidates (`--candidates METHOD:K`, src/discovery/acdc.ts; issue 16): writes
 * bench/results/candidates.json.
 *
 *   npm run build && npm run bench:candidates                 # both parts
 *   node dist/bench/candidates.js --small                      # part 1 only
 *   node dist/bench/candidates.js --gpt2 --reduced             # part 2 on 10 prompts, K = 100
 *   BENCH_CAND_PROMPTS=100 BENCH_CAND_K=eap-ig:0.05 node dist/bench/candidates.js --gpt2
 *
 * 1. Where plain ACDC is feasible (min_int under zero ablation; the shipped ioi-words model and
 *    the HF fixture GPT-2 on IOI prompts), plain ACDC against ACDC over EAP-IG (and EAP-IG-
 *    activations, EAP) candidates at a few K (fractions of the edges): edges kept, edge overlap with plain ACDC's circuit (Jaccard),
 *    normalised faithfulness of each, seconds. One thread.
 * 2. The GPT-2-small shape (random weights, 32,491 edges), IOI prompts (BENCH_CAND_PROMPTS,
 *    default 100) in chunks of 5, 2 threads (BENCH_CAND_WORKERS): ACDC over BENCH_CAND_K
 *    (default eap-ig:0.05) candidates: total seconds, the scoring's, ACDC's per tested edge,
 *    edges kept, faithfulness. `--reduced` runs 10 prompts and K = 100 and projects the full
 *    setting from the measured per-edge cost (linear in prompts and in K; the per-edge cost of
 *    the reduced K's receivers stands for the full K's).
 */
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { initBackend } from '../src/model/backend.js';
import { loadModel, shippedModelPath } from '../src/model/load-model.js';
import type { HookedTransformer } from '../src/model/transformer.js';
import { discover, type DiscoverOptions } from '../src/discovery/run.js';
import { circuitEdgeKeys, type CircuitFile } from '../src/graph/circuit-file.js';
import { resolveSharedModel } from '../src/tasks/shared-models.js';
import { getTask } from '../src/tasks/registry.js';
import { tokenizerFor } from '../src/model/tokenizer.js';
import { startPool } from '../src/parallel/node-threads.js';

const ROOT = process.cwd(); // run from the repository root
const args = process.argv.slice(2);
const only = args.includes('--small') ? 'small' : args.includes('--gpt2') ? 'gpt2' : 'all';
const reduced = args.includes('--reduced');
const OUT = join(ROOT, 'bench', 'results', 'candidates.json');

function jaccard(a: Set<string>, b: Set<string>): number {
  const inter = [...a].filter((e) => b.has(e)).length;
  const union = a.size + b.size - inter;
  return union === 0 ? 1 : inter / union;
}

async function run(model: HookedTransformer, task: string, opts: DiscoverOptions): Promise<{ file: CircuitFile; seconds: number; tested: number }> {
  const t0 = performance.now();
  const out = await discover(model, getTask(task), opts);
  out.evaluator.dispose();
  return { file: out.file, seconds: (performance.now() - t0) / 1000, tested: out.raw.trace.length };
}

async function small(results: Record<string, unknown>, save: () => void): Promise<void> {
  const rows: Record<string, unknown>[] = [];
  results.small = rows;
  const cases: { name: string; path: string | null; task: string; opts: Partial<DiscoverOptions> }[] = [
    { name: 'min_int', path: resolveSharedModel('min_int'), task: 'min-int', opts: { ablation: 'zero', splitEmbed: true, n: 64 } },
    { name: 'ioi-words', path: shippedModelPath('ioi-words') ? 'ioi-words' : null, task: 'ioi', opts: { n: 50, threshold: 0.01 } },
    { name: 'hf-gpt2-tiny (random weights)', path: ((p) => (existsSync(p) ? p : null))(join(ROOT, '..', 'shared', 'fixtures', 'hf-gpt2-tiny', 'hf-save')), task: 'ioi', opts: { n: 30, threshold: 0.01 } },
  ];
  for (const c of cases) {
    if (!c.path) { console.log(`${c.name}: not here, skipped`); continue; }
    const { model } = await loadModel(c.path, { quiet: true });
    const base: DiscoverOptions = { method: 'acdc', seed: 0, modelName: c.name, backend: 'wasm', ...c.opts };
    const plain = await run(model, c.task, base);
    const plainSet = circuitEdgeKeys(plain.file);
    const total = plain.file.results.edgesTotal;
    const row: Record<string, unknown> = {
      model: c.name, task: c.task, edges: total, n: base.n, threshold: plain.file.threshold,
      plain: { kept: plain.file.results.edgesKept, faithfulness: plain.file.results.faithfulness, seconds: plain.seconds, tested: plain.tested },
      candidates: [] as Record<string, unknown>[],
    };
    console.log(`${c.name}/${c.task}: plain ACDC ${plain.file.results.edgesKept}/${total} edges, faithfulness ${plain.file.results.faithfulness?.toFixed(3)}, ${plain.seconds.toFixed(1)} s`);
    for (const spec of ['eap-ig:0.1', 'eap-ig:0.25', 'eap-ig:0.5', 'eap-ig-activations:0.25', 'eap:0.25']) {
      const r = await run(model, c.task, { ...base, candidates: spec });
      const set = circuitEdgeKeys(r.file);
      const x = { candidates: spec, k: r.file.results.candidates?.k, kept: r.file.results.edgesKept, jaccard: jaccard(plainSet, set), faithfulness: r.file.results.faithfulness, seconds: r.seconds, tested: r.tested };
      (row.candidates as Record<string, unknown>[]).push(x);
      console.log(`  ${spec} (K = ${x.k}): ${x.kept} edges, Jaccard ${x.jaccard.toFixed(2)} with plain, faithfulness ${x.faithfulness?.toFixed(3)}, ${x.seconds.toFixed(1)} s (${x.tested} tested)`);
    }
    rows.push(row);
    model.dispose();
    save();
  }
}

async function gpt2(results: Record<string, unknown>, save: () => void): Promise<void> {
  const n = reduced ? 10 : Number(process.env.BENCH_CAND_PROMPTS ?? 100);
  const spec = reduced ? 'eap-ig:100' : process.env.BENCH_CAND_K ?? 'eap-ig:0.05';
  const threads = Number(process.env.BENCH_CAND_WORKERS ?? 2);
  const bs = Number(process.env.BENCH_CAND_BATCH ?? 5);
  const { model } = await loadModel('gpt2-small', { quiet: true });
  const task = getTask('ioi');
  const batch = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n, seed: 0 });
  model.forward(batch.clean.slice(0, bs)).dispose(); // warm-up (kernels, XNNPACK weight packing)
  const t0 = performance.now();
  const cpu0 = process.cpuUsage(); // this process's threads (the workers' included): the machine may be shared
  const pool = threads > 1 ? await startPool(model, { threads, backend: 'wasm', task: { task: 'ioi' } }) : undefined;
  const poolSeconds = (performance.now() - t0) / 1000;
  let r: Awaited<ReturnType<typeof run>>;
  try {
    r = await run(model, 'ioi', { method: 'acdc', candidates: spec, n, seed: 0, batch, batchSize: bs, pool, modelName: 'gpt2-small (random)', backend: 'wasm' });
  } finally {
    pool?.close();
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const res = r.file.results;
  const scoring = res.candidates!.seconds;
  const acdcSeconds = (res.methodSeconds ?? 0) - scoring;
  const perEdge = acdcSeconds / Math.max(1, r.tested);
  const row: Record<string, unknown> = {
    prompts: n, chunk: bs, threads, candidates: spec, k: res.candidates!.k, edges: res.edgesTotal,
    totalSeconds: r.seconds + poolSeconds, poolStartSeconds: poolSeconds, discoverSeconds: r.seconds, scoringSeconds: scoring, acdcSeconds, tested: r.tested, secondsPerTestedEdge: perEdge,
    kept: res.edgesKept, faithfulness: res.faithfulness,
    // on a machine shared with other work the wall time overstates; CPU seconds / threads is the
    // wall time the run would take with its cores to itself
    cpuSeconds, uncontendedWallSeconds: cpuSeconds / threads,
  };
  console.log(`GPT-2-small shape, ${n} prompts, ${threads} threads, ${spec} (K = ${res.candidates!.k}): total ${(r.seconds + poolSeconds).toFixed(0)} s (pool ${poolSeconds.toFixed(0)} s, scoring ${scoring.toFixed(0)} s, ACDC ${acdcSeconds.toFixed(0)} s over ${r.tested} edges: ${perEdge.toFixed(2)} s each), ${res.edgesKept} edges kept, faithfulness ${res.faithfulness?.toFixed(3)}`);
  if (reduced) {
    // the full setting: 100 prompts, K = 5% of the edges; cost linear in prompts and in K
    const fullK = Math.round(0.05 * res.edgesTotal), scale = 100 / n;
    const other = r.seconds - (res.methodSeconds ?? 0);
    const projected = scoring * scale + perEdge * scale * fullK + other * scale + poolSeconds;
    const kPerHour = Math.floor((3600 - (scoring + other) * scale - poolSeconds) / (perEdge * scale));
    const share = Math.min(1, cpuSeconds / threads / (r.seconds + poolSeconds)); // the cores this run had
    row.projection = { prompts: 100, k: fullK, seconds: projected, hours: projected / 3600, kWithinOneHour: kPerHour, coreShare: share, uncontendedHours: projected * share / 3600 };
    console.log(`projected for 100 prompts, K = ${fullK} (eap-ig:0.05): ${(projected / 60).toFixed(0)} min as measured; ${(projected * share / 60).toFixed(0)} min with the cores to itself (it had ${(100 * share).toFixed(0)}% of them); K within 1 h as measured: ~${kPerHour}`);
  }
  results[reduced ? 'gpt2SmallReduced' : 'gpt2Small'] = row;
  model.dispose();
  save();
}

async function main(): Promise<void> {
  const backend = await initBackend('wasm');
  const prev = existsSync(OUT) ? (JSON.parse(readFileSync(OUT, 'utf8')) as Record<string, unknown>) : {};
  const results: Record<string, unknown> = { ...prev, machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version }, backend, date: new Date().toISOString() };
  const save = () => { mkdirSync(dirname(OUT), { recursive: true }); writeFileSync(OUT, JSON.stringify(results, null, 1) + '\n'); };
  if (only !== 'gpt2') await small(results, save);
  if (only !== 'small') await gpt2(results, save);
  console.log(`wrote ${OUT}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
