/**
 * What an edge outside the circuit carries (docs/patching.md "Ablations"): its sender's
 * output on the corrupted prompts (resample), zeros (zero), or the per-position mean over a
 * reference batch (mean; the task's corrupted prompts).
 */
import type { TaskBatch } from '../tasks/types.js';

export type Ablation =
  | { kind: 'resample'; corrupt: number[][] }
  | { kind: 'zero' }
  | { kind: 'mean'; reference: number[][] };

export type AblationKind = Ablation['kind'];

export function ablationFor(kind: AblationKind, batch: TaskBatch): Ablation {
  if (kind === 'resample') return { kind: 'resample', corrupt: batch.corrupt };
  if (kind === 'zero') return { kind: 'zero' };
  // mean over the task's reference (corrupted) distribution, per position
  return { kind: 'mean', reference: batch.corrupt };
}

/** The ablation of rows [s, e) of a batch: resampling takes those rows' corrupted prompts; zero and mean ablations are the whole batch's. */
export function ablationRows(ablation: Ablation, s: number, e: number): Ablation {
  return ablation.kind === 'resample' ? { kind: 'resample', corrupt: ablation.corrupt.slice(s, e) } : ablation;
}
