/**
 * The four toy tasks of the shared toy models (docs/tasks.md "Toy tasks"): min-int,
 * majority-element, sort and permute-lists, with the token-id generators of ./toy/generators.ts.
 *
 * Corruption: the corrupted batch is another, independent draw from the same generator (seed
 * derived from the build seed), so every corrupted row is a valid input of the same format
 * whose answer is (almost always) different; special tokens (BOS, MID, END, '=') stay where
 * they are. Metrics at the scored positions: mean log-probability of the label (primary;
 * negative cross-entropy, the models' reported mean loss negated), the label's logit, and
 * accuracy (argmax over the output vocabulary, as the models' reported accuracy).
 *
 * Models: the default is the shared model's folder name (`min_int`, ...), which the CLI
 * resolves with `resolveSharedModel` (./shared-models.ts) when the shared models are present;
 * permute-lists falls back to the project's own shipped `permute-lists-2l`. Reference
 * circuits are read from the shared folder's reference_circuit.json when asked for.
 */
import * as tf from '@tensorflow/tfjs';
import { accuracy, answerLogProb, klDivergence, pick } from './metrics.js';
import { toyReference } from './references.js';
import { TOY_GENERATORS, type ToyTaskName } from './toy/generators.js';
import type { BuildContext, Task, TaskBatch, TaskMetric } from './types.js';

export interface ToyTaskSpec {
  name: ToyTaskName;
  /** the model's folder name among the shared models (see ./shared-models.ts) */
  sharedModel: string;
  fallbackModel: string | null;
  description: string;
}

export const TOY_TASK_SPECS: readonly ToyTaskSpec[] = Object.freeze([
  { name: 'min-int', sharedModel: 'min_int', fallbackModel: null, description: 'min(a, b) of two ints in [0, 200): [a, b, =] -> min at "="' },
  { name: 'majority-element', sharedModel: 'majority_element', fallbackModel: null, description: 'majority element of 10 ints in [0, 50): [BOS, x1..x10, END] -> majority at END' },
  { name: 'sort', sharedModel: 'sort_fixed_len_list', fallbackModel: null, description: 'sort 10 ints in [0, 50): [BOS, a1..a10, MID, s1..s10], predicted at MID, s1..s9' },
  { name: 'permute-lists', sharedModel: 'permute_lists', fallbackModel: 'permute-lists-2l', description: 'apply a permutation of 3 to a 3-list: [BOS, a0..a2, MID, p0..p2, END, ans0..ans2], predicted at END, ans0, ans1' },
] as ToyTaskSpec[]);

/** Seed of the independent corrupted draw. */
export function corruptSeed(seed: number): number {
  return (Math.imul(seed >>> 0, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0;
}

const metric = (logits: tf.Tensor3D, b: TaskBatch) => answerLogProb(logits, b.answers);

export const TOY_METRICS: readonly TaskMetric[] = Object.freeze([
  { name: 'logprob', description: 'mean log-probability of the label at the scored positions (negative loss)', higherIsBetter: true, needsClean: false, compute: metric },
  { name: 'answer-logit', description: 'mean logit of the label at the scored positions', higherIsBetter: true, needsClean: false, compute: (l: tf.Tensor3D, b: TaskBatch) => tf.tidy(() => tf.mean(pick(l, b.answers)) as tf.Scalar) },
  { name: 'accuracy', description: 'fraction of scored positions whose argmax is the label', higherIsBetter: true, needsClean: false, compute: (l: tf.Tensor3D, b: TaskBatch) => accuracy(l, b.answers) },
  {
    name: 'kl', description: 'KL(clean || patched) at the scored positions', higherIsBetter: false, needsClean: true,
    compute: (l: tf.Tensor3D, _b: TaskBatch, clean?: tf.Tensor3D) => {
      if (!clean) throw new Error('toy: the kl metric needs the clean logits');
      return klDivergence(clean, l);
    },
  },
]);

export function makeToyTask(spec: ToyTaskSpec): Task {
  const gen = TOY_GENERATORS[spec.name];
  const build = (_ctx: BuildContext, { n, seed }: { n: number; seed: number }): TaskBatch => {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${spec.name}: n must be a positive integer, got ${n}`);
    const clean = gen(n, seed), corrupt = gen(n, corruptSeed(seed));
    return {
      clean: clean.tokens,
      corrupt: corrupt.tokens,
      positions: clean.tokens.map(() => [...clean.positions]),
      answers: clean.labels,
      wrong: clean.labels.map((r) => r.map(() => [])),
      meta: { corruptLabels: corrupt.labels },
    };
  };
  return Object.freeze({
    name: spec.name,
    description: spec.description,
    defaultModel: spec.sharedModel,
    fallbackModel: spec.fallbackModel,
    build,
    metric,
    metricName: 'logprob',
    metrics: TOY_METRICS,
    loadReference: () => toyReference(spec.sharedModel),
  });
}

export const toyTasks: readonly Task[] = Object.freeze(TOY_TASK_SPECS.map(makeToyTask));
