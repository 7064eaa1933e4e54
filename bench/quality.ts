/**
 * Circuit quality of every method on every task/model available here (issue 6): writes
 * bench/results/quality.json and regenerates the README table between the markers
 * `<!-- quality-table:begin -->` and `<!-- quality-table:end -->`.
 *
 *   npm run build && npm run bench:quality     # full run (a few minutes on 2 cores, wasm)
 *   node dist/bench/quality.js --quick         # smaller n and grids -> quality.quick.json, README untouched
 *
 * Tasks: the four toy models of ../shared/models with their published circuits (split
 * embedding: tok and pos senders), under zero ablation (the one that can see the constant
 * pos / special-token edges of those circuits) and resample ablation (the task's corrupted
 * prompts); and IOI on the shipped IOI model when models/ holds it (no reference circuit fits
 * its shape, so no AUC there). Per task x ablation x method, one `sweep` (src/eval/sweep.ts):
 * - ACDC: thresholds 10^linspace(-5, 0, 11) on KL; ROC = the sweep's points; CPR/CMD from the
 *   sweep's circuits (MIB's submission rule: the largest circuit within each size);
 * - ACDC over candidates: the same grid, each run testing only EAP-IG's best three quarters of the
 *   edges. On a 9-edge toy graph a quarter is 2 edges and a half 5, fewer than sort's 6-edge
 *   reference: ACDC then keeps nothing on sort under zero ablation (a partial sort circuit is worse
 *   than the empty one), and the CLI says so; 0.75 (7 edges) holds the reference.
 * - EAP, EAP-IG (5 steps), EAP-IG-activations, edge-pruning and mattr (learned masks, 300 steps,
 *   edge-pruning at its default densities 0.05 and 0.5, their default objectives): scores from one run; ROC = top-n for every n; CPR by signed
 *   score, CMD by |score|, MIB's 10 sizes (connected selections).
 * "Chosen" circuit: ACDC at tau = 0.01 (the CLI default); EAP/EAP-IG at top-n = the reference's
 * edge count (2% of the edges, at least 10, without a reference, the CLI default). Its
 * normalised faithfulness (m(C) - m(empty)) / (m(M) - m(empty)) with the task metric, and the
 * seconds of its discovery run (EAP/EAP-IG: the scoring run). All on n prompts, seed 0.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { initBackend, type BackendName } from '../src/model/backend.js';
import { loadModel, shippedModelPath } from '../src/model/load-model.js';
import { getTask } from '../src/tasks/registry.js';
import { repoRoot, resolveSharedModel } from '../src/tasks/shared-models.js';
import type { AblationKind } from '../src/patching/ablation.js';
import { sweep, defaultThresholds, type SweepResult } from '../src/eval/sweep.js';
import { referenceFromTask } from '../src/eval/reference.js';
import { compatibleReference } from '../src/eval/report.js';

const quick = process.argv.includes('--quick');
const noReadme = quick || process.argv.includes('--no-readme');
const ROOT = repoRoot();
/** Every method, and ACDC over EAP-IG's best three quarters of the edges; `label` names the row. */
const METHODS: { label: string; method: string; own?: Record<string, string | number> }[] = [
  { label: 'acdc', method: 'acdc' },
  { label: 'acdc over eap-ig:0.75', method: 'acdc', own: { candidates: 'eap-ig:0.75' } },
  { label: 'eap', method: 'eap' },
  { label: 'eap-ig', method: 'eap-ig' },
  { label: 'eap-ig-activations', method: 'eap-ig-activations' },
  { label: 'edge-pruning', method: 'edge-pruning', ...(quick ? { own: { trainSteps: 60 } } : {}) },
  { label: 'mattr', method: 'mattr', ...(quick ? { own: { trainSteps: 60 } } : {}) },
];

interface Row {
  task: string; model: string; ablation: AblationKind; method: string; n: number;
  edgesTotal: number; referenceEdges: number | null;
  edgeAuc: number | null; nodeAuc: number | null; cpr: number | null; cmd: number | null;
  chosen: string; chosenEdges: number; faithfulness: number | null; seconds: number;
  sweepPoints: number; sweepSeconds: number;
}

interface Job { task: string; model: string; spec: string; splitEmbed: boolean; ablations: AblationKind[]; n: number }

function jobs(): { list: Job[]; notes: string[] } {
  const list: Job[] = [], notes: string[] = [];
  const toy: [string, string][] = [['min-int', 'min_int'], ['majority-element', 'majority_element'], ['sort', 'sort_fixed_len_list'], ['permute-lists', 'permute_lists']];
  for (const [task, dir] of toy) {
    const p = resolveSharedModel(dir);
    if (!p) { notes.push(`${task}: ../shared/models/${dir} not found, left out`); continue; }
    list.push({ task, model: dir, spec: p, splitEmbed: true, ablations: ['zero', 'resample'], n: quick ? 24 : task === 'sort' ? 50 : 100 });
  }
  const ioi = ['ioi-words', 'ioi-2l'].find((m) => shippedModelPath(m));
  if (ioi) list.push({ task: 'ioi', model: ioi, spec: ioi, splitEmbed: false, ablations: ['resample'], n: quick ? 16 : 50 });
  else notes.push('ioi: no shipped IOI model under models/ (ioi-words), left out');
  return { list, notes };
}

