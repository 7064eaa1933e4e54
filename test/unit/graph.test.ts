/**
 * The component graph (src/graph/graph.ts, layout.ts, names.ts) from configs alone: the peers'
 * counts (docs/graph.md "Counts"), the edge rule against an independent formula, the index
 * layout against EAP-IG's formulas (the graph and the engine's layout it is built from), the tok/pos split, the four shared toy
 * models' reference graphs, the TransformerLens hook table, and the `graph` command.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { finalizeConfig, presetConfig, resolveConfigJson, type ModelConfig } from '../../src/model/config.js';
import { buildGraph, type ComponentGraph } from '../../src/graph/graph.js';
import {
  formatHookPoint, fromHook, normalizeEdgeKey, parseEdgeKey, parseHookPoint, parseReceiverKey, receiverHook, receiverNode, senderHook, splitEdge,
} from '../../src/graph/names.js';
import { Circuit } from '../../src/graph/circuit.js';
import { buildLayout } from '../../src/graph/layout.js';
import { configForSpec, graphCommand, graphSummary } from '../../src/cli/commands/graph.js';
import { SHARED } from '../helpers.js';

const TOY_MODELS = ['min_int', 'majority_element', 'sort_fixed_len_list', 'permute_lists'] as const;

function toyConfig(name: string): ModelConfig {
  const file = join(SHARED, 'models', name, 'config.json');
  return resolveConfigJson(JSON.parse(readFileSync(file, 'utf8')), file);
}

function toyReference(name: string): { full_graph_edges: string[]; circuit_edges: string[]; uncertain_edges: string[]; nodes: string[] } {
  return JSON.parse(readFileSync(join(SHARED, 'models', name, 'reference_circuit.json'), 'utf8'));
}

const small = (over: Partial<Record<keyof ModelConfig, unknown>> = {}): ModelConfig =>
  finalizeConfig({ modelName: 'tiny', nLayers: 2, nHeads: 2, dModel: 8, nCtx: 8, dVocab: 10, ...over } as Parameters<typeof finalizeConfig>[0], 'test');

/** Does sender s feed receiver r? Written from docs/graph.md's rule, on (kind, layer) pairs only. */
function ruleSays(g: ComponentGraph, s: number, r: number): boolean {
  const S = g.senders[s], R = g.receivers[r];
  if (S.kind === 'input' || S.kind === 'tok') return true;
  if (S.kind === 'pos') return g.cfg.positionalEmbeddingType !== 'shortformer' || R.qkv === 'q' || R.qkv === 'k';
  if (R.kind === 'logits') return true;
  if (S.kind === 'head') return R.kind === 'mlp' ? R.layer >= S.layer : R.layer > S.layer;
  return R.layer > S.layer; // MLP sender
}

describe('graph: counts from the config alone (docs/graph.md "Counts")', () => {
  it('GPT-2 small: 157 senders, 445 receivers, 32,491 edges, ACDC 32,923', () => {
    const g = buildGraph(presetConfig('gpt2-small'));
    expect(g.counts()).toEqual({ senders: 157, receivers: 445, edges: 32491, edgesAcdc: 32923 });
    // EAP-IG's formulas: n_forward = 1 + L(H+1), n_backward = L(3H+1) + 1
    expect(g.nSenders).toBe(1 + 12 * 13);
    expect(g.nReceivers).toBe(12 * 37 + 1);
    // ACDC's per-sender sums (docs/graph.md "Counts"): MLPs 2,454, heads 29,592, embedding 445
    const bySender = { mlp: 0, head: 0, input: 0 } as Record<string, number>;
    for (const s of g.senders) bySender[s.kind] += s.receivers.length;
    expect(bySender).toEqual({ mlp: 2454, head: 29592, input: 445 });
  });

  it('attn-only-4l: ACDC 1,377; redwood-attn-2l: ACDC 305', () => {
    expect(buildGraph(presetConfig('attn-only-4l')).counts()).toEqual({ senders: 33, receivers: 97, edges: 1281, edgesAcdc: 1377 });
    expect(buildGraph(presetConfig('redwood-attn-2l')).counts()).toEqual({ senders: 17, receivers: 49, edges: 257, edgesAcdc: 305 });
  });

  it('the full circuit counts ACDC edges as the graph does', () => {
    for (const p of ['gpt2-small', 'attn-only-4l', 'redwood-attn-2l']) {
      const g = buildGraph(presetConfig(p));
      expect(Circuit.full(g).sizeAcdc()).toBe(g.nEdgesAcdc);
    }
  });
});

