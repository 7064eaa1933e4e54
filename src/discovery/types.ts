/** The common signature of discovery methods (docs/methods.md). */
import type { CircuitEvaluator } from '../patching/evaluator.js';
import type { Objective } from '../patching/objective.js';

/**
 * What a method sees: one engine over the whole batch (how it splits rows into chunks or
 * threads is the engine's business), the objective, and a progress callback.
 */
export interface DiscoveryContext {
  /** evaluate circuits (`run`), attribute (`attribute`), resume from prefixes (`prefix`) */
  engine: CircuitEvaluator;
  objective: Objective;
  /** progress callback (edges tested, edges total estimate, kept) */
  onProgress?: (p: Progress) => void;
  /**
   * A prune method's first scoring pass (ACDC's --candidates): an attribution engine over the
   * same rows, streaming its chunks, built on demand and disposed by the caller, so the pruning
   * engine holds no attribution state (its sender deltas: as much again as its caches).
   */
  scoringEngine?: () => CircuitEvaluator;
}

export interface Progress { done: number; total: number; kept: number; note?: string }

export interface DiscoveryResult {
  method: string;
  /** score per edge (ACDC: effect of removing it; EAP: attribution); edges never tested have none */
  scores: Map<string, number>;
  /** the selected circuit (before dangling-node pruning for ACDC; see selection) */
  circuit: Set<string>;
  /** forward-pass equivalents spent (one batch row of one circuit = 1/C of a batched pass) */
  forwards: number;
  backwards: number;
  trace: { edge: string; score: number; kept: boolean }[];
  /** attribution methods: seconds in the forward + backward passes and score contractions */
  attributionSeconds?: number;
  /** ACDC over candidates: the scoring method, the candidate count, and its seconds */
  candidates?: { method: string; k: number; seconds: number };
}

/** A place for one checkpoint (text). Discovery touches no file system: the caller supplies this. */
export interface CheckpointStore {
  /** how to name it in messages (e.g. the file path) */
  readonly name: string;
  /** the saved text, or null when nothing is saved */
  load(): Promise<string | null>;
  /** replace the saved text (atomically where the medium allows) */
  save(text: string): Promise<void>;
}

/**
 * The options a method declares as its own (the registry's `options`: CLI flags like --steps);
 * `MethodOption.key` names one of these, so this interface is the one list of them.
 */
export interface OwnMethodOptions {
  absValue?: boolean;
  /** ACDC speculative batch size (1 = sequential) */
  speculate?: number;
  /** EAP-IG interpolation steps */
  steps?: number;
  /**
   * ACDC over candidates: `method:K` (e.g. `eap-ig:200`, `eap:0.05`): score every edge with
   * that method first, then test only the K best (a fraction when below 1, `all`: every edge)
   */
  candidates?: string;
  /** learned masks (edge-pruning): optimisation steps */
  trainSteps?: number;
  /** edge-pruning: target fraction of the edges kept, or a ladder of them (one training run each; see edge-pruning.ts) */
  density?: number | readonly number[];
  /** learned masks: Adam learning rate */
  lr?: number;
}

export interface MethodOptions extends OwnMethodOptions {
  threshold?: number;
  topN?: number;
  /** ACDC: use layer-resumed evaluation */
  resume?: boolean;
  /** the run's seed (learned masks draw their gates from it) */
  seed?: number;
  /** where a checkpointing method saves its progress (the CLI: a file; a browser: storage) */
  checkpoint?: CheckpointStore;
  /** start from the checkpoint's saved state, if it holds one */
  resumeFrom?: CheckpointStore;
  /** the run's settings; a checkpoint of other settings is refused */
  checkpointKey?: string;
  quiet?: boolean;
}