function row(job: Job, ablation: AblationKind, method: string, s: SweepResult, refEdges: number | null): Row {
  let chosenIdx: number, chosen: string;
  if (method === 'acdc') {
    chosenIdx = s.points.findIndex((p) => p.threshold !== null && Math.abs(p.threshold - 0.01) < 1e-9);
    chosen = 'tau 0.01';
  } else {
    const k = refEdges ?? Math.min(s.edgesTotal, Math.max(10, Math.round(s.edgesTotal * 0.02)));
    chosenIdx = s.points.findIndex((p) => p.topN === k);
    chosen = `top ${k}`;
  }
  if (chosenIdx < 0) throw new Error(`quality: the ${method} sweep on ${job.task} has no point for ${chosen}`);
  const p = s.points[chosenIdx];
  return {
    task: job.task, model: job.model, ablation, method, n: s.n, edgesTotal: s.edgesTotal, referenceEdges: refEdges,
    edgeAuc: s.auc?.edge ?? null, nodeAuc: s.auc?.node ?? null, cpr: s.mib?.cpr ?? null, cmd: s.mib?.cmd ?? null,
    chosen, chosenEdges: p.edges, faithfulness: p.faithfulness,
    seconds: method === 'acdc' ? p.seconds : s.points[0].seconds, sweepPoints: s.points.length, sweepSeconds: s.seconds,
  };
}

const f3 = (x: number | null) => (x === null ? '—' : x.toFixed(3));

function table(rows: Row[]): string {
  const L = ['| task (model) | ablation | method | edge AUC | node AUC | CPR ↑ | CMD ↓ | chosen circuit | edges | faithfulness | seconds |', '|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    L.push(`| ${r.task} (${r.model}) | ${r.ablation} | ${r.method} | ${f3(r.edgeAuc)} | ${f3(r.nodeAuc)} | ${f3(r.cpr)} | ${f3(r.cmd)} | ${r.chosen} | ${r.chosenEdges} / ${r.edgesTotal} | ${f3(r.faithfulness)} | ${r.seconds.toFixed(1)} |`);
  }
  return L.join('\n');
}

async function main(): Promise<void> {
  const backend = await initBackend((process.env.CIRCUITSCOPE_BACKEND as BackendName | undefined) ?? 'auto');
  const { list, notes } = jobs();
  const rows: Row[] = [];
  const t0 = performance.now();
  for (const job of list) {
    const { model } = await loadModel(job.spec, { quiet: true });
    try {
      const task = getTask(job.task);
      const cfg = model.cfg;
      const { reference, note } = compatibleReference(task, { modelConfig: { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly } });
      if (note) notes.push(`${job.task} on ${job.model}: ${note}`);
      for (const ablation of job.ablations) {
        for (const { label, method, own } of METHODS) {
          const s = await sweep(model, task, {
            ...own, method, ablation, n: job.n, seed: 0, splitEmbed: job.splitEmbed, reference, modelName: job.model, backend,
            thresholds: method === 'acdc' ? (quick ? [1e-3, 1e-2, 1e-1, 1] : defaultThresholds()) : undefined,
          });
          const r = { ...row(job, ablation, method, s, reference ? referenceFromTask(task)!.edges.size : null), method: label };
          rows.push(r);
          process.stderr.write(`${job.task} ${ablation} ${label}: edge AUC ${f3(r.edgeAuc)}, CPR ${f3(r.cpr)}, CMD ${f3(r.cmd)}, faithfulness ${f3(r.faithfulness)} (${r.sweepSeconds.toFixed(1)} s sweep)\n`);
        }
      }
    } finally {
      model.dispose();
    }
  }
  const result = {
    bench: 'quality', createdAt: new Date().toISOString(), quick, backend,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '', node: process.version },
    definitions: {
      edgeAuc: "ACDC's pessimistic AUC of the edge ROC vs the reference (ACDC: threshold sweep; scored methods (EAP, EAP-IG, learned masks): every top-n)",
      nodeAuc: 'the same at node level (head inputs q/k/v are nodes apart from the head)',
      cpr: "MIB: area under normalised faithfulness over 10 circuit sizes (0.1%..100% of edges), linear axis; max 0.999",
      cmd: "MIB: area under |1 - faithfulness| over the same sizes; 0 is best",
      faithfulness: '(m(C) - m(empty)) / (m(M) - m(empty)) with the task metric at the chosen circuit',
      seconds: 'discovery of the chosen circuit (scored methods: the scoring run, e.g. 300 mask-training steps)',
    },
    notes, seconds: (performance.now() - t0) / 1000, rows,
  };
  const out = join(ROOT, 'bench', 'results', quick ? 'quality.quick.json' : 'quality.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 1) + '\n');
  process.stdout.write(table(rows) + '\n');
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  process.stderr.write(`wrote ${out}\n`);
  if (!noReadme) updateReadme(rows, notes, result.machine, backend);
}

function updateReadme(rows: Row[], notes: string[], machine: { cpus: number; cpu: string; node: string }, backend: string): void {
  const readme = join(ROOT, 'README.md');
  if (!existsSync(readme)) return;
  const text = readFileSync(readme, 'utf8');
  const begin = '<!-- quality-table:begin -->', end = '<!-- quality-table:end -->';
  const i = text.indexOf(begin), j = text.indexOf(end);
  if (i < 0 || j < i) { process.stderr.write(`README.md has no ${begin} ... ${end} region; table not written there\n`); return; }
  const body = [
    begin,
    `<!-- generated by bench/quality.ts (npm run bench:quality); edits here are overwritten -->`,
    table(rows),
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine.cpus} cores (${machine.cpu.trim()}), Node ${machine.node}, tfjs ${backend}; n prompts per row: ${[...new Set(rows.map((r) => `${r.task} ${r.n}`))].join(', ')}.`,
    ...notes.map((n) => `Note: ${n}.`),
    end,
  ].join('\n');
  writeFileSync(readme, text.slice(0, i) + body + text.slice(j + end.length));
  process.stderr.write('updated the README table\n');
}

main().catch((e: unknown) => { process.stderr.write(`bench/quality: ${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