describe('graph: edge rule', () => {
  it('spot checks on GPT-2 small', () => {
    const g = buildGraph(presetConfig('gpt2-small'));
    for (const k of ['a0.h1->a2.h3<q>', 'm4->logits', 'input->m0', 'input->a0.h0<v>', 'input->logits', 'a0.h1->m0', 'a3.h2->m11',
      'm0->m1', 'm0->a1.h0<k>', 'a11.h11->logits', 'm11->logits', 'a10.h3->a11.h0<v>']) expect(g.hasEdge(k), k).toBe(true);
    for (const k of ['a0.h1->a0.h2<q>', 'a2.h0->a1.h0<q>', 'm0->m0', 'm0->a0.h1<q>', 'm1->m0', 'a1.h0->m0', 'logits->m0', 'a0.h1->a2.h3',
      'tok->m0', 'a12.h0->logits', 'a0.h12->logits']) expect(g.hasEdge(k), k).toBe(false);
  });

  it('every (sender, receiver) pair agrees with the rule, for each model shape and split', () => {
    const cfgs = [presetConfig('gpt2-small'), presetConfig('attn-only-4l'), presetConfig('redwood-attn-2l'), small(), small({ attnOnly: true }), small({ positionalEmbeddingType: 'shortformer' })];
    for (const cfg of cfgs) for (const splitEmbed of [false, true]) {
      const g = buildGraph(cfg, { splitEmbed });
      let n = 0;
      const bad: string[] = [];
      for (let r = 0; r < g.nReceivers; r++) for (let s = 0; s < g.nSenders; s++) {
        const e = g.edgeAt(s, r), key = `${g.senders[s].key}->${g.receivers[r].key}`;
        if ((e >= 0) !== ruleSays(g, s, r)) bad.push(`${key}: graph ${e >= 0}`);
        if (e >= 0) {
          n++;
          if (g.edgeSender[e] !== s || g.edgeReceiver[e] !== r || g.edgeKey(e) !== key || g.edgeIndex(key) !== e) bad.push(`${key}: index ${e} inconsistent`);
        }
      }
      expect(bad, `${cfg.modelName} split=${splitEmbed}`).toEqual([]);
      expect(n).toBe(g.nEdges);
    }
  });

  it('attention-only models have no MLP nodes', () => {
    const g = buildGraph(presetConfig('attn-only-4l'));
    expect(g.senders.some((s) => s.kind === 'mlp')).toBe(false);
    expect(g.receivers.some((r) => r.kind === 'mlp')).toBe(false);
    expect(g.groups.map((x) => x.kind)).toEqual(['attn', 'attn', 'attn', 'attn', 'logits']);
  });
});

