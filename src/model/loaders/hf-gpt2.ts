/**
 * Hugging Face GPT-2 checkpoints -> TransformerLens state dicts.
 *
 * A model directory holds config.json and model.safetensors, or model.safetensors.index.json
 * with its shards (`weight_map`), or (fallback) a zip-format pytorch_model.bin. Tensor names
 * come in two spellings: `transformer.h.0...` (save_pretrained of GPT2LMHeadModel) or `h.0...`
 * (the official hub checkpoint, which also carries the `h.N.attn.bias` / `h.N.attn.masked_bias`
 * buffers and no lm_head). The conversion is TransformerLens' `convert_gpt2_weights`:
 * c_attn.weight [D, 3D] splits into W_Q/W_K/W_V [H, D, Dh] ("m (i h) -> i m h"), c_proj.weight
 * [D, D] becomes W_O [H, Dh, D], Conv1D weights are already [in, out], and the unembedding is
 * lm_head.weight^T when the embeddings are untied, else wte^T, with b_U = 0.
 *
 * Files are read through `ModelFiles` (./files.ts), never Node's fs. Names like 'gpt2' resolve
 * to a snapshot folder in the local Hugging Face hub cache in ./hf-cache.ts (Node only).
 */
import { fromHfGpt2, resolveConfigJson, type ModelConfig } from '../config.js';
import { readSafetensorsFile, readSafetensorsHeaderFile } from '../safetensors.js';
import type { HostTensor, StateDict } from '../weights.js';
import { readTorchPt } from './torch-pt.js';
import { readJsonFile, type ModelFiles } from './files.js';

function fail(source: string, msg: string): never {
  throw new Error(`hf-gpt2: ${source}: ${msg}`);
}

/** Whether a parsed config.json is a Hugging Face GPT-2 config. */
export function isHfGpt2Config(json: unknown): boolean {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return false;
  const o = json as Record<string, unknown>;
  return o.model_type === 'gpt2' || 'n_embd' in o;
}

/** Whether a state dict uses Hugging Face GPT-2 names (either spelling). */
export function isHfGpt2StateDict(sd: StateDict): boolean {
  return sd.has('wte.weight') || sd.has('transformer.wte.weight');
}

// ---------------------------------------------------------------------------------------------
// Conversion

const BUFFERS = /^h\.\d+\.attn\.(bias|masked_bias)$/;
/** The attention-mask buffers of the hub checkpoint (not weights; GPT-2 small has 12 x 4 MB of them). */
function isBuffer(name: string): boolean {
  return BUFFERS.test(name.startsWith('transformer.') ? name.slice('transformer.'.length) : name);
}

/**
 * Convert HF GPT-2 tensors (either spelling) to TransformerLens names and shapes. Sizes are
 * taken from the tensors themselves (nHeads and the tying of embeddings from `cfg`), so a config
 * that disagrees with the file is reported by `validateStateDict` in TransformerLens names.
 */
