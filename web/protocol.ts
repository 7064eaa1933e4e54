/**
 * The messages between the page (./main.ts) and the engine's Web Worker (./worker.ts). A run
 * is one `run` request; the worker answers with stage / progress lines and then exactly one
 * `done` (the circuit file, as `discover --out` writes it, with its evaluation and plots) or
 * `error`. Cancel = the page terminates the worker.
 */
import type { CircuitFile } from '../src/graph/circuit-file.js';
import type { MethodOption } from '../src/discovery/registry.js';
import type { Evaluation } from '../src/eval/evaluate.js';
import type { PatchKind, PatchMode } from '../src/patching/activation.js';
import type { PatchOutput } from '../src/analysis/patch-run.js';

/** One discovery run, as the scriptable URL and the form describe it. */
export interface RunJob {
  /** a shipped model's name (served under models/<name>/) */
  model: string;
  task: string;
  method: string;
  n: number;
  seed: number;
  threshold?: number;
  topN?: number;
  ablation: 'resample' | 'zero' | 'mean';
  metric?: 'kl' | 'task';
  /** 'wasm' (default), 'webgpu', 'cpu' or 'auto' */
  backend: string;
  /** URL of the folder holding the shipped models and of the tfjs wasm binaries */
  base: string;
  /** a custom task's JSON (the prompt editor; `--data`'s format): runs it instead of `task` */
  customTask?: string;
  /** prompts per chunk (the CLI's `--batch-size`; same numbers, bounds memory); none: what fits */
  batchSize?: number;
  /** engine threads splitting the prompts (the CLI's `--workers`): a count or 'auto'; none: 1 */
  threads?: number | 'auto';
  /**
   * false: no evaluation after the run (no faithfulness curve, no ROC: the CLI's `--no-html`);
   * the `done` message then has evaluation null. Default true.
   */
  evaluate?: boolean;
  /**
   * the method's own options (the registry's, as the CLI's `--steps 3`), by their key
   * (`steps`, `trainSteps`): numbers already checked; an option the method does not take is
   * refused by the worker, as the CLI refuses it
   */
  own: Record<string, number | number[] | string | boolean>;
  /**
   * continue from this job's checkpoint (IndexedDB, ./checkpoints.ts) instead of starting over;
   * refused when none is saved or the method does not checkpoint
   */
  resume?: boolean;
}

/**
 * `model` in a job or request: a shipped model's name, a preset's (the CLI's: a model shape with
 * random weights, seed 0, `loadModelFrom`'s), or LOCAL_MODEL for the files the user gave.
 */
export const LOCAL_MODEL = 'local:';

/** A file the user picked or dropped, by its path in the picked folder ('hf-save/config.json') or its name. */
export interface PickedFile { path: string; file: File }

/** Where a request's model comes from, and the backend to run it on. */
export interface ModelRef { model: string; backend: string; base: string }

export type ToWorker =
  | { type: 'run'; job: RunJob }
  /** the user's model files (kept until replaced; a restarted worker is sent them again) */
  | { type: 'files'; id: number; files: PickedFile[]; backend: string; base: string }
  /** the next-token prediction at the last position of a prompt (the CLI's `logits --json`) */
  | { type: 'logits'; id: number; ref: ModelRef; text: string; top: number }
  /** tokenise and check a custom task's JSON against a model, as `--data` does */
  | { type: 'task-check'; id: number; ref: ModelRef; text: string }
  /**
   * the reference circuit to overlay on a circuit of this task and model shape: the task's
   * published one when it fits (`compatibleReference`), or `json` (a circuit file, MIB graph or
   * toy reference JSON the user opened, named `name`)
   */
  | {
    type: 'reference'; id: number; task: string; shape: { nLayers: number; nHeads: number; attnOnly: boolean }; splitEmbed: boolean; json?: string; name?: string;
    /** a run's circuit and its evaluation: the answer adds the ROC against this reference */
    evaluate?: { circuit: Pick<CircuitFile, 'edges' | 'splitEmbed' | 'modelConfig'>; evaluation: Evaluation };
  }
  /** one head's attention pattern on prompt `index` of the task (the CLI's `attention --task T --index I --seed S --heads L.H --json`) */
  | { type: 'attention'; id: number; ref: ModelRef; task: string; customTask?: string; seed: number; index: number; layer: number; head: number }
  /**
   * activation / path patching (`circuitscope patch --json`'s sweeps, src/analysis/patch-run.ts)
   * on prompt `index` of the task (built as `attention --task --index --seed` builds it), read at
   * its `position`-th metric position
   */
  | { type: 'patch'; id: number; ref: ModelRef; task: string; customTask?: string; seed: number; index: number; position: number; kinds: PatchKind[]; mode: PatchMode; senders: string[]; receivers: string[] };