describe('graph: index layout', () => {
  it('sender and receiver indices follow EAP-IG forward_index / backward_index', () => {
    const g = buildGraph(presetConfig('gpt2-small'));
    const H = 12;
    for (let l = 0; l < 12; l++) {
      for (let h = 0; h < H; h++) {
        expect(g.senderIndex(`a${l}.h${h}`)).toBe(1 + l * (H + 1) + h);
        ['q', 'k', 'v'].forEach((x, j) => expect(g.receiverIndex(`a${l}.h${h}<${x}>`)).toBe(l * (3 * H + 1) + j * H + h));
      }
      expect(g.senderIndex(`m${l}`)).toBe(1 + l * (H + 1) + H);
      expect(g.receiverIndex(`m${l}`)).toBe(l * (3 * H + 1) + 3 * H);
      // prev_index: attention of layer l reads senders [0, 1 + l(H+1)), the MLP adds its layer's heads
      expect(g.attnGroup(l).sendersBefore).toBe(1 + l * (H + 1));
      expect(g.mlpGroup(l).sendersBefore).toBe(1 + l * (H + 1) + H);
      expect(g.attnGroup(l).end - g.attnGroup(l).start).toBe(3 * H);
    }
    expect(g.receiverIndex('logits')).toBe(g.nReceivers - 1);
    expect(g.logitsGroup.sendersBefore).toBe(g.nSenders);
    expect(g.senderIndex('input')).toBe(0);
    expect(g.receiverIndex('a0.h3.k')).toBe(g.receiverIndex('a0.h3<k>'));
    expect(g.senderIndex('nope')).toBe(-1);
  });

  it('without the shortformer split every receiver reads a prefix of the senders, the first edge offsets tile the edge list', () => {
    const g = buildGraph(presetConfig('gpt2-small'));
    let next = 0;
    for (const r of g.receivers) {
      expect(r.firstEdge).toBe(next);
      expect(Array.from(r.senders)).toEqual(Array.from({ length: g.groups[r.group].sendersBefore }, (_, i) => i));
      expect(r.index).toBeGreaterThanOrEqual(g.groups[r.group].start);
      expect(r.index).toBeLessThan(g.groups[r.group].end);
      next += r.senders.length;
    }
    expect(next).toBe(g.nEdges);
    const toArray = Circuit.full(g).toArray();
    expect(toArray).toEqual([...g.edgeKeys()]);
  });

  it('is built from the engine\'s layout (src/graph/layout.ts): same order, same edges, rows and columns by EAP-IG\'s formulas', () => {
    const cfgs = [presetConfig('gpt2-small'), presetConfig('attn-only-4l'), small(), toyConfig('permute_lists')];
    for (const cfg of cfgs) for (const splitEmbed of [false, true]) {
      const g = buildGraph(cfg, { splitEmbed });
      const L = buildLayout(cfg, splitEmbed);
      expect(g.senders.map((s) => s.key)).toEqual(L.senders);
      expect(g.receivers.map((r) => r.key)).toEqual(L.receivers);
      expect(g.layout.senders).toEqual(L.senders);
      const bad: string[] = [];
      for (let r = 0; r < g.nReceivers; r++) for (let s = 0; s < g.nSenders; s++) if ((g.edgeAt(s, r) >= 0) !== L.hasEdge(s, r)) bad.push(`${L.senders[s]}->${L.receivers[r]}`);
      expect(bad, `${cfg.modelName} split=${splitEmbed}`).toEqual([]);
      // the layout's row / column helpers, from EAP-IG's forward_index / backward_index / prev_index
      const H = cfg.nHeads, nIn = splitEmbed ? 2 : 1, perS = H + (cfg.attnOnly ? 0 : 1), perR = 3 * H + (cfg.attnOnly ? 0 : 1);
      expect(L.nIn).toBe(nIn);
      expect(L.logitsRow).toBe(cfg.nLayers * perR);
      for (let l = 0; l < cfg.nLayers; l++) {
        expect([L.attnRow(l), L.headCol(l), L.sendersBeforeAttn(l)]).toEqual([l * perR, nIn + l * perS, nIn + l * perS]);
        expect(L.senders[L.headCol(l)]).toBe(`a${l}.h0`);
        expect(L.receivers[L.attnRow(l) + 2 * H]).toBe(`a${l}.h0<v>`);
        if (!cfg.attnOnly) {
          expect([L.mlpRow(l), L.mlpCol(l), L.sendersBeforeMlp(l)]).toEqual([l * perR + 3 * H, nIn + l * perS + H, nIn + l * perS + H]);
          expect([L.senders[L.mlpCol(l)], L.receivers[L.mlpRow(l)]]).toEqual([`m${l}`, `m${l}`]);
        }
      }
    }
    // without pos (min_int-like): one embedding sender, the same scheme
    const noPos = buildLayout(small(), { splitEmbed: true, pos: false });
    expect([noPos.nIn, noPos.senders[0], noPos.senders[1], noPos.hasPos]).toEqual([1, 'tok', 'a0.h0', false]);
    expect(buildGraph(small(), { splitEmbed: true, pos: false }).layout.senders).toEqual(noPos.senders);
  });

  it('existsMask is [nReceivers * nSenders], receiver-major', () => {
    const g = buildGraph(small());
    const m = g.existsMask();
    expect(m.length).toBe(g.nReceivers * g.nSenders);
    const S = g.nSenders;
    expect(m[g.receiverIndex('a1.h0<q>') * S + g.senderIndex('a0.h1')]).toBe(1);
    expect(m[g.receiverIndex('a0.h0<q>') * S + g.senderIndex('a0.h1')]).toBe(0);
    expect(m.reduce((a, b) => a + b, 0)).toBe(g.nEdges);
  });
});

