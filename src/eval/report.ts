/**
 * The evaluation section of `discover`'s HTML report: faithfulness, the MIB faithfulness
 * curve, the ROC against the task's reference circuit (when it has one for this model's
 * shape) and the overlay. Completeness and minimality are left to `circuitscope evaluate`
 * (they cost many more forwards). Given `discover`'s own evaluator, the section reuses its
 * measurements (the full model, the empty circuit, the circuit) rather than measuring again.
 */
import type { HookedTransformer } from '../model/transformer.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { circuitEdgeKeys, type CircuitFile } from '../graph/circuit-file.js';
import type { Task, TaskBatch } from '../tasks/types.js';
import type { MetricEvaluator } from '../patching/metrics.js';
import { evaluateCircuit, evaluatorFor, type Evaluation } from './evaluate.js';
import { evaluationSections } from './html.js';
import { referenceFromTask, type Reference } from './reference.js';
import type { WorkerPool } from '../parallel/pool.js';

/** The task's reference when it fits the circuit's model shape; otherwise null and why. */
export function compatibleReference(task: Task, file: Pick<CircuitFile, 'modelConfig'>): { reference: Reference | null; note: string | null } {
  let ref: Reference | null;
  try { ref = referenceFromTask(task); } catch (e) { return { reference: null, note: `reference circuit not loaded: ${(e as Error).message}` }; }
  if (!ref) return { reference: null, note: `task '${task.name}' has no reference circuit here` };
  const s = ref.shape, m = file.modelConfig;
  if (s && (s.nLayers !== m.nLayers || s.nHeads !== m.nHeads || s.attnOnly !== m.attnOnly)) {
    return { reference: null, note: `the reference '${ref.name}' is for a ${s.nLayers}-layer, ${s.nHeads}-head model, not this ${m.nLayers}-layer, ${m.nHeads}-head one` };
  }
  return { reference: ref, note: null };
}

export interface ReportOptions {
  /** the evaluator the circuit was measured with (discover's): used as is and left to the caller to dispose */
  evaluator?: MetricEvaluator;
  reference?: Reference | null;
  /** without `evaluator`: how to build one (the file's task prompts, ablation and split) */
  tokenizer?: Tokenizer;
  batch?: TaskBatch;
  batchSize?: number;
  pool?: WorkerPool;
}

/** Evaluate a discovered circuit for its report and render the sections. */
export async function reportSections(model: HookedTransformer, task: Task, file: CircuitFile, o: ReportOptions = {}): Promise<{ sections: string[]; evaluation: Evaluation }> {
  const { reference, note } = o.reference !== undefined ? { reference: o.reference, note: null } : compatibleReference(task, file);
  if (o.evaluator && o.evaluator.ablation !== file.ablation) throw new Error(`eval: the report's evaluator uses ${o.evaluator.ablation} ablation, but the circuit file says ${file.ablation}`);
  const ev = o.evaluator ?? await evaluatorFor(model, task, file, { tokenizer: o.tokenizer, batch: o.batch, batchSize: o.batchSize, pool: o.pool });
  try {
    const evaluation = await evaluateCircuit(ev, file, { criteria: false, reference });
    const sections = evaluationSections(evaluation, file.modelConfig, circuitEdgeKeys(file));
    if (note) sections.push(`<p class="note" style="color:#888;font-size:12px">ROC: ${note.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!)}.</p>`);
    return { sections, evaluation };
  } finally {
    if (ev !== o.evaluator) ev.dispose();
  }
}
