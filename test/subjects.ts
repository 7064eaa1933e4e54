/**
 * Models and prompt batches the patching-engine tests run on: the HF fixture GPT-2 (LN, MLPs,
 * 50,257-token vocabulary), the permute_lists toy model (split embedding), optionally the other
 * toy models of ../shared/models, and a random shortformer model with LN (split and not).
 */
import { loadModel } from '../src/model/load-model.js';
import { HookedTransformer } from '../src/model/transformer.js';
import { finalizeConfig } from '../src/model/config.js';
import { randomStateDict } from '../src/model/weights.js';
import { Rng } from '../src/util/rng.js';
import { permuteLists } from '../src/tasks/toy/generators.js';
import { SHARED } from './helpers.js';
import { FIXTURE_MODEL } from './fixture.js';

export interface Subject { name: string; model: HookedTransformer; clean: number[][]; corrupt: number[][]; splitEmbed: boolean }

export async function patchingSubjects(seed: number, opts: { allToys?: boolean } = {}): Promise<Subject[]> {
  const subjects: Subject[] = [];
  const rng = new Rng(seed);
  const gpt = (await loadModel(FIXTURE_MODEL, { quiet: true })).model;
  const tok = (n: number, t: number) => Array.from({ length: n }, () => Array.from({ length: t }, () => rng.int(0, 50257)));
  subjects.push({ name: 'hf-gpt2-tiny', model: gpt, clean: tok(3, 7), corrupt: tok(3, 7), splitEmbed: false });
  const perm = (await loadModel(`${SHARED}models/permute_lists`, { quiet: true })).model;
  const a = permuteLists(4, 1), b = permuteLists(4, 2);
  subjects.push({ name: 'permute_lists', model: perm, clean: a.tokens, corrupt: b.tokens, splitEmbed: true });
  if (opts.allToys) {
    for (const [dir, vocab, T] of [['min_int', 201, 3], ['majority_element', 52, 12], ['sort_fixed_len_list', 52, 22]] as const) {
      const m = (await loadModel(`${SHARED}models/${dir}`, { quiet: true })).model;
      const rows = (n: number) => Array.from({ length: n }, () => Array.from({ length: T }, () => rng.int(0, vocab)));
      subjects.push({ name: dir, model: m, clean: rows(3), corrupt: rows(3), splitEmbed: true });
    }
  }
  // attn-only-4l's architecture (shortformer positions, LN), small, random weights.
  const cfg = finalizeConfig({ nLayers: 2, nHeads: 3, dModel: 24, dHead: 8, nCtx: 16, dVocab: 40, attnOnly: true, normalizationType: 'LN', positionalEmbeddingType: 'shortformer' }, 'tiny-shortformer');
  const sf = HookedTransformer.fromStateDict(cfg, randomStateDict(cfg, 5, 0.5));
  const toks = (n: number) => Array.from({ length: n }, () => Array.from({ length: 6 }, () => rng.int(0, 40)));
  subjects.push({ name: 'shortformer', model: sf, clean: toks(3), corrupt: toks(3), splitEmbed: false });
  subjects.push({ name: 'shortformer-split', model: sf, clean: toks(3), corrupt: toks(3), splitEmbed: true });
  return subjects;
}

export function disposeSubjects(subjects: Subject[]): void {
  for (const m of new Set(subjects.map((s) => s.model))) m.dispose();
}