describe('graph: the graphology DAG', () => {
  it('component nodes, one edge per graph edge keyed by its name, parallel q/k/v edges', () => {
    const g = buildGraph(small());
    const d = g.dag;
    expect(d.type).toBe('directed');
    expect(d.multi).toBe(true);
    expect(d.order).toBe(g.nSenders + 1);
    expect(d.size).toBe(g.nEdges);
    expect(d.nodes()).toEqual([...g.nodeKeys]);
    expect(d.getNodeAttributes('a1.h0')).toEqual({ kind: 'head', layer: 1, head: 0, sender: g.senderIndex('a1.h0'), receivers: ['q', 'k', 'v'].map((x) => g.receiverIndex(`a1.h0<${x}>`)) });
    expect(d.getNodeAttributes('m0')).toMatchObject({ kind: 'mlp', layer: 0, head: null, receivers: [g.receiverIndex('m0')] });
    expect(d.getNodeAttributes('logits')).toMatchObject({ kind: 'logits', layer: 2, sender: -1 });
    expect(d.getNodeAttributes('input')).toMatchObject({ kind: 'input', layer: -1, receivers: [] });
    const e = 'a0.h1->a1.h0<k>';
    expect(d.source(e)).toBe('a0.h1');
    expect(d.target(e)).toBe('a1.h0');
    expect(d.getEdgeAttributes(e)).toEqual({ index: g.edgeIndex(e), sender: g.senderIndex('a0.h1'), receiver: g.receiverIndex('a1.h0<k>'), qkv: 'k' });
    expect(d.edges('a0.h1', 'a1.h0').sort()).toEqual(['a0.h1->a1.h0<k>', 'a0.h1->a1.h0<q>', 'a0.h1->a1.h0<v>']);
    // acyclic: node order is topological
    const pos = new Map(g.nodeKeys.map((n, i) => [n, i]));
    d.forEachEdge((_k, _a, s, t) => expect(pos.get(s)!).toBeLessThan(pos.get(t)!));
    expect(g.dag).toBe(d); // built once
  });
});

describe('graph: tok/pos split', () => {
  it('standard positions: tok and pos each feed every receiver', () => {
    const cfg = presetConfig('gpt2-small');
    const a = buildGraph(cfg), b = buildGraph(cfg, { splitEmbed: true });
    expect(b.nSenders).toBe(a.nSenders + 1);
    expect(b.nEdges).toBe(a.nEdges + a.nReceivers);
    expect(b.nEdgesAcdc).toBe(a.nEdgesAcdc + a.nReceivers);
    expect(b.senderIndex('input')).toBe(-1);
    expect(b.senders.slice(0, 2).map((s) => s.key)).toEqual(['tok', 'pos']);
    for (const k of ['tok->a0.h0<q>', 'pos->a0.h0<v>', 'pos->m3', 'pos->logits', 'tok->logits']) expect(b.hasEdge(k), k).toBe(true);
  });

  it('shortformer: pos feeds q and k only (never v, an MLP or the logits)', () => {
    const cfg = presetConfig('attn-only-4l');
    const a = buildGraph(cfg), b = buildGraph(cfg, { splitEmbed: true });
    expect(b.nEdges).toBe(a.nEdges + 2 * cfg.nLayers * cfg.nHeads);
    expect(b.senders[1].receivers.length).toBe(2 * 4 * 8);
    for (const r of b.senders[1].receivers) expect(['q', 'k']).toContain(b.receivers[r].qkv);
    expect(b.hasEdge('pos->a3.h7<q>')).toBe(true);
    expect(b.hasEdge('pos->a3.h7<v>')).toBe(false);
    expect(b.hasEdge('pos->logits')).toBe(false);
    expect(() => buildGraph(cfg, { pos: false })).toThrow(/pos: false needs splitEmbed/);
    const noPos = buildGraph(cfg, { splitEmbed: true, pos: false });
    expect(noPos.nEdges).toBe(a.nEdges);
    expect(noPos.senders.map((s) => s.key).slice(0, 2)).toEqual(['tok', 'a0.h0']);
    const mlpShort = buildGraph(small({ positionalEmbeddingType: 'shortformer' }), { splitEmbed: true });
    expect(mlpShort.hasEdge('pos->m0')).toBe(false);
    expect(mlpShort.hasEdge('tok->m0')).toBe(true);
  });
});

