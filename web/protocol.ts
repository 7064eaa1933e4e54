/**
 * The messages between the page (./main.ts) and the engine's Web Worker (./worker.ts). A run
 * is one `run` request; the worker answers with stage / progress lines and then exactly one
 * `done` (the circuit file, as `discover --out` writes it) or `error`. Cancel = the page
 * terminates the worker.
 */
import type { CircuitFile } from '../src/graph/circuit-file.js';

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
}

export type ToWorker = { type: 'run'; job: RunJob };

/** What the worker offers, sent once when it starts (the registries' entries). */
export interface Catalog {
  tasks: { name: string; description: string; defaultModel: string; fallbackModel: string | null }[];
  methods: { name: string; kind: 'prune' | 'score'; defaultThreshold: number | null; aliasOf: string | null }[];
}

export type FromWorker =
  | { type: 'ready'; catalog: Catalog }
  | { type: 'backend'; name: string; detail: string }
  | { type: 'stage'; stage: string }
  | { type: 'progress'; done: number; total: number; note: string }
  | { type: 'done'; file: CircuitFile }
  | { type: 'error'; message: string };

/** What the models folder's index.json lists (written by the build). */
export interface ShippedModelIndex {
  models: { name: string; files: string[]; description: string }[];
}