export function convertHfGpt2(cfg: ModelConfig, hf: StateDict, source: string): StateDict {
  const sd = new Map<string, HostTensor>();
  for (const [k, t] of hf) sd.set(k.startsWith('transformer.') ? k.slice('transformer.'.length) : k, t);
  const used = new Set<string>();
  const get = (name: string, shape?: readonly number[]): HostTensor => {
    const t = sd.get(name);
    if (!t) fail(source, `missing tensor '${name}'${shape ? ` [${shape.join(', ')}]` : ''}`);
    if (shape && (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]))) {
      fail(source, `tensor '${name}' has shape [${t.shape.join(', ')}] but wte.weight and the other tensors imply [${shape.join(', ')}]`);
    }
    used.add(name);
    return t;
  };
  const wte = get('wte.weight');
  if (wte.shape.length !== 2) fail(source, `tensor 'wte.weight' has shape [${wte.shape.join(', ')}], expected [vocab, n_embd]`);
  const [V, D] = wte.shape;
  const H = cfg.nHeads;
  if (D % H !== 0) fail(source, `tensor 'wte.weight' has width ${D}, not a multiple of n_head ${H}`);
  const Dh = D / H;
  const wpe = get('wpe.weight');
  if (wpe.shape.length !== 2 || wpe.shape[1] !== D) fail(source, `tensor 'wpe.weight' has shape [${wpe.shape.join(', ')}], expected [n_positions, ${D}]`);

  let nLayers = 0;
  for (const k of sd.keys()) {
    const m = /^h\.(\d+)\./.exec(k);
    if (m) nLayers = Math.max(nLayers, Number(m[1]) + 1);
  }

  const out: StateDict = new Map();
  const put = (name: string, shape: number[], data: Float32Array) => out.set(name, { shape, data });
  put('embed.W_E', [V, D], wte.data);
  put('pos_embed.W_pos', [...wpe.shape], wpe.data);
  for (let l = 0; l < nLayers; l++) {
    const h = `h.${l}`, b = `blocks.${l}`;
    put(`${b}.ln1.w`, [D], get(`${h}.ln_1.weight`, [D]).data);
    put(`${b}.ln1.b`, [D], get(`${h}.ln_1.bias`, [D]).data);
    const W = get(`${h}.attn.c_attn.weight`, [D, 3 * D]).data;
    const bias = get(`${h}.attn.c_attn.bias`, [3 * D]).data;
    ['Q', 'K', 'V'].forEach((x, i) => {
      // W_x[h, m, j] = W[m, i*D + h*Dh + j]
      const w = new Float32Array(H * D * Dh);
      for (let hh = 0; hh < H; hh++) {
        for (let m = 0; m < D; m++) {
          const src = m * 3 * D + i * D + hh * Dh;
          w.set(W.subarray(src, src + Dh), (hh * D + m) * Dh);
        }
      }
      put(`${b}.attn.W_${x}`, [H, D, Dh], w);
      put(`${b}.attn.b_${x}`, [H, Dh], bias.slice(i * D, (i + 1) * D));
    });
    // W_O[h, j, m] = c_proj.weight[h*Dh + j, m]: the same row-major data
    put(`${b}.attn.W_O`, [H, Dh, D], get(`${h}.attn.c_proj.weight`, [D, D]).data);
    put(`${b}.attn.b_O`, [D], get(`${h}.attn.c_proj.bias`, [D]).data);
    put(`${b}.ln2.w`, [D], get(`${h}.ln_2.weight`, [D]).data);
    put(`${b}.ln2.b`, [D], get(`${h}.ln_2.bias`, [D]).data);
    const fc = get(`${h}.mlp.c_fc.weight`);
    if (fc.shape.length !== 2 || fc.shape[0] !== D) fail(source, `tensor '${h}.mlp.c_fc.weight' has shape [${fc.shape.join(', ')}], expected [${D}, n_inner]`);
    const M = fc.shape[1];
    put(`${b}.mlp.W_in`, [D, M], fc.data);
    put(`${b}.mlp.b_in`, [M], get(`${h}.mlp.c_fc.bias`, [M]).data);
    put(`${b}.mlp.W_out`, [M, D], get(`${h}.mlp.c_proj.weight`, [M, D]).data);
    put(`${b}.mlp.b_out`, [D], get(`${h}.mlp.c_proj.bias`, [D]).data);
  }
  put('ln_final.w', [D], get('ln_f.weight', [D]).data);
  put('ln_final.b', [D], get('ln_f.bias', [D]).data);

  const lmHead = sd.get('lm_head.weight');
  if (lmHead) used.add('lm_head.weight');
  let unembedSrc: HostTensor = wte;
  if (!cfg.tiedEmbeddings) {
    if (lmHead) {
      if (lmHead.shape.length !== 2 || lmHead.shape[1] !== D) fail(source, `tensor 'lm_head.weight' has shape [${lmHead.shape.join(', ')}], expected [vocab, ${D}]`);
      unembedSrc = lmHead;
    } else if (cfg.originalArchitecture === 'GPT2LMHeadModel') {
      // an HF config that unties the embeddings needs its own unembedding
      fail(source, `missing tensor 'lm_head.weight' (the config unties the embeddings: tie_word_embeddings=false)`);
    }
  }
  const [Vo] = unembedSrc.shape;
  put('unembed.W_U', [D, Vo], transpose(unembedSrc.data, Vo, D));
  put('unembed.b_U', [Vo], new Float32Array(Vo));

  for (const k of sd.keys()) {
    if (!used.has(k) && !BUFFERS.test(k)) fail(source, `unexpected tensor '${k}' (not part of GPT2LMHeadModel)`);
  }
  return out;
}