describe('graph: the shared toy models reference graphs', () => {
  for (const name of TOY_MODELS) {
    it(`${name}: full_graph_edges equal the split-embed graph; circuit_edges import`, () => {
      const cfg = toyConfig(name);
      const ref = toyReference(name);
      // min_int and majority_element have W_pos frozen at zero: their reference graphs have no `pos`
      const noPos = !ref.nodes.includes('pos');
      expect(noPos).toBe(name === 'min_int' || name === 'majority_element');
      const g = buildGraph(cfg, { splitEmbed: true, pos: !noPos });
      const withPos = buildGraph(cfg, { splitEmbed: true });
      const want = ref.full_graph_edges.map(normalizeEdgeKey).sort();
      expect([...g.edgeKeys()].sort()).toEqual(want);
      // the engine's split graph always has pos: the reference edges plus pos's edges
      expect([...withPos.edgeKeys()].filter((k) => !k.startsWith('pos->')).sort()).toEqual(want.filter((k) => !k.startsWith('pos->')));
      expect(g.nEdges).toBe(ref.full_graph_edges.length);
      const c = Circuit.fromEdges(g, ref.circuit_edges);
      expect(c.size).toBe(ref.circuit_edges.length);
      for (const k of ref.circuit_edges) expect(c.has(k)).toBe(true);
      expect(c.toArray()).toEqual([...ref.circuit_edges].map(normalizeEdgeKey).sort((x, y) => g.edgeIndex(x) - g.edgeIndex(y)));
      expect(Circuit.fromEdges(g, ref.uncertain_edges).size).toBe(ref.uncertain_edges.length);
      // the reference circuits are already pruned
      expect(c.pruneDangling().equals(c)).toBe(true);
      // and move to the engine's split graph by key
      const moved = c.toGraph(withPos);
      expect(moved.toArray()).toEqual(c.toArray());
      expect(moved.graph).toBe(withPos);
      // their nodes list = the full graph's nodes minus those nothing touches (pos in min_int / majority: W_pos = 0 -> omitted)
      for (const n of ref.nodes) expect(g.hasNode(n)).toBe(true);
    });
  }
});

