/**
 * Circuits evaluated per second by the edge-masked forward (issue 3): one circuit per forward,
 * 16 circuits stacked in one batched forward, and layer-resumed (16 circuits that differ only
 * in edges into the last layer, run from a cached prefix of the layers before it). Writes
 * bench/results/patching.json with machine and backend.
 *
 *   npm run build && npm run bench:patching
 *   node dist/bench/patching.js --quick        # toy models only
 *
 * Models: the toy permute_lists (../shared/models), the shipped ioi-words, and a
 * GPT-2-small-shaped model with random weights (not with --quick); prompts 1, 4 and 20 (GPT-2
 * small: 1; 16 circuits of 4 prompts in one batch exceed the 4 GB wasm heap). Every mode returns the same logits (tests: test/integration/patching.test.ts);
 * random circuits keep each edge with probability 1/2, dead senders are not skipped (so every
 * mode computes every component).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { initBackend } from '../src/model/backend.js';
import { loadModel, shippedModelPath } from '../src/model/load-model.js';
import { tokenizerFor } from '../src/model/tokenizer.js';
import { PatchingEngine } from '../src/patching/engine.js';
import { ablationFor } from '../src/patching/ablation.js';
import { getTask } from '../src/tasks/registry.js';
import { resolveSharedModel } from '../src/tasks/shared-models.js';

const ROOT = process.cwd();
const quick = process.argv.includes('--quick');
const CIRCUITS = 16;

function timeIt(f: () => void, minMs = 300): number {
  f(); // warm-up
  let n = 0;
  const t = performance.now();
  do { f(); n++; } while (performance.now() - t < minMs);
  return (performance.now() - t) / n;
}

async function main(): Promise<void> {
  const backend = await initBackend((process.env.CIRCUITSCOPE_BACKEND as 'wasm') ?? 'auto');
  const rows: Record<string, unknown>[] = [];
  const out = join(ROOT, 'bench', 'results', quick ? 'patching.quick.json' : 'patching.json');
  const save = () => {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version }, backend, date: new Date().toISOString(), rows }, null, 1) + '\n');
  };
  const subjects: [string, string | null, string, number[]][] = [
    ['permute_lists (toy, 2 x 1 heads)', resolveSharedModel('permute_lists'), 'permute-lists', [1, 4, 20]],
    ['ioi-words (shipped, 2 x 4 heads + MLPs)', shippedModelPath('ioi-words') ? 'ioi-words' : null, 'ioi', [1, 4, 20]],
  ];
  // GPT-2 small: 1 prompt (16 circuits x 4 prompts in one batch exceed the 4 GB wasm heap)
  if (!quick) subjects.push(['gpt2-small shape (random weights)', 'gpt2-small', 'ioi', [1]]);
  for (const [name, spec, taskName, promptCounts] of subjects) {
    if (!spec) continue;
    const { model } = await loadModel(spec, { quiet: true });
    const task = getTask(taskName);
    for (const n of promptCounts) {
      const b = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n, seed: 0 });
      const engine = new PatchingEngine(model, b.clean, ablationFor('resample', b), { positions: b.positions });
      engine.skipDead = false;
      let seed = 1;
      const rnd = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
      const full = engine.fullMask();
      const masks = Array.from({ length: CIRCUITS }, () => full.map((v) => (v === 1 && rnd() < 0.5 ? 1 : 0)));
      // Layer-resumed: the circuits share masks[0]'s rows before the last layer.
      const stage = 2 * (model.cfg.nLayers - 1);
      const firstRow = engine.firstRowOfStage(stage);
      const S = engine.layout.senders.length;
      const tails = masks.map((m) => { const t = masks[0].slice(); t.set(m.subarray(firstRow * S), firstRow * S); return t; });
      const minMs = model.cfg.dModel >= 512 ? 1 : 300;
      const oneMs = timeIt(() => { for (const m of masks) engine.run([m]).dispose(); }, minMs);
      const batchedMs = timeIt(() => engine.run(masks).dispose(), minMs);
      let prefixMs = 0;
      const resumedMs = timeIt(() => {
        const t = performance.now();
        const p = engine.prefix(masks[0], stage);
        prefixMs = performance.now() - t;
        engine.run(tails, { from: p }).dispose();
        p.dispose();
      }, minMs);
      engine.dispose();
      const row = {
        model: name, prompts: n, tokens: b.clean[0].length, circuits: CIRCUITS,
        oneAtATime: { ms: oneMs, circuitsPerSecond: CIRCUITS / oneMs * 1000 },
        batched: { ms: batchedMs, circuitsPerSecond: CIRCUITS / batchedMs * 1000, speedup: oneMs / batchedMs },
        layerResumed: { ms: resumedMs, prefixMs, fromStage: stage, circuitsPerSecond: CIRCUITS / resumedMs * 1000, speedup: oneMs / resumedMs },
      };
      rows.push(row);
      save(); // after every row: a wasm abort later leaves what was measured
      console.log(`${name}, ${n} prompts: ${row.oneAtATime.circuitsPerSecond.toFixed(1)} circuits/s one at a time, ${row.batched.circuitsPerSecond.toFixed(1)} batched (${row.batched.speedup.toFixed(2)}x), ${row.layerResumed.circuitsPerSecond.toFixed(1)} layer-resumed (${row.layerResumed.speedup.toFixed(2)}x)`);
    }
    model.dispose();
  }
  save();
  console.log(`wrote ${out}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
