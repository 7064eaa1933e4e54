/**
 * `circuitscope evaluate --circuit c.json [--reference <task>|<file>|none]`: faithfulness
 * (F(C)/F(M) and normalised), completeness, minimality, the MIB curve with CPR/CMD (scored
 * circuits) and the ROC against a reference circuit (default: the task's, when it fits the
 * model). Reads circuitscope circuit files and EAP-IG / MIB graph JSON (those need --task and
 * --model). Prints a summary; writes `<circuit>.eval.json` and the circuit report with the
 * evaluation sections to `<circuit>.eval.html`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import type { LoadedModel } from '../../model/load-model.js';
import type { AblationKind } from '../../patching/ablation.js';
import { circuitNodes, readCircuitJson, type CircuitFile } from '../../graph/circuit-file.js';
import { circuitHtml } from '../../report/circuit-html.js';
import { getTask } from '../../tasks/registry.js';
import { loadCustomTask } from '../../tasks/custom.js';
import { resolveSharedModel } from '../../tasks/shared-models.js';
import type { Task } from '../../tasks/types.js';
import { evaluateCircuit, evaluationText, evaluatorFor, type Evaluation } from '../../eval/evaluate.js';
import { evaluationSections } from '../../eval/html.js';
import { resolveReference, type Reference } from '../../eval/reference.js';
import { compatibleReference } from '../../eval/report.js';
import { modelForTask } from './discover.js';
import { startWorkers, workersOption } from '../workers.js';
import { circuitTaskOptions } from '../options.js';

export interface LoadedCircuit { path: string; file: CircuitFile; imported: boolean }

/**
 * A circuit file, or an EAP-IG / MIB graph JSON turned into one (task, model, ablation, n and
 * seed from the options; tok/pos split when its edges use them).
 */