/** [rows, cols] row-major -> [cols, rows], in cache-friendly blocks. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = a[r * cols + c];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Directories

/** Which weights a directory holds, in order of preference. */
export function hfWeightsFile(files: ModelFiles, dir: string): string | null {
  for (const f of ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin']) {
    if (files.isFile(files.join(dir, f))) return files.join(dir, f);
  }
  return null;
}

/** Read a sharded checkpoint through its index (`weight_map`: tensor name -> shard file). */
export function readShardedSafetensors(files: ModelFiles, indexPath: string, dir: string): StateDict {
  const { basename } = files;
  const idx = readJsonFile(files, indexPath, 'hf-gpt2') as { weight_map?: unknown };
  const wm = idx?.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) fail(indexPath, 'has no weight_map object');
  const byShard = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard !== basename(shard) || shard === '..' || shard === '.') {
      fail(indexPath, `weight_map entry '${name}' names an invalid shard ${JSON.stringify(shard)}`);
    }
    if (isBuffer(name)) continue;
    if (!byShard.has(shard)) byShard.set(shard, new Set());
    byShard.get(shard)!.add(name);
  }
  const sd: StateDict = new Map();
  for (const [shard, names] of byShard) {
    const p = files.join(dir, shard);
    if (!files.isFile(p)) fail(indexPath, `shard '${shard}' is missing (looked for ${p})`);
    const part = readSafetensorsFile(files, p, names);
    for (const n of names) {
      const t = part.get(n);
      if (!t) fail(p, `tensor '${n}' is listed in ${basename(indexPath)} but the shard does not hold it`);
      sd.set(n, t);
    }
  }
  return sd;
}

/** Read the HF-named tensors of a model directory. `source` is the file to name in errors. */
export function readHfWeights(files: ModelFiles, dir: string): { tensors: StateDict; source: string } {
  const file = hfWeightsFile(files, dir);
  if (!file) fail(dir, 'no model.safetensors, model.safetensors.index.json or pytorch_model.bin in this directory');
  if (file.endsWith('.index.json')) return { tensors: readShardedSafetensors(files, file, dir), source: file };
  if (file.endsWith('.safetensors')) {
    const names = new Set(readSafetensorsHeaderFile(files, file).entries.map((e) => e.name).filter((n) => !isBuffer(n)));
    return { tensors: readSafetensorsFile(files, file, names), source: file };
  }
  return { tensors: readTorchPt(files, file), source: file };
}

/** Config of an HF directory; `name` becomes the model name when the config has none. */
export function readHfConfig(files: ModelFiles, path: string, name?: string): ModelConfig {
  const json = readJsonFile(files, path, 'hf-gpt2');
  if (!isHfGpt2Config(json)) return resolveConfigJson(json, path);
  const o = json as Record<string, unknown>;
  return fromHfGpt2({ ...o, _name_or_path: o._name_or_path || name || undefined }, path);
}

export interface HfLoaded {
  config: ModelConfig;
  /** TransformerLens names; not yet validated against the config */
  stateDict: StateDict;
  /** the weights file (or shard index) */
  source: string;
}

/** Load an HF GPT-2 model directory. `opts.config` replaces the directory's config.json. */
export function loadHfGpt2Dir(files: ModelFiles, dir: string, opts: { config?: string; name?: string } = {}): HfLoaded {
  const cfgPath = opts.config ?? files.join(dir, 'config.json');
  if (!files.isFile(cfgPath)) fail(dir, `no config.json (looked for ${cfgPath})`);
  const config = readHfConfig(files, cfgPath, opts.name ?? files.basename(dir));
  const { tensors, source } = readHfWeights(files, dir);
  if (!isHfGpt2StateDict(tensors)) fail(source, `has no 'wte.weight' or 'transformer.wte.weight': not a Hugging Face GPT-2 checkpoint`);
  return { config, stateDict: convertHfGpt2(config, tensors, source), source };
}

// ---------------------------------------------------------------------------------------------
// Hub ids (resolved in the local cache by ./hf-cache.ts)

const HF_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)?(@[A-Za-z0-9_.\/-]+)?$/;

/** Whether a spec looks like a hub id ('gpt2', 'org/name', optionally '@revision'). */
export function looksLikeHfName(spec: string): boolean {
  return HF_ID.test(spec) && !spec.includes('..') && !/\.(safetensors|pt|pth|bin|json)$/i.test(spec);
}