/** One row of `logits`: as `circuitscope logits --json` prints it. */
export type { TopToken } from '../src/model/next-token.js';
import type { TopToken } from '../src/model/next-token.js';

/** A custom task's prompts as tokenised (token strings), for the editor. */
export interface TaskRow { clean: string[] | null; corrupt: string[] | null; answer: string; wrong: string[] }

export type Reply =
  | { type: 'files'; id: number; spec: string; summary: string }
  | { type: 'logits'; id: number; tokens: number[]; strTokens: string[]; top: TopToken[] }
  | { type: 'task-check'; id: number; name: string; metric: string; rows: TaskRow[]; error: string | null }
  /**
   * edges: the reference's edge keys on the circuit's embedding split (null, with `note`, when
   * none fits); with `evaluate` asked and a reference that fits, the evaluation with its
   * `reference` part against it, and that ROC drawn
   */
  | { type: 'reference'; id: number; name: string | null; source: string | null; edges: string[] | null; note: string | null; roc: { evaluation: Evaluation; svg: string | null } | null }
  /** pattern[dest][src], 0 above the diagonal */
  | { type: 'attention'; id: number; name: string; tokens: number[]; strTokens: string[]; pattern: number[][] }
  /**
   * output: what `patch --json` prints for that prompt; svgs: its heatmaps (`sweepSvgs`, one
   * shared scale, as `patch --svg / --html` draws them); text: the prompt and answers as text
   */
  | { type: 'patch'; id: number; output: PatchOutput; svgs: { name: string; svg: string }[]; text: { clean: string; corrupt: string; answer: string; wrong: string }; positions: number }
  | { type: 'failed'; id: number; message: string };

/** What the worker offers, sent once when it starts (the registries' entries). */
export interface Catalog {
  tasks: { name: string; description: string; defaultModel: string; fallbackModel: string | null }[];
  /** model presets (the CLI's `--model gpt2-small`): shapes with random weights */
  presets: string[];
  /** the kinds of patching (`patch --kind`) and its modes (`--mode`) */
  patchKinds: PatchKind[];
  patchModes: PatchMode[];
  /** `options`: the method's own options as the registry declares them (the CLI's flags) */
  methods: { name: string; kind: 'prune' | 'score'; defaultThreshold: number | null; aliasOf: string | null; options: MethodOption[]; checkpoints: boolean }[];
}

/**
 * A run's plots as SVG (src/eval/html.ts, as in `discover --html`'s report): faithfulness vs
 * edges when the circuit's edges are scored, and the edge ROC when a reference fits.
 */
export interface Plots { curve: string | null; roc: string | null }

export type FromWorker =
  | { type: 'ready'; catalog: Catalog }
  | { type: 'backend'; name: string; detail: string }
  | { type: 'stage'; stage: string }
  | { type: 'progress'; done: number; total: number; note: string }
  /**
   * the run's checkpoint: `resumed` (the run continues from the one saved at done/total) or
   * `saved` (one more save has committed, at done/total); `key`: its record (./checkpoints.ts)
   */
  | { type: 'checkpoint'; event: 'resumed' | 'saved'; key: string; done: number; total: number }
  /** evaluation: `discover --html`'s (faithfulness, the curve, the ROC when a reference fits), measured by the run's own evaluator */
  | { type: 'done'; file: CircuitFile; evaluation: Evaluation | null; plots: Plots }
  | { type: 'error'; message: string }
  | Reply;

/** What the models folder's index.json lists (written by the build). */
export interface ShippedModelIndex {
  models: { name: string; files: string[]; description: string }[];
}
