/** The common signature of discovery methods (DESIGN.md "Discovery methods"). */
import type { PatchingEngine } from '../patching/engine.js';
import type { CircuitEvaluator } from '../patching/chunked.js';
import type { Objective } from '../patching/objective.js';

export interface DiscoveryContext {
  /** the edge-masked forward over the whole batch (possibly chunked) */
  engine: CircuitEvaluator;
  objective: Objective;
  /**
   * Attribution methods differentiate one engine at a time: the batch's chunks, each with its
   * objective and weight (rows / total rows). Absent: `engine` is one PatchingEngine.
   */
  chunks?: Iterable<{ engine: PatchingEngine; objective: Objective; weight: number }>;
  /**
   * Attribution over other threads' rows (ParallelEngine): started before the local chunks,
   * the returned function waits and gives their row-weighted gradient sum.
   */
  remoteAttribution?: (alphas: number[]) => () => { data: Float64Array | null; seconds: number };
  /** how many chunks `chunks` yields (progress) */
  chunkCount?: number;
  /** progress callback (edges tested, edges total estimate, kept) */
  onProgress?: (p: Progress) => void;
}

export interface Progress { done: number; total: number; kept: number; note?: string }

export interface EdgeScore { edge: string; score: number }

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
}

export interface MethodOptions {
  threshold?: number;
  topN?: number;
  absValue?: boolean;
  /** ACDC speculative batch size (1 = sequential) */
  speculate?: number;
  /** ACDC: use layer-resumed evaluation */
  resume?: boolean;
  /** EAP-IG interpolation steps */
  steps?: number;
  checkpoint?: string;
  resumeFrom?: string;
  quiet?: boolean;
}