describe('graph: names', () => {
  it('parses and normalises edge keys (the toy `.q` spelling included)', () => {
    expect(parseEdgeKey('a0.h1->a2.h3<q>')).toEqual({ key: 'a0.h1->a2.h3<q>', sender: 'a0.h1', receiver: 'a2.h3<q>', receiverNode: 'a2.h3', qkv: 'q' });
    expect(parseEdgeKey('tok->a0.h0.v')).toEqual({ key: 'tok->a0.h0<v>', sender: 'tok', receiver: 'a0.h0<v>', receiverNode: 'a0.h0', qkv: 'v' });
    expect(parseEdgeKey('m4 -> logits')).toMatchObject({ key: 'm4->logits', receiverNode: 'logits', qkv: null });
    expect(normalizeEdgeKey('a0.h0->a1.h0.k')).toBe('a0.h0->a1.h0<k>');
    expect(() => parseEdgeKey('a0.h1 a2.h3')).toThrow(/graph: 'a0.h1 a2.h3' is not an edge key; expected '<sender>-><receiver>'/);
    expect(() => parseEdgeKey('a0.h1->a2.h3')).toThrow(/needs <q>, <k> or <v>/);
    expect(() => parseEdgeKey('logits->m1')).toThrow(/no valid sender/);
    expect(() => parseEdgeKey('a0.h1->input')).toThrow(/no valid receiver/);
    expect(() => parseEdgeKey('a0.h1->m2<q>')).toThrow(/only heads have q\/k\/v/);
  });

  it('splitEdge is the raw split parseEdgeKey builds on; receiverNode answers as parseReceiverKey', () => {
    expect(splitEdge('a0.h1->a2.h3<q>')).toEqual(['a0.h1', 'a2.h3<q>']);
    expect(splitEdge('m4 -> logits')).toEqual(['m4 ', ' logits']);
    expect(() => splitEdge('a0.h1 a2.h3')).toThrow(/graph: 'a0.h1 a2.h3' is not an edge key/);
    const names = ['a2.h3<q>', 'a2.h3<k>', 'a10.h11<v>', 'a2.h3.q', 'a2.h3.v', 'm4', 'm12', 'logits', 'a2.h3', ' a2.h3<q>', 'a2.h3<q> ',
      'a2.h3<x>', 'm4<q>', 'm4.k', 'logits\u00a0', 'q', '<q>', '', 'x.q', 'input', 'a0.h0\t'];
    for (const n of names) expect(receiverNode(n), JSON.stringify(n)).toBe(parseReceiverKey(n).node);
  });

  it('links every sender and receiver to its TransformerLens hook and back', () => {
    expect(formatHookPoint(senderHook('a3.h2'))).toBe('blocks.3.attn.hook_result[:, :, 2]');
    expect(formatHookPoint(receiverHook('a3.h2<q>', 12))).toBe('blocks.3.hook_q_input[:, :, 2]');
    expect(formatHookPoint(receiverHook('a3.h2.v', 12))).toBe('blocks.3.hook_v_input[:, :, 2]');
    expect(formatHookPoint(senderHook('m5'))).toBe('blocks.5.hook_mlp_out');
    expect(formatHookPoint(receiverHook('m5', 12))).toBe('blocks.5.hook_mlp_in');
    expect(formatHookPoint(receiverHook('logits', 12))).toBe('blocks.11.hook_resid_post');
    expect(formatHookPoint(senderHook('input'))).toBe('blocks.0.hook_resid_pre');
    expect(formatHookPoint(senderHook('tok'))).toBe('hook_embed');
    expect(formatHookPoint(senderHook('pos'))).toBe('hook_pos_embed');
    expect(parseHookPoint('blocks.3.attn.hook_result[:, :, 2]')).toEqual({ name: 'blocks.3.attn.hook_result', head: 2 });
    expect(parseHookPoint('blocks.3.hook_mlp_in[:]')).toEqual({ name: 'blocks.3.hook_mlp_in', head: null });
    for (const split of [false, true]) {
      const g = buildGraph(presetConfig('gpt2-small'), { splitEmbed: split });
      for (const s of g.senders) expect(fromHook(formatHookPoint(senderHook(s.key)), 12)).toEqual({ role: 'sender', key: s.key });
      for (const r of g.receivers) expect(fromHook(receiverHook(r.key, 12), 12)).toEqual({ role: 'receiver', key: r.key });
    }
    expect(fromHook('blocks.3.attn.hook_z[:, :, 1]', 12)).toBeNull();
    expect(fromHook('blocks.12.hook_mlp_out', 12)).toBeNull();
    expect(fromHook('blocks.3.attn.hook_result', 12)).toBeNull();
  });
});

describe('graph command', () => {
  afterEach(() => vi.restoreAllMocks());

  it('resolves presets, directories, config files and weights files without reading weights', () => {
    expect(configForSpec('gpt2-small').nLayers).toBe(12);
    const dir = join(SHARED, 'models', 'permute_lists');
    expect(configForSpec(dir).nLayers).toBe(2);
    expect(configForSpec(join(dir, 'config.json')).nLayers).toBe(2);
    expect(configForSpec(join(dir, 'model.safetensors')).nLayers).toBe(2);
    expect(configForSpec('whatever', join(dir, 'config.json')).nLayers).toBe(2);
    expect(() => configForSpec('no-such-model-xyz')).toThrow(/graph: --model 'no-such-model-xyz' is not a preset/);
    expect(() => configForSpec(SHARED)).toThrow(/has no config.json/);
  });

  it('--json prints exactly the counts first, with extras after', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out.push(String(s)); return true; });
    await graphCommand.handler({ model: 'gpt2-small', json: true, splitEmbed: false, _: ['graph'], $0: 'circuitscope' });
    const j = JSON.parse(out.join(''));
    expect(Object.keys(j).slice(0, 4)).toEqual(['senders', 'receivers', 'edges', 'edgesAcdc']);
    expect(j).toMatchObject({ senders: 157, receivers: 445, edges: 32491, edgesAcdc: 32923, splitEmbed: false, nLayers: 12 });
    out.length = 0;
    await graphCommand.handler({ model: 'attn-only-4l', json: false, splitEmbed: true, _: ['graph'], $0: 'circuitscope' });
    expect(out.join('')).toMatch(/edgesAcdc\s+1,441/);
    expect(graphSummary(presetConfig('redwood-attn-2l'), false).edgesAcdc).toBe(305);
  });
});
