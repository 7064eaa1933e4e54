/**
 * Loaders on real checkpoints: the four toy TransformerLens models (model.pt vs
 * model.safetensors, bit for bit), the tiny Hugging Face GPT-2 fixture (save_pretrained naming,
 * re-saved in hub naming and as a two-shard index, all giving the same TransformerLens state
 * dict; the conversion checked element by element against TransformerLens' einops), the hub
 * cache resolution, and bad inputs failing with messages that name the file and the tensor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED } from '../helpers.js';
import { loadTorchPt, readSafetensors, writeSafetensors } from '../../src/model/node-files.js';
import { loadCheckpoint, listHfCache, resolveHfName } from '../../src/model/loaders/index.js';
import { hfHubCacheDirs } from '../../src/model/loaders/hf-cache.js';
import type { HostTensor, StateDict } from '../../src/model/weights.js';

const MODELS = ['min_int', 'majority_element', 'sort_fixed_len_list', 'permute_lists'];
const HF_SAVE = `${SHARED}fixtures/hf-gpt2-tiny/hf-save`;

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'circuitscope-loaders-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

function bits(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Same names, shapes and bytes (NaN payloads and signed zeros included). */
function expectIdentical(a: StateDict, b: StateDict, what: string) {
  expect([...a.keys()].sort(), `${what}: names`).toEqual([...b.keys()].sort());
  for (const [k, t] of a) {
    const u = b.get(k)!;
    expect(u.shape, `${what}: shape of ${k}`).toEqual(t.shape);
    expect(Buffer.compare(bits(t), bits(u)), `${what}: bytes of ${k}`).toBe(0);
  }
}

/** Bitwise equality of two float arrays (vitest's deep equality is slow on millions of elements). */
function sameData(a: Float32Array, b: Float32Array, what: string) {
  expect(a.length, `${what}: length`).toBe(b.length);
  expect(Buffer.compare(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)), what).toBe(0);
}

