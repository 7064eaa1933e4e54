/** The common signature of discovery methods (DESIGN.md "Discovery methods"). */
import type { PatchingEngine } from '../patching/engine.js';
import type { Objective } from './objective.js';

export interface DiscoveryContext {
  engine: PatchingEngine;
  objective: Objective;
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