export function loadCircuit(path: string, o: { task?: string; model?: string; ablation?: string; n?: number; seed?: number } = {}): LoadedCircuit {
  let json: unknown;
  try { json = JSON.parse(readFileSync(path, 'utf8')); } catch (e) {
    throw new Error(`evaluate: cannot read circuit ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { edges, file } = readCircuitJson(json, path);
  if (file) return { path, file, imported: false };
  const kept = edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`);
  const split = edges.some((e) => e.from === 'tok' || e.from === 'pos');
  const cfg = (json as { cfg?: { n_layers?: number; n_heads?: number } }).cfg;
  const f: CircuitFile = {
    format: 'circuitscope-circuit', version: 1, model: o.model ?? '', task: o.task ?? '',
    modelConfig: { nLayers: cfg?.n_layers ?? 0, nHeads: cfg?.n_heads ?? 0, dModel: 0, attnOnly: !edges.some((e) => /^m\d+$/.test(e.from)) },
    method: 'imported', threshold: null, topN: null, metric: '', ablation: o.ablation ?? 'resample', splitEmbed: split,
    n: o.n ?? 100, seed: o.seed ?? 0, backend: '', processing: [], createdAt: new Date().toISOString(),
    nodes: circuitNodes(kept), edges,
    results: { metric: '', clean: NaN, corrupted: NaN, circuit: NaN, faithfulness: null, klCircuit: NaN, edgesKept: kept.length, edgesTotal: edges.length, seconds: 0, forwards: 0, backwards: 0 },
  };
  return { path, file: f, imported: true };
}

/** The task (--task / --data, else the file's) and the model (--model, else the file's). */
export async function taskAndModel(file: CircuitFile, o: { task?: string; data?: string; model?: string; config?: string; processing?: string[]; quiet: boolean }, what: string): Promise<{ task: Task; loaded: LoadedModel; modelName: string }> {
  const task = o.data ? loadCustomTask(o.data) : getTask(o.task ?? (file.task || (() => { throw new Error(`${what}: the circuit names no task; pass --task or --data`); })()));
  const spec = o.model ?? (file.model ? resolveSharedModel(file.model) ?? file.model : undefined);
  if (!spec) throw new Error(`${what}: the circuit names no model; pass --model`);
  const { loaded, name } = await modelForTask(task, spec, { config: o.config, processing: o.processing ?? (file.processing.length ? file.processing : undefined), quiet: o.quiet });
  const c = loaded.model.cfg;
  const m = file.modelConfig;
  if (m.nLayers && (m.nLayers !== c.nLayers || m.nHeads !== c.nHeads || m.attnOnly !== c.attnOnly)) {
    loaded.model.dispose();
    throw new Error(`${what}: the circuit is for a ${m.nLayers}-layer, ${m.nHeads}-head model but ${spec} has ${c.nLayers} layers and ${c.nHeads} heads; pass the right --model`);
  }
  return { task, loaded, modelName: name };
}

/** `--reference`: 'none', a task name or a file; default the task's reference when it fits. */
export function referenceOption(spec: string | undefined, task: Task, file: CircuitFile, quiet: boolean): Reference | null {
  if (spec === 'none') return null;
  if (spec) return resolveReference(spec);
  const { reference, note } = compatibleReference(task, file);
  if (note && !quiet) process.stderr.write(`note: no ROC: ${note}\n`);
  return reference;
}

interface EvaluateArgs {
  backend: BackendName;
  circuit: string;
  reference?: string;
  task?: string;
  data?: string;
  model?: string;
  config?: string;
  processing?: string[];
  ablation?: AblationKind;
  n?: number;
  seed?: number;
  samples: number;
  greedySteps: number;
  batchSize?: number;
  workers: string;
  criteria: boolean;
  countDirect: boolean;
  scoreSign: 'auto' | 'higher' | 'lower';
  out?: string;
  html?: string;
  json: boolean;
  quiet: boolean;
}

export const evaluateCommand: CommandModule<object, EvaluateArgs> = {
  command: 'evaluate',
  describe: 'Faithfulness, completeness, minimality, CPR/CMD and ROC vs a reference for a circuit file',
  builder: (y: Argv<object>) => y
    .option('circuit', { type: 'string', demandOption: true, describe: 'circuit JSON (circuitscope, or EAP-IG/MIB graph JSON with --task and --model)' })
    .option('reference', { type: 'string', describe: "reference circuit: a task name, a file (circuit / MIB / reference_circuit.json), or 'none' (default: the task's)" })
    .options(circuitTaskOptions("the circuit's"))
    .option('ablation', { choices: ['resample', 'zero', 'mean'] as const, describe: "ablation of edges outside the circuit (default: the circuit's; the IOI paper uses mean)" })
    .option('n', { type: 'number', describe: "number of prompts (default: the circuit's)" })
    .option('seed', { type: 'number', describe: "prompt seed (default: the circuit's; another seed gives held-out prompts)" })
    .option('samples', { type: 'number', default: 16, describe: 'random subsets K for completeness and minimality' })
    .option('greedy-steps', { type: 'number', default: 4, describe: 'greedy completeness search steps' })
    .option('batch-size', { type: 'number', describe: 'run the prompts in chunks of this many rows (bounds memory; same numbers)' })
    .option('workers', workersOption)
    .option('criteria', { type: 'boolean', default: true, describe: 'completeness and minimality (--no-criteria skips them)' })
    .option('count-direct', { type: 'boolean', default: false, describe: "edge ROC with ACDC's q/k/v direct edges counted" })
    .option('score-sign', { choices: ['auto', 'higher', 'lower'] as const, default: 'auto' as const, describe: "which edge scores are important for CPR's signed ranking (auto: by method; EAP/EAP-IG lower, ACDC and imported files higher)" })
    .option('out', { type: 'string', describe: 'evaluation JSON (default <circuit>.eval.json)' })
    .option('html', { type: 'string', describe: 'report with the evaluation (default <circuit>.eval.html)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the evaluation JSON instead of the summary' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no notices' })
    .check((a) => {
      for (const k of ['n', 'samples', 'greedySteps'] as const) {
        const v = a[k];
        if (v !== undefined && !(Number.isInteger(v) && (v as number) >= (k === 'n' ? 1 : 0))) throw new Error(`--${k === 'greedySteps' ? 'greedy-steps' : k} must be a ${k === 'n' ? 'positive' : 'non-negative'} integer, got ${v}`);
      }
      return true;
    }) as unknown as Argv<EvaluateArgs>,
  handler: async (argv: ArgumentsCamelCase<EvaluateArgs>) => {
    const backend = await initBackend(argv.backend);
    const { file, imported } = loadCircuit(argv.circuit, { task: argv.task, model: argv.model, ablation: argv.ablation, n: argv.n, seed: argv.seed });
    const { task, loaded } = await taskAndModel(file, argv, 'evaluate');
    const pool = await startWorkers(loaded.model, argv.workers, backend, argv.n ?? file.n);
    try {
      const cfg = loaded.model.cfg;
      if (imported) file.modelConfig = { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly };
      const reference = referenceOption(argv.reference, task, file, argv.quiet || argv.json);
      const ev = evaluatorFor(loaded.model, task, file, { n: argv.n, seed: argv.seed, ablation: argv.ablation, batchSize: argv.batchSize, pool });
      let e: Evaluation;
      try {
        e = evaluateCircuit(ev, file, { reference, countDirect: argv.countDirect, criteria: argv.criteria, scoreSign: argv.scoreSign === 'auto' ? undefined : argv.scoreSign === 'higher' ? 1 : -1, samples: argv.samples, greedySteps: argv.greedySteps, source: argv.circuit });
      } finally {
        ev.dispose();
      }
      if (imported && e.faithfulness) {
        const f = e.faithfulness;
        file.metric = f.metric;
        file.results = { ...file.results, metric: f.metric, clean: f.full, corrupted: f.empty, circuit: f.circuit, faithfulness: f.normalised, klCircuit: f.kl };
      }
      const base = argv.circuit.replace(/\.json$/, '');
      const out = argv.out ?? `${base}.eval.json`, html = argv.html ?? `${base}.eval.html`;
      for (const p of [out, html]) mkdirSync(dirname(resolve(p)), { recursive: true });
      writeFileSync(out, JSON.stringify(e, null, 1) + '\n');
      const kept = new Set(file.edges.filter((x) => x.inCircuit).map((x) => `${x.from}->${x.to}`));
      writeFileSync(html, circuitHtml(file, evaluationSections(e, file.modelConfig, kept)));
      process.stdout.write((argv.json ? JSON.stringify(e, null, 1) : evaluationText(e)) + '\n');
      if (!argv.quiet && !argv.json) process.stderr.write(`wrote ${out}, ${html}\n`);
    } finally {
      pool?.close();
      loaded.model.dispose();
    }
  },
};