function subdir(name: string): string {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe('toy TransformerLens models', () => {
  for (const m of MODELS) {
    it(`${m}: model.pt and model.safetensors hold bit-identical weights`, async () => {
      const d = `${SHARED}models/${m}`;
      const pt = loadTorchPt(`${d}/model.pt`);
      const st = readSafetensors(`${d}/model.safetensors`);
      expectIdentical(pt.tensors, st, m);
      // the bool causal masks live only in the .pt: lower-triangular [nCtx, nCtx]
      const cfg = JSON.parse(readFileSync(`${d}/config.json`, 'utf8')) as { n_ctx: number; n_layers: number };
      expect(pt.nonFloat.size).toBe(cfg.n_layers);
      const mask = pt.nonFloat.get('blocks.0.attn.mask')!;
      expect(mask.dtype).toBe('bool');
      expect(mask.shape).toEqual([cfg.n_ctx, cfg.n_ctx]);
      for (let i = 0; i < cfg.n_ctx; i++) for (let j = 0; j < cfg.n_ctx; j++) expect(mask.data[i * cfg.n_ctx + j]).toBe(j <= i ? 1 : 0);
      expect(Array.from(pt.tensors.get('blocks.0.attn.IGNORE')!.data)).toEqual([-1e5]);

      // through loadCheckpoint: the directory (safetensors preferred) and the .pt file agree
      const fromDir = await loadCheckpoint(d);
      const fromPt = await loadCheckpoint(`${d}/model.pt`);
      expect(fromDir.format).toBe('transformer-lens-safetensors');
      expect(fromDir.source).toBe(`${d}/model.safetensors`);
      expect(fromPt.format).toBe('torch-pt');
      expectIdentical(fromDir.stateDict, fromPt.stateDict, `${m} via loadCheckpoint`);
      expect(fromDir.config.attnOnly).toBe(true);
      expect(fromDir.stateDict.has('blocks.0.attn.IGNORE')).toBe(false); // buffers dropped by validation
      expect(fromDir.stateDict.get('unembed.W_U')!.shape).toEqual([fromDir.config.dModel, fromDir.config.dVocabOut]);
    });
  }

  it('a lone weights file takes its config from the config option', async () => {
    const d = subdir('lone-with-config');
    copyFileSync(`${SHARED}models/min_int/model.safetensors`, join(d, 'weights.safetensors'));
    const r = await loadCheckpoint(join(d, 'weights.safetensors'), { config: `${SHARED}models/min_int/config.json` });
    expect(r.config.modelName).toBe('min_int_model');
    expect(r.stateDict.get('embed.W_E')!.shape).toEqual([201, 32]);
  });
});

describe('Hugging Face GPT-2', () => {
  let hf: StateDict; // raw save_pretrained tensors
  let ref: Awaited<ReturnType<typeof loadCheckpoint>>;
  beforeAll(async () => {
    hf = readSafetensors(`${HF_SAVE}/model.safetensors`);
    ref = await loadCheckpoint(HF_SAVE);
  });

  it('loads the save_pretrained directory with the fixture config', () => {
    expect(ref.format).toBe('hf-gpt2');
    expect(ref.source).toBe(`${HF_SAVE}/model.safetensors`);
    const c = ref.config;
    expect([c.nLayers, c.nHeads, c.dModel, c.dHead, c.dMlp, c.nCtx, c.dVocab, c.dVocabOut]).toEqual([2, 4, 64, 16, 256, 32, 50257, 50257]);
    expect(c.normalizationType).toBe('LN');
    expect(ref.stateDict.size).toBe(2 + 2 * 16 + 2 + 2);
  });

  it('converts exactly as TransformerLens convert_gpt2_weights does', () => {
    const sd = ref.stateDict;
    const D = 64, H = 4, Dh = 16, M = 256, V = 50257;
    const g = (n: string) => hf.get(`transformer.${n}`)!.data;
    sameData(sd.get('embed.W_E')!.data, g('wte.weight'), 'embed.W_E');
    sameData(sd.get('pos_embed.W_pos')!.data, g('wpe.weight'), 'pos_embed.W_pos');
    for (let l = 0; l < 2; l++) {
      const b = (n: string) => sd.get(`blocks.${l}.${n}`)!;
      const W = g(`h.${l}.attn.c_attn.weight`), bias = g(`h.${l}.attn.c_attn.bias`);
      ['Q', 'K', 'V'].forEach((x, i) => {
        const w = b(`attn.W_${x}`), bb = b(`attn.b_${x}`);
        expect(w.shape).toEqual([H, D, Dh]);
        expect(bb.shape).toEqual([H, Dh]);
        // einops "m (i h) -> i m h" on the x-th third of the columns
        for (let h = 0; h < H; h++) for (let m = 0; m < D; m++) for (let j = 0; j < Dh; j++) {
          if (w.data[(h * D + m) * Dh + j] !== W[m * 3 * D + i * D + h * Dh + j]) throw new Error(`W_${x}[${h},${m},${j}] of layer ${l}`);
        }
        for (let h = 0; h < H; h++) for (let j = 0; j < Dh; j++) expect(bb.data[h * Dh + j]).toBe(bias[i * D + h * Dh + j]);
      });
      // "(i h) m -> i h m"
      const WO = b('attn.W_O'), P = g(`h.${l}.attn.c_proj.weight`);
      expect(WO.shape).toEqual([H, Dh, D]);
      for (let h = 0; h < H; h++) for (let j = 0; j < Dh; j++) for (let m = 0; m < D; m++) {
        if (WO.data[(h * Dh + j) * D + m] !== P[(h * Dh + j) * D + m]) throw new Error(`W_O[${h},${j},${m}]`);
      }
      sameData(b('attn.b_O').data, g(`h.${l}.attn.c_proj.bias`), `blocks.${l}.attn.b_O`);
      sameData(b('ln1.w').data, g(`h.${l}.ln_1.weight`), `blocks.${l}.ln1.w`);
      sameData(b('ln1.b').data, g(`h.${l}.ln_1.bias`), `blocks.${l}.ln1.b`);
      sameData(b('ln2.w').data, g(`h.${l}.ln_2.weight`), `blocks.${l}.ln2.w`);
      sameData(b('ln2.b').data, g(`h.${l}.ln_2.bias`), `blocks.${l}.ln2.b`);
      expect(b('mlp.W_in').shape).toEqual([D, M]);
      sameData(b('mlp.W_in').data, g(`h.${l}.mlp.c_fc.weight`), `blocks.${l}.mlp.W_in`);
      sameData(b('mlp.b_in').data, g(`h.${l}.mlp.c_fc.bias`), `blocks.${l}.mlp.b_in`);
      expect(b('mlp.W_out').shape).toEqual([M, D]);
      sameData(b('mlp.W_out').data, g(`h.${l}.mlp.c_proj.weight`), `blocks.${l}.mlp.W_out`);
      sameData(b('mlp.b_out').data, g(`h.${l}.mlp.c_proj.bias`), `blocks.${l}.mlp.b_out`);
    }
    sameData(sd.get('ln_final.w')!.data, g('ln_f.weight'), 'ln_final.w');
    sameData(sd.get('ln_final.b')!.data, g('ln_f.bias'), 'ln_final.b');
    const WU = sd.get('unembed.W_U')!, E = g('wte.weight');
    expect(WU.shape).toEqual([D, V]);
    for (let v = 0; v < V; v += 997) for (let d = 0; d < D; d++) if (WU.data[d * V + v] !== E[v * D + d]) throw new Error(`W_U[${d},${v}]`);
    expect(sd.get('unembed.b_U')!.data.every((x) => x === 0)).toBe(true);
  });

  /** The fixture's tensors in the official hub spelling: no prefix, attention buffers, no lm_head. */
  function hubNaming(): StateDict {
    const out: StateDict = new Map();
    for (const [k, t] of hf) {
      if (k === 'lm_head.weight') continue;
      out.set(k.replace(/^transformer\./, ''), t);
      const m = /^transformer\.h\.(\d+)\.ln_1\.weight$/.exec(k);
      if (m) {
        const causal = new Float32Array(32 * 32);
        for (let i = 0; i < 32; i++) for (let j = 0; j <= i; j++) causal[i * 32 + j] = 1;
        out.set(`h.${m[1]}.attn.bias`, { shape: [1, 1, 32, 32], data: causal });
        out.set(`h.${m[1]}.attn.masked_bias`, { shape: [], data: Float32Array.from([-1e4]) });
      }
    }
    return out;
  }

  it('hub naming (no transformer. prefix, attn.bias / masked_bias buffers) gives the same state dict', async () => {
    const d = subdir('hub-naming');
    copyFileSync(`${HF_SAVE}/config.json`, join(d, 'config.json'));
    writeSafetensors(join(d, 'model.safetensors'), hubNaming(), { format: 'pt' });
    const r = await loadCheckpoint(d);
    expect(r.format).toBe('hf-gpt2');
    expectIdentical(r.stateDict, ref.stateDict, 'hub naming');
    // the lone weights file with its config.json beside it goes the same way
    expectIdentical((await loadCheckpoint(join(d, 'model.safetensors'))).stateDict, ref.stateDict, 'hub naming, file');
  });

  it('a two-shard index (weight_map) gives the same state dict', async () => {
    const d = subdir('sharded');
    copyFileSync(`${HF_SAVE}/config.json`, join(d, 'config.json'));
    const all = [...hubNaming()];
    const half = Math.ceil(all.length / 2);
    const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap: Record<string, string> = {};
    [all.slice(0, half), all.slice(half)].forEach((part, i) => {
      writeSafetensors(join(d, shards[i]), new Map(part));
      for (const [k] of part) weightMap[k] = shards[i];
    });
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    const r = await loadCheckpoint(d);
    expect(r.source).toBe(join(d, 'model.safetensors.index.json'));
    expectIdentical(r.stateDict, ref.stateDict, 'sharded');
    expectIdentical((await loadCheckpoint(join(d, 'model.safetensors.index.json'))).stateDict, ref.stateDict, 'sharded, index file');
  });

  it('an untied lm_head becomes W_U', async () => {
    const d = subdir('untied');
    const cfg = JSON.parse(readFileSync(`${HF_SAVE}/config.json`, 'utf8')) as Record<string, unknown>;
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, tie_word_embeddings: false }));
    const sd = new Map(hf);
    const wte = hf.get('transformer.wte.weight')!;
    const head = Float32Array.from(wte.data, (x, i) => x + (i % 7));
    sd.set('lm_head.weight', { shape: wte.shape, data: head });
    writeSafetensors(join(d, 'model.safetensors'), sd);
    const r = await loadCheckpoint(d);
    const V = 50257, D = 64, WU = r.stateDict.get('unembed.W_U')!.data;
    for (const v of [0, 1, 12345, V - 1]) for (let k = 0; k < D; k++) expect(WU[k * V + v]).toBe(head[v * D + k]);
    // untied and no lm_head: refused
    sd.delete('lm_head.weight');
    writeSafetensors(join(d, 'model.safetensors'), sd);
    await expect(loadCheckpoint(d)).rejects.toThrow(`hf-gpt2: ${join(d, 'model.safetensors')}: missing tensor 'lm_head.weight'`);
  });

  it('resolves hub ids in the Hugging Face cache and lists the GPT-2 models there', async () => {
    const cache = subdir('hf-cache');
    const rev = '0123456789abcdef0123456789abcdef01234567';
    const repo = join(cache, 'models--openai-community--gpt2');
    const snap = join(repo, 'snapshots', rev);
    mkdirSync(snap, { recursive: true });
    mkdirSync(join(repo, 'refs'));
    writeFileSync(join(repo, 'refs', 'main'), rev);
    symlinkSync(`${HF_SAVE}/config.json`, join(snap, 'config.json'));
    symlinkSync(`${HF_SAVE}/model.safetensors`, join(snap, 'model.safetensors'));
    // a non-GPT-2 model and an incomplete download, both left out of the listing
    const other = join(cache, 'models--someone--tl-model', 'snapshots', 'abc');
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, 'config.json'), JSON.stringify({ d_model: 8 }));
    writeFileSync(join(other, 'model.safetensors'), '');
    mkdirSync(join(cache, 'models--someone--partial', 'snapshots', 'def'), { recursive: true });

    const env = { HF_HUB_CACHE: cache, HOME: join(tmp, 'nohome') };
    expect(hfHubCacheDirs(env)[0]).toBe(cache);
    expect(hfHubCacheDirs({ HF_HOME: '/x/hf', HOME: '/h' })).toEqual(['/x/hf/hub', '/h/.cache/huggingface/hub']);
    expect(resolveHfName('gpt2', env)).toBe(snap);
    expect(resolveHfName('openai-community/gpt2', env)).toBe(snap);
    expect(resolveHfName(`gpt2@${rev}`, env)).toBe(snap);
    expect(listHfCache(env)).toEqual([{ name: 'openai-community/gpt2', path: snap }]);

    expect(() => resolveHfName('nobody/nothing', env)).toThrow(
      `hf-gpt2: 'nobody/nothing' is not a file or directory, and not in the Hugging Face cache (looked for models--nobody--nothing in ${cache}`);
    expect(() => resolveHfName('nobody/nothing', env)).toThrow('download it with `huggingface-cli download nobody/nothing config.json model.safetensors`');
    expect(() => resolveHfName('someone/partial', env)).toThrow(/is in the Hugging Face cache .* but no snapshot holds config\.json and model\.safetensors/);

    // loadCheckpoint reads the environment
    const saved = { HF_HUB_CACHE: process.env.HF_HUB_CACHE };
    process.env.HF_HUB_CACHE = cache;
    try {
      const r = await loadCheckpoint('gpt2');
      expect(r.config.modelName).toBe('gpt2');
      expect(r.source).toBe(join(snap, 'model.safetensors'));
      expectIdentical(r.stateDict, ref.stateDict, 'from the cache');
    } finally {
      if (saved.HF_HUB_CACHE === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = saved.HF_HUB_CACHE;
    }
  });
});

