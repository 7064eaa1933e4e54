/**
 * Retrain the models the project ships (models/<name>/): `npm run train:models`, or
 * `tsx src/train/ship.ts [--only <name>] [--out <dir>] [--backend wasm|cpu|...]`.
 * Fixed seeds and a deterministic data order: on the same backend a rerun gives the same
 * weights. Prints each model's held-out scores and wall time, and writes them into its
 * config.json (`training`) and README.md.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKENDS, initBackend, type BackendName } from '../model/backend.js';
import { exportModel } from './export.js';
import { HELD_OUT_NAMES, HELD_OUT_TEMPLATES, IOI_NAME, IOI_RECIPE, trainIoi } from './ioi-words.js';
import { PERMUTE_NAME, PERMUTE_RECIPE, trainPermuteLists } from './permute-lists.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), inDist() ? '../../..' : '../..');
function inDist(): boolean { return /[\\/]dist[\\/]src[\\/]train$/.test(dirname(fileURLToPath(import.meta.url))); }

const COMMAND = 'npm run train:models';
const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function sizeKb(cfgParams: number): string { return `${Math.round(cfgParams * 4 / 1024)} KiB`; }

async function main(): Promise<void> {
  const only = arg('only');
  const out = resolve(arg('out') ?? join(ROOT, 'models'));
  const backendArg = (arg('backend') ?? 'wasm') as BackendName;
  if (!BACKENDS.includes(backendArg)) throw new Error(`ship: unknown backend '${backendArg}' (${BACKENDS.join(', ')})`);
  const backend = await initBackend(backendArg);
  const known = [PERMUTE_NAME, IOI_NAME];
  if (only && !known.includes(only)) throw new Error(`ship: unknown model '${only}' (known: ${known.join(', ')})`);
  const log = (s: string) => process.stderr.write(`  ${s}\n`);
  const date = new Date().toISOString().slice(0, 10);

  if (!only || only === PERMUTE_NAME) {
    process.stderr.write(`training ${PERMUTE_NAME} on ${backend}\n`);
    const t0 = performance.now();
    const r = trainPermuteLists(PERMUTE_RECIPE, log);
    const seconds = (performance.now() - t0) / 1000;
    const sd = r.model.stateDict();
    const nParams = [...r.model.variables.values()].reduce((a, v) => a + v.size, 0);
    const c = r.model.cfg;
    const training = {
      task: 'permute-lists', recipe: PERMUTE_RECIPE, backend, steps: r.result.steps, trainSeconds: r4(r.result.seconds), wallSeconds: r4(seconds),
      finalTrainLoss: r4(r.result.losses.slice(-50).reduce((a, x) => a + x, 0) / 50),
      heldOutAccuracy: r.heldOut.accuracy, heldOutLoss: r.heldOut.loss, heldOutRows: r.heldOut.n, heldOutSeed: r.heldOut.seed,
      heldOutRule: 'lists whose hash (isHeldOutList, src/train/permute-lists.ts) is 0 mod 10 are never trained on',
      command: COMMAND, date,
    };
    const readme = `# ${PERMUTE_NAME}

Trained by this project (\`${COMMAND}\`, src/train/permute-lists.ts) on the permute-lists task
(src/tasks/toy/generators.ts: \`[BOS=52, a0,a1,a2, MID=51, p0,p1,p2, END=50, ans0,ans1,ans2]\`,
predictions at positions 8, 9, 10; a fresh permutation per row).

- Architecture: ${c.nLayers} layers, ${c.nHeads} head per layer, attention-only, d_model = d_head = ${c.dModel}, n_ctx ${c.nCtx},
  vocab ${c.dVocab} -> ${c.dVocabOut}, learned positions, no LayerNorm, biases frozen at zero (${nParams} trained parameters, ${sizeKb(nParams)} float32).
- Training: Adam (beta2 0.98, decoupled weight decay ${PERMUTE_RECIPE.weightDecay}), peak lr ${PERMUTE_RECIPE.lr}, warm-up then cosine,
  batch ${PERMUTE_RECIPE.batch}, ${r.result.steps} steps, seed ${PERMUTE_RECIPE.seed}, backend ${backend}; ${seconds.toFixed(0)} s wall.
- Held-out lists (one in ten list triples, by a hash, never trained on), ${r.heldOut.n} fresh draws (seed ${r.heldOut.seed}):
  **accuracy ${r.heldOut.accuracy.toFixed(4)}**, loss ${r.heldOut.loss.toExponential(2)}.
`;
    exportModel(join(out, PERMUTE_NAME), c, sd, { training, readme });
    process.stderr.write(`${PERMUTE_NAME}: held-out accuracy ${r.heldOut.accuracy.toFixed(4)} in ${seconds.toFixed(1)} s -> ${join(out, PERMUTE_NAME)}\n`);
    r.model.dispose();
  }

  if (!only || only === IOI_NAME) {
    process.stderr.write(`training ${IOI_NAME} on ${backend}\n`);
    const t0 = performance.now();
    const r = trainIoi(IOI_RECIPE, log);
    const seconds = (performance.now() - t0) / 1000;
    const sd = r.model.stateDict();
    const nParams = [...r.model.variables.values()].reduce((a, v) => a + v.size, 0);
    const c = r.model.cfg;
    const h = r.heldOut, t = r.train;
    const training = {
      task: 'ioi (word level)', recipe: IOI_RECIPE, backend, steps: r.result.steps, trainSeconds: r4(r.result.seconds), wallSeconds: r4(seconds),
      finalTrainLoss: r4(r.result.losses.slice(-50).reduce((a, x) => a + x, 0) / 50),
      heldOut: { ...h, names: HELD_OUT_NAMES, templates: HELD_OUT_TEMPLATES.flatMap((i) => [`A${i}`, `B${i}`]) },
      train: t,
      command: COMMAND, date,
    };
    const readme = `# ${IOI_NAME}

A small GPT-2-style model trained by this project (\`${COMMAND}\`, src/train/ioi-words.ts) on
synthetic IOI sentences over a word-level vocabulary of ${c.dVocab} tokens (\`<|endoftext|>\`, the
words and punctuation of the IOI templates, places, objects, the 99 names; config.json
\`tokenizer_name: "word"\`, \`tokenizer_vocab\`). It is the IOI task's fallback model when GPT-2 small
is not in the Hugging Face cache.

- Architecture: ${c.nLayers} layers, ${c.nHeads} heads (d_head ${c.dHead}), d_model ${c.dModel}, d_mlp ${c.dMlp} (gelu_new), LayerNorm,
  learned positions, n_ctx ${c.nCtx}, tied embeddings (W_U = W_E^T, b_U = 0).
- Names: each name's embedding is a fixed random code (in a ${IOI_RECIPE.codeDim}-dimensional random subspace, drawn from the seed)
  plus one trained vector shared by all names, so no name is learned individually; a share of the training
  batches growing from 0 to ${IOI_RECIPE.resampleCodes} draws fresh codes, so the mechanism works for any code.
- Training: loss at the last token only (target: the IO name) of "Then, Mary and John went to the store. John
  gave a ring to"-style prompts, ABBA and BABA, BOS on half the rows; Adam (beta2 0.98, weight decay
  ${IOI_RECIPE.weightDecay}), peak lr ${IOI_RECIPE.lr}, warm-up then cosine, batch ${IOI_RECIPE.batch}, ${r.result.steps} steps, seed ${IOI_RECIPE.seed}, backend
  ${backend}; ${seconds.toFixed(0)} s wall. ${nParams} trained parameters.
- Held out (never in a training sentence): the names ${HELD_OUT_NAMES.join(', ')}; templates
  ${HELD_OUT_TEMPLATES.map((i) => `A${i}/B${i}`).join(', ')}.

| split (${h.n} prompts each) | logit diff IO - S | accuracy (argmax = IO) | IO > S | loss |
|---|---|---|---|---|
| held-out names x held-out templates (seed ${h.seed}) | **${h.logitDiff.toFixed(2)}** | **${h.accuracy.toFixed(4)}** | ${h.fracCorrect.toFixed(4)} | ${h.loss.toFixed(4)} |
| training names x training templates (seed ${t.seed}) | ${t.logitDiff.toFixed(2)} | ${t.accuracy.toFixed(4)} | ${t.fracCorrect.toFixed(4)} | ${t.loss.toFixed(4)} |
`;
    exportModel(join(out, IOI_NAME), c, sd, { training, readme });
    process.stderr.write(`${IOI_NAME}: held-out logit diff ${h.logitDiff.toFixed(3)}, accuracy ${h.accuracy.toFixed(4)} in ${seconds.toFixed(1)} s -> ${join(out, IOI_NAME)}\n`);
    r.model.dispose();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
