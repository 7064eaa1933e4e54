/**
 * Tasks on real models: the toy tasks reach their models' published accuracy through the task
 * interface (build -> forward -> logits at the batch's positions -> the task's accuracy
 * metric); the toy reference circuits equal ../shared/models/<m>/reference_circuit.json; on the
 * hf-gpt2-tiny fixture (a GPT-2-shaped model with the GPT-2 vocabulary) the IOI metric equals
 * a hand computation from the logits (TOL.component), and the GPT-2 tasks that fit its 32-token
 * context build, validate and evaluate; `circuitscope tasks --json` lists every task.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import { tokenizerFor } from '../../src/model/tokenizer.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { convertToyEdge, toyReference } from '../../src/tasks/references.js';
import { getTask, listTasks } from '../../src/tasks/registry.js';
import { resolveSharedModel } from '../../src/tasks/shared-models.js';
import { TOY_TASK_SPECS } from '../../src/tasks/toy.js';
import { validateBatch, type Task, type TaskBatch } from '../../src/tasks/types.js';
import { SHARED, TOL, expectClose } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE_MODEL = `${SHARED}fixtures/hf-gpt2-tiny/hf-save`;

/** logits [B, T, V] of the clean prompts, picked at the batch's positions -> [B, K, V]. */
function logitsAt(model: HookedTransformer, tokens: number[][], positions: number[][]): tf.Tensor3D {
  return tf.tidy(() => {
    const full = model.forward(tokens);
    return tf.stack(positions.map((ps, b) => tf.gather(tf.squeeze(tf.slice(full, [b, 0, 0], [1, -1, -1]), [0]), ps))) as tf.Tensor3D;
  });
}

function metricValue(task: Task, name: string, logits: tf.Tensor3D, batch: TaskBatch, clean?: tf.Tensor3D): number {
  const m = task.metrics?.find((x) => x.name === name);
  if (!m) throw new Error(`task ${task.name} has no metric ${name}`);
  const s = m.compute(logits, batch, clean);
  const v = s.dataSync()[0];
  s.dispose();
  return v;
}

beforeAll(async () => { await initBackend('wasm'); });

describe.each(TOY_TASK_SPECS.map((s) => [s.name, s.sharedModel] as const))('toy task %s on ../shared/models/%s', (name, dir) => {
  it('reaches the model\'s published accuracy through the task interface; corrupting hurts', async () => {
    const path = resolveSharedModel(dir);
    expect(path, `../shared/models/${dir}`).not.toBeNull();
    const task = getTask(name);
    const { model } = await loadModel(path!, { quiet: true });
    try {
      const batch = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n: 256, seed: 0 });
      validateBatch(task.name, batch, model.cfg);
      const clean = logitsAt(model, batch.clean, batch.positions);
      const corrupt = logitsAt(model, batch.corrupt, batch.positions);
      try {
        expect(metricValue(task, 'accuracy', clean, batch)).toBeGreaterThanOrEqual(0.99);
        const lpClean = task.metric(clean, batch), lpCorrupt = task.metric(corrupt, batch);
        expect(lpClean.dataSync()[0]).toBeGreaterThan(lpCorrupt.dataSync()[0] + 1);
        tf.dispose([lpClean, lpCorrupt]);
        expectClose([metricValue(task, 'kl', clean, batch, clean)], [0], TOL.component, 'KL(clean || clean)');
      } finally { tf.dispose([clean, corrupt]); }
    } finally { model.dispose(); }
  });

  it('reference circuit equals reference_circuit.json (splitEmbed layout)', () => {
    const json = JSON.parse(readFileSync(`${SHARED}models/${dir}/reference_circuit.json`, 'utf8')) as { circuit_edges: string[]; uncertain_edges: string[] };
    const ref = toyReference(dir)!;
    expect(ref).not.toBeNull();
    expect(ref.splitEmbed).toBe(true);
    expect(ref.edges.size).toBe(json.circuit_edges.length);
    expect([...ref.edges].sort()).toEqual(json.circuit_edges.map(convertToyEdge).sort());
    expect([...ref.uncertain].sort()).toEqual(json.uncertain_edges.map(convertToyEdge).sort());
    expect(getTask(name).loadReference!()!.edges).toEqual(ref.edges);
  });
});