describe('bad inputs name the file and the tensor', () => {
  it('a config whose n_embd disagrees with the weights', async () => {
    const d = subdir('wrong-n-embd');
    const cfg = JSON.parse(readFileSync(`${HF_SAVE}/config.json`, 'utf8')) as Record<string, unknown>;
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, n_embd: 128 }));
    symlinkSync(`${HF_SAVE}/model.safetensors`, join(d, 'model.safetensors'));
    await expect(loadCheckpoint(d)).rejects.toThrow(
      `weights: ${join(d, 'model.safetensors')}: tensor 'embed.W_E' has shape [50257, 64] but the config needs [50257, 128]`);
  });

  it('a TransformerLens config whose d_head disagrees with the weights', async () => {
    const d = subdir('wrong-d-head');
    const cfg = JSON.parse(readFileSync(`${SHARED}models/permute_lists/config.json`, 'utf8')) as Record<string, unknown>;
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, d_head: 64 }));
    symlinkSync(`${SHARED}models/permute_lists/model.pt`, join(d, 'model.pt'));
    await expect(loadCheckpoint(d)).rejects.toThrow(
      `weights: ${join(d, 'model.pt')}: tensor 'blocks.0.attn.W_Q' has shape [1, 128, 128] but the config needs [1, 128, 64]`);
  });

  it('a lone .safetensors without a config', async () => {
    const d = subdir('lonely');
    const p = join(d, 'lonely.safetensors');
    copyFileSync(`${SHARED}models/min_int/model.safetensors`, p);
    await expect(loadCheckpoint(p)).rejects.toThrow(`loaders: ${p}: no config for this weights file (looked for ${join(d, 'config.json')})`);
  });

  it('a directory without config.json', async () => {
    const d = subdir('no-config-dir');
    copyFileSync(`${SHARED}models/min_int/model.safetensors`, join(d, 'model.safetensors'));
    await expect(loadCheckpoint(d)).rejects.toThrow(`loaders: ${d}: no config.json in this directory`);
  });

  it('a truncated safetensors file', async () => {
    const d = subdir('truncated-st');
    copyFileSync(`${SHARED}models/min_int/config.json`, join(d, 'config.json'));
    const buf = readFileSync(`${SHARED}models/min_int/model.safetensors`);
    writeFileSync(join(d, 'model.safetensors'), buf.subarray(0, buf.length - 1000));
    await expect(loadCheckpoint(d)).rejects.toThrow(
      new RegExp(`^safetensors: ${join(d, 'model.safetensors')}: tensor 'unembed\\.W_U' has data_offsets \\[43012, 68612\\] past the end of the data region`));
  });

  it('a truncated .pt', async () => {
    const d = subdir('truncated-pt');
    copyFileSync(`${SHARED}models/min_int/config.json`, join(d, 'config.json'));
    const buf = readFileSync(`${SHARED}models/min_int/model.pt`);
    writeFileSync(join(d, 'model.pt'), buf.subarray(0, Math.floor(buf.length / 2)));
    await expect(loadCheckpoint(d)).rejects.toThrow(`torch-pt: ${join(d, 'model.pt')}: zip archive is truncated (no end-of-central-directory record)`);
  });

  it('an HF checkpoint missing a tensor, and one with a foreign tensor', async () => {
    const d = subdir('hf-missing');
    copyFileSync(`${HF_SAVE}/config.json`, join(d, 'config.json'));
    const sd = readSafetensors(`${HF_SAVE}/model.safetensors`);
    sd.delete('transformer.h.1.ln_2.weight');
    writeSafetensors(join(d, 'model.safetensors'), sd);
    await expect(loadCheckpoint(d)).rejects.toThrow(`hf-gpt2: ${join(d, 'model.safetensors')}: missing tensor 'h.1.ln_2.weight' [64]`);
    const e = subdir('hf-foreign');
    copyFileSync(`${HF_SAVE}/config.json`, join(e, 'config.json'));
    const sd2 = readSafetensors(`${HF_SAVE}/model.safetensors`);
    sd2.set('score.weight', { shape: [2, 64], data: new Float32Array(128) });
    writeSafetensors(join(e, 'model.safetensors'), sd2);
    await expect(loadCheckpoint(e)).rejects.toThrow(`hf-gpt2: ${join(e, 'model.safetensors')}: unexpected tensor 'score.weight'`);
  });

  it('a path that does not exist', async () => {
    await expect(loadCheckpoint('./no/such/model.safetensors')).rejects.toThrow('loaders: ./no/such/model.safetensors: no such file or directory');
  });
});