describe('GPT-2 tasks on the hf-gpt2-tiny fixture', () => {
  let model: HookedTransformer;
  beforeAll(async () => { model = (await loadModel(FIXTURE_MODEL, { quiet: true })).model; });
  afterAll(() => model?.dispose());

  it('IOI logit difference equals logit(IO) - logit(S) read off the forward pass by hand', () => {
    const task = getTask('ioi');
    const tok = tokenizerFor(model.cfg);
    const batch = task.build({ cfg: model.cfg, tokenizer: tok }, { n: 6, seed: 0 });
    validateBatch(task.name, batch, model.cfg);
    const m = batch.meta as { text: string[]; io: string[]; s: string[] };
    // by hand: run each prompt alone (unpadded, from its text) and read the last position
    let want = 0;
    const per: number[] = [];
    for (let i = 0; i < 6; i++) {
      const ids = tok.toTokens(m.text[i], { prependBos: false });
      const full = model.forward([ids]);
      const last = (full.arraySync() as number[][][])[0][ids.length - 1];
      full.dispose();
      const d = last[tok.toSingleToken(' ' + m.io[i])] - last[tok.toSingleToken(' ' + m.s[i])];
      per.push(d); want += d / 6;
    }
    const logits = logitsAt(model, batch.clean, batch.positions);
    try {
      const got = task.metric(logits, batch);
      expectClose(got, [want], TOL.component, 'IOI logit diff (padded batch vs per-prompt)');
      got.dispose();
      const frac = metricValue(task, 'frac-correct', logits, batch);
      expect(frac).toBeCloseTo(per.filter((d) => d > 0).length / 6, 6);
    } finally { logits.dispose(); }
  });

  it('ioi-acdc, greater-than and induction build, validate and evaluate on a GPT-2-shaped model', () => {
    for (const name of ['ioi-acdc', 'greater-than', 'induction']) {
      const task = getTask(name);
      const batch = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n: 4, seed: 1 });
      validateBatch(name, batch, model.cfg);
      const clean = logitsAt(model, batch.clean, batch.positions);
      const corrupt = logitsAt(model, batch.corrupt, batch.positions);
      try {
        for (const mt of task.metrics ?? []) expect(Number.isFinite(metricValue(task, mt.name, corrupt, batch, clean)), `${name} ${mt.name}`).toBe(true);
        expectClose([metricValue(task, 'kl', clean, batch, clean)], [0], TOL.component, `${name} KL(clean || clean)`);
      } finally { tf.dispose([clean, corrupt]); }
    }
  });

  it('docstring prompts (53 GPT-2 tokens with BOS) do not fit the fixture\'s 32-token context: validateBatch says so', () => {
    const task = getTask('docstring');
    const batch = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n: 2, seed: 0 });
    expect(() => validateBatch('docstring', batch, model.cfg)).toThrow(/prompt 0 has 53 tokens, more than the model's nCtx 32/);
  });
});

describe('circuitscope tasks --json', () => {
  it('lists every task with its models and reference sizes', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'tasks', '--json'], { cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    const rows = JSON.parse(out) as { name: string; defaultModel: string; fallbackModel: string | null; referenceEdges: number | null; referenceEdgesAcdc: number | null }[];
    expect(rows.map((r) => r.name)).toEqual(listTasks().map((t) => t.name));
    for (const r of rows) expect(Object.keys(r).sort()).toEqual(['defaultModel', 'fallbackModel', 'name', 'referenceEdges', 'referenceEdgesAcdc']);
    const by = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(by.ioi).toEqual({ name: 'ioi', defaultModel: 'gpt2', fallbackModel: getTask('ioi').fallbackModel, referenceEdges: 963, referenceEdgesAcdc: 1041 });
    expect(by['greater-than'].referenceEdgesAcdc).toBe(262);
    expect(by.docstring).toMatchObject({ defaultModel: 'attn-only-4l', referenceEdges: 24, referenceEdgesAcdc: 37 });
    expect(by.induction).toMatchObject({ referenceEdges: null, referenceEdgesAcdc: null });
    expect(by['permute-lists']).toMatchObject({ defaultModel: 'permute_lists', fallbackModel: 'permute-lists-2l', referenceEdges: 7 });
    for (const s of TOY_TASK_SPECS) {
      const json = JSON.parse(readFileSync(`${SHARED}models/${s.sharedModel}/reference_circuit.json`, 'utf8')) as { circuit_edges: string[] };
      expect(by[s.name].referenceEdges).toBe(json.circuit_edges.length);
    }
  });
});
