/**
 * Circuits over the component graph (src/graph/circuit.ts, serialize.ts): membership and
 * errors, dangling-edge pruning (hand-made circuits on a 2-layer model, and random circuits
 * against an independent EAP-IG-style node pruning, through a Circuit and through edge keys),
 * masks (against the patching engine's own mask builder), node-level circuits, ACDC's
 * canonical IOI / Greater-Than / Docstring edge counts rebuilt from docs/graph.md, and the
 * file formats (circuit JSON, EAP-IG / MIB JSON, DOT, reference circuits) with round trips,
 * read with and without a graph.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { finalizeConfig, presetConfig, resolveConfigJson, type ModelConfig } from '../../src/model/config.js';
import { buildGraph, type ComponentGraph } from '../../src/graph/graph.js';
import { Circuit, circuitFromNodes } from '../../src/graph/circuit.js';
import { receiverNode } from '../../src/graph/names.js';
import {
  circuitFromJson, circuitFromMib, circuitFromReference, circuitToDot, circuitToJson, circuitToMib, readCircuit, readCircuitJson, toDot, toMib,
  type CircuitFile, type MibGraphJson,
} from '../../src/graph/serialize.js';
import { buildLayout, fullMask, maskFromEdges } from '../../src/graph/layout.js';
import { SHARED } from '../helpers.js';
import { pruneDangling } from '../../src/graph/selection.js';

const tiny = (over: Partial<Record<keyof ModelConfig, unknown>> = {}): ModelConfig =>
  finalizeConfig({ modelName: 'tiny', nLayers: 2, nHeads: 2, dModel: 8, nCtx: 8, dVocab: 10, ...over } as Parameters<typeof finalizeConfig>[0], 'test');

const G2 = buildGraph(tiny()); // input; a0.h0 a0.h1 m0; a1.h0 a1.h1 m1; logits

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCircuit(g: ComponentGraph, p: number, seed: number): Circuit {
  const r = rng(seed);
  return Circuit.fromEdges(g, g.edgeKeys().filter(() => r() < p));
}

/** EAP-IG's Graph.prune on edge-key strings: drop nodes without in-edges (embedding exempt) or out-edges (logits exempt), then their edges; repeat. */
function referencePrune(edges: Iterable<string>): Set<string> {
  let cur = new Set(edges);
  for (;;) {
    const hasOut = new Set<string>(['logits']), hasIn = new Set<string>(['input', 'tok', 'pos']);
    for (const e of cur) { const [s, r] = e.split('->'); hasOut.add(s); hasIn.add(receiverNode(r)); }
    const alive = (n: string) => hasOut.has(n) && hasIn.has(n);
    const next = new Set([...cur].filter((e) => { const [s, r] = e.split('->'); return alive(s) && alive(receiverNode(r)); }));
    if (next.size === cur.size) return next;
    cur = next;
  }
}

describe('circuit: construction, membership, errors', () => {
  it('full, empty, fromEdges, has, size, toArray in graph order', () => {
    expect(Circuit.full(G2).size).toBe(G2.nEdges);
    expect(Circuit.empty(G2).size).toBe(0);
    const c = Circuit.fromEdges(G2, ['a1.h0->logits', 'input->a0.h1<q>', 'a0.h1->a1.h0.v', 'a0.h1->a1.h0<v>']);
    expect(c.size).toBe(3);
    expect(c.has('a0.h1->a1.h0<v>')).toBe(true);
    expect(c.has('a0.h1->a1.h0.v')).toBe(true);
    expect(c.has('a0.h1->a1.h0<q>')).toBe(false);
    expect(c.has('not an edge')).toBe(false);
    expect(c.toArray()).toEqual(['input->a0.h1<q>', 'a0.h1->a1.h0<v>', 'a1.h0->logits']);
    expect([...c]).toEqual(c.toArray());
    expect(JSON.stringify(c)).toBe(JSON.stringify(c.toArray()));
    expect(Array.from(c.indices())).toEqual(c.toArray().map((k) => G2.edgeIndex(k)));
    expect(Object.isFrozen(c)).toBe(true);
    expect(c.nodes()).toEqual(['input', 'a0.h1', 'a1.h0', 'logits']);
  });

  it('set operations return new circuits', () => {
    const a = Circuit.fromEdges(G2, ['input->m0', 'm0->logits']);
    const b = Circuit.fromEdges(G2, ['m0->logits', 'input->logits']);
    expect(a.union(b).toArray()).toEqual(['input->m0', 'input->logits', 'm0->logits']);
    expect(a.intersect(b).toArray()).toEqual(['m0->logits']);
    expect(a.minus(b).toArray()).toEqual(['input->m0']);
    expect(a.with(['input->logits']).equals(a.union(b))).toBe(true);
    expect(a.without(['input->m0']).toArray()).toEqual(['m0->logits']);
    expect(a.size).toBe(2);
    expect(Circuit.fromIndices(G2, a.indices()).equals(a)).toBe(true);
    expect(() => a.union(Circuit.empty(buildGraph(presetConfig('redwood-attn-2l'))))).toThrow(/different graphs/);
  });

  it('an unknown key is an error naming it, why, and the closest valid key', () => {
    expect(() => Circuit.fromEdges(G2, ['a0.h1->a0.h0<q>'])).toThrow(
      /circuit: 'a0.h1->a0.h0<q>' is not an edge of the graph of tiny \(2 layers x 2 heads, MLPs\): a head does not feed the q\/k\/v inputs of its own layer \(did you mean 'a0.h1->a1.h0<q>'\?\)/);
    expect(() => Circuit.fromEdges(G2, ['m1->a1.h0<k>'])).toThrow(/an MLP feeds only later layers and the logits \(did you mean '(m0->a1.h0<k>|m1->logits)'\?\)/);
    expect(() => Circuit.fromEdges(G2, ['a5.h0->logits'])).toThrow(/no sender 'a5.h0' in this graph \(did you mean 'a[01].h0->logits'\?\)/);
    expect(() => Circuit.fromEdges(G2, ['tok->m0'])).toThrow(/no sender 'tok' in this graph \(the embedding is one sender 'input' unless the graph is built with splitEmbed\) \(did you mean 'input->m0'\?\)/);
    expect(() => Circuit.fromEdges(buildGraph(tiny(), { splitEmbed: true }), ['input->m0'])).toThrow(/splits the embedding into 'tok' and 'pos'\) \(did you mean 'tok->m0'\?\)/);
    expect(() => Circuit.fromEdges(G2, ['a0.h1 to m0'])).toThrow(/is not an edge key; expected '<sender>-><receiver>', e.g. 'a0.h1->a2.h3<q>'/);
    expect(() => Circuit.fromEdges(G2, ['a0.h0->a1.h1<x>'])).toThrow(/edges are written '<sender>-><receiver>'/);
    expect(() => Circuit.fromEdges(G2, ['m0->m0'], { source: 'c.json' })).toThrow(/^circuit: c.json: 'm0->m0'/);
    expect(() => Circuit.fromIndices(G2, [G2.nEdges])).toThrow(/out of range/);
  });
});

describe('circuit: pruneDangling', () => {
  const prune = (edges: string[]) => Circuit.fromEdges(G2, edges).pruneDangling().toArray().sort();

  it('keeps complete paths from the input to the logits', () => {
    const path = ['input->a0.h0<q>', 'a0.h0->a1.h1<v>', 'a1.h1->logits'];
    expect(prune(path)).toEqual([...path].sort());
    const viaMlp = ['input->m0', 'm0->a1.h0<q>', 'a1.h0->logits', 'input->logits'];
    expect(prune(viaMlp)).toEqual([...viaMlp].sort());
    const c = Circuit.fromEdges(G2, path);
    expect(c.pruneDangling()).toBe(c); // unchanged: the same object
  });

  it('a head reached through any one of q/k/v counts as reached', () => {
    expect(prune(['input->a0.h0<k>', 'a0.h0->logits'])).toEqual(['a0.h0->logits', 'input->a0.h0<k>']);
  });

  it('drops a sender no path from the input reaches', () => {
    expect(prune(['a0.h1->logits'])).toEqual([]);
    // m0 is fed only by the unreached a0.h1, so m0's own output goes too
    expect(prune(['a0.h1->m0', 'm0->logits'])).toEqual([]);
    // a head whose only input edge comes from an unreached head
    expect(prune(['a0.h0->a1.h0<q>', 'a1.h0->logits', 'input->m1', 'm1->logits'])).toEqual(['input->m1', 'm1->logits']);
  });

  it('drops edges into nodes with no path to the logits, transitively', () => {
    expect(prune(['input->a0.h0<k>'])).toEqual([]);
    expect(prune(['input->a0.h0<q>', 'a0.h0->m0', 'm0->a1.h0<k>'])).toEqual([]);
    expect(prune(['input->a0.h0<q>', 'a0.h0->m0', 'm0->a1.h0<k>', 'a0.h0->a1.h1<v>', 'a1.h1->logits']))
      .toEqual(['a0.h0->a1.h1<v>', 'a1.h1->logits', 'input->a0.h0<q>']);
  });

  it('mixed: a valid path survives next to dangling branches on both sides', () => {
    const keep = ['input->a0.h1<v>', 'a0.h1->m0', 'm0->a1.h1<q>', 'a1.h1->logits'];
    const dangling = ['a0.h0->a1.h0<k>', 'a1.h0->m1', 'input->a1.h0<v>', 'm0->m1'];
    // a1.h0 is reached (input->a1.h0<v>) but m1 reaches nothing: a1.h0, m1 die; a0.h0 is never reached
    expect(prune([...keep, ...dangling])).toEqual([...keep].sort());
  });

  it('equals EAP-IG-style node pruning on random circuits (by index and by key), is idempotent and shrinks', () => {
    const graphs = [G2, buildGraph(tiny({ nLayers: 3, nHeads: 3, dModel: 9 })), buildGraph(presetConfig('redwood-attn-2l')), buildGraph(tiny({ positionalEmbeddingType: 'shortformer' }), { splitEmbed: true })];
    let nonTrivial = 0;
    for (const g of graphs) for (const p of [0.05, 0.15, 0.3, 0.6]) for (let seed = 0; seed < 25; seed++) {
      const c = randomCircuit(g, p, seed * 7 + Math.round(p * 100));
      const pr = c.pruneDangling();
      expect(new Set(pr.toArray())).toEqual(referencePrune(c.toArray()));
      // the same algorithm on edge keys without a graph (selection.ts), in any key order
      const keys = c.toArray().reverse();
      expect(pruneDangling(keys)).toEqual(referencePrune(keys));
      expect([...pruneDangling(keys)]).toEqual(keys.filter((k) => pr.has(k)));
      expect(pr.pruneDangling().equals(pr)).toBe(true);
      expect(pr.minus(c).size).toBe(0);
      if (pr.size > 0 && pr.size < c.size) nonTrivial++;
    }
    expect(nonTrivial).toBeGreaterThan(20);
  });
});

describe('circuit: masks', () => {
  it('maskMatrix is [nReceivers * nSenders], receiver-major, 1 on circuit edges', () => {
    const c = Circuit.fromEdges(G2, ['a0.h1->a1.h0<k>', 'm1->logits']);
    const m = c.maskMatrix();
    const S = G2.nSenders;
    expect(m).toBeInstanceOf(Float32Array);
    expect(m.length).toBe(G2.nReceivers * S);
    expect(m[G2.receiverIndex('a1.h0<k>') * S + G2.senderIndex('a0.h1')]).toBe(1);
    expect(m[G2.receiverIndex('logits') * S + G2.senderIndex('m1')]).toBe(1);
    expect(m.reduce((a, b) => a + b, 0)).toBe(2);
    expect(Circuit.fromMask(G2, m).equals(c)).toBe(true);
    expect(Circuit.full(G2).maskMatrix()).toEqual(G2.existsMask());
    expect(() => Circuit.fromMask(G2, new Float32Array(3))).toThrow(/mask has 3 entries/);
  });

  it('fromMask ignores entries where no edge exists and thresholds at 0.5', () => {
    const m = new Float32Array(G2.nReceivers * G2.nSenders).fill(0.7);
    expect(Circuit.fromMask(G2, m).equals(Circuit.full(G2))).toBe(true);
    expect(Circuit.fromMask(G2, m, 0.8).size).toBe(0);
  });

  it('equals the patching engine\'s masks for the same edges (src/graph/layout.ts)', () => {
    for (const [cfg, split] of [[presetConfig('gpt2-small'), false], [presetConfig('attn-only-4l'), true], [tiny(), true]] as const) {
      const g = buildGraph(cfg, { splitEmbed: split });
      const L = buildLayout(cfg, split);
      expect(Circuit.full(g).maskMatrix()).toEqual(fullMask(L));
      for (let seed = 0; seed < 3; seed++) {
        const c = randomCircuit(g, 0.1, seed);
        expect(c.maskMatrix()).toEqual(maskFromEdges(L, c.toArray()));
      }
    }
  });
});

describe('circuit: node-level circuits', () => {
  it('circuitFromNodes includes every edge between the nodes (with input and logits by default)', () => {
    const c = circuitFromNodes(G2, ['a0.h1', 'm1']);
    const want = G2.edgeKeys().filter((k) => {
      const [s, r] = k.split('->');
      const n = new Set(['input', 'a0.h1', 'm1', 'logits']);
      return n.has(s) && n.has(receiverNode(r));
    });
    expect(c.toArray()).toEqual(want);
    expect(c.toArray()).toEqual(['input->a0.h1<q>', 'input->a0.h1<k>', 'input->a0.h1<v>', 'input->m1', 'a0.h1->m1', 'input->logits', 'a0.h1->logits', 'm1->logits']);
    expect(circuitFromNodes(G2, ['a0.h1', 'a1.h0'], { inputs: false, logits: false }).toArray()).toEqual(['a0.h1->a1.h0<q>', 'a0.h1->a1.h0<k>', 'a0.h1->a1.h0<v>']);
    expect(circuitFromNodes(G2, ['a0.h1', 'a1.h0'], { qkv: ['v'], logits: false }).toArray()).toEqual(['input->a0.h1<v>', 'input->a1.h0<v>', 'a0.h1->a1.h0<v>']);
    expect(circuitFromNodes(G2, G2.nodeKeys).equals(Circuit.full(G2))).toBe(true);
    expect(() => circuitFromNodes(G2, ['a1.h2'])).toThrow(/circuit: 'a1.h2' is not a node of the graph of tiny.*did you mean 'a1.h[01]'/);
  });
});

describe('circuit: ACDC canonical circuits (docs/graph.md; edge counts incl. q/k/v direct edges)', () => {
  const gpt2 = buildGraph(presetConfig('gpt2-small'));
  const kindOf = (g: ComponentGraph, key: string): string => {
    const e = g.edgeIndex(key);
    const s = g.senders[g.edgeSender[e]], r = g.receivers[g.edgeReceiver[e]];
    const sk = s.kind === 'input' ? 'resid_pre' : s.kind === 'head' ? 'head' : 'MLP';
    const rk = r.kind === 'logits' ? 'resid_post' : r.kind === 'mlp' ? 'mlp_in' : 'head-input';
    return `${sk}->${rk}`;
  };
  const composition = (c: Circuit): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const k of c) { const t = kindOf(c.graph, k); out[t] = (out[t] ?? 0) + 1; }
    return out;
  };

  it('IOI: 1,041 edges with the composition of §3.2', () => {
    const groups: Record<string, [number, number][]> = {
      nameMover: [[9, 9], [10, 0], [9, 6]],
      backup: [[10, 10], [10, 6], [10, 2], [10, 1], [11, 2], [9, 7], [9, 0], [11, 9]],
      negative: [[10, 7], [11, 10]],
      s2: [[7, 3], [7, 9], [8, 6], [8, 10]],
      induction: [[5, 5], [5, 8], [5, 9], [6, 9]],
      dup: [[0, 1], [0, 10], [3, 0]],
      prev: [[2, 2], [4, 11]],
    };
    const heads = (names: string[]) => names.flatMap((n) => groups[n].map(([l, h]) => `a${l}.h${h}`));
    const inCircuit = new Set(heads(Object.keys(groups)));
    expect(inCircuit.size).toBe(26);
    const layer = (node: string) => (node === 'input' ? -1 : node === 'logits' ? 13 : Number(/^[am](\d+)/.exec(node)![1]));
    // 1-2: full graph; non-circuit heads lose inputs and outputs; circuit heads lose their
    // inputs from resid_pre and from heads, and their edge to resid_post
    const keys = new Set(gpt2.edgeKeys().filter((k) => {
      const [s, r] = k.split('->');
      const rn = receiverNode(r);
      const sHead = s.startsWith('a'), rHead = rn.startsWith('a');
      if (sHead && !inCircuit.has(s)) return false;
      if (rHead && !inCircuit.has(rn)) return false;
      if (rHead && (s === 'input' || sHead)) return false;
      if (sHead && rn === 'logits') return false;
      return true;
    }));
    // 3: special connections; INPUT = resid_pre + all MLP outputs, OUTPUT = resid_post + all MLP inputs
    const INPUT = ['input', ...Array.from({ length: 12 }, (_, l) => `m${l}`)];
    const OUTPUT = ['logits', ...Array.from({ length: 12 }, (_, l) => `m${l}`)];
    const connect = (senders: string[], receivers: string[], qkv: string[] | null) => {
      for (const s of senders) for (const r of receivers) {
        if (layer(r) <= layer(s)) continue;
        for (const x of qkv ?? [null]) keys.add(`${s}->${x ? `${r}<${x}>` : r}`);
      }
    };
    connect(INPUT, heads(['prev']), ['q', 'k', 'v']);
    connect(INPUT, heads(['dup']), ['q', 'k', 'v']);
    connect(INPUT, heads(['s2']), ['q']);
    connect(INPUT, heads(['negative', 'nameMover', 'backup']), ['k', 'v']);
    connect(heads(['prev']), heads(['induction']), ['k', 'v']);
    connect(heads(['induction']), heads(['s2']), ['k', 'v']);
    connect(heads(['dup']), heads(['s2']), ['k', 'v']);
    connect(heads(['s2']), heads(['negative', 'nameMover', 'backup']), ['q']);
    connect(heads(['negative', 'nameMover', 'backup']), OUTPUT, null);
    const c = Circuit.fromEdges(gpt2, keys);
    expect(c.sizeAcdc()).toBe(1041);
    expect(composition(c)).toEqual({
      'MLP->head-input': 567, 'head->head-input': 124, 'head->mlp_in': 123, 'MLP->mlp_in': 66,
      'resid_pre->head-input': 45, 'head->resid_post': 13, 'MLP->resid_post': 12, 'resid_pre->mlp_in': 12, 'resid_pre->resid_post': 1,
    });
    expect(c.sizeAcdc() - c.size).toBe(78);
    expect(c.nodes().filter((n) => n.startsWith('a')).length).toBe(26);
    // it has no dangling edges (every circuit head feeds the later MLPs, which reach the logits)
    expect(c.pruneDangling().equals(c)).toBe(true);
    // and it is far from the node-level circuit of the same 26 heads plus every MLP
    const nodeLevel = circuitFromNodes(gpt2, [...inCircuit, ...Array.from({ length: 12 }, (_, l) => `m${l}`)]);
    expect(c.minus(nodeLevel).size).toBe(0);
    expect(nodeLevel.sizeAcdc()).toBeGreaterThan(1041);
  });

  it('Greater-Than: 262 edges with the composition of §3.3', () => {
    const early = [[0, 3], [0, 5]].map(([l, h]) => `a${l}.h${h}`), g01 = ['a0.h1'];
    const amid = [[5, 5], [6, 1], [6, 9], [7, 10], [8, 11], [9, 1]].map(([l, h]) => `a${l}.h${h}`);
    const mearly = ['m0', 'm1', 'm2', 'm3'], mlate = ['m8', 'm9', 'm10', 'm11'];
    const layer = (n: string) => Number(/^[am](\d+)/.exec(n)![1]);
    const keys = new Set<string>();
    const qkv = (h: string) => ['q', 'k', 'v'].map((x) => `${h}<${x}>`);
    for (const h of [...early, ...g01]) for (const r of qkv(h)) keys.add(`input->${r}`);
    for (const m of mearly) keys.add(`input->${m}`);
    for (const n of [...amid, ...mlate]) keys.add(`${n}->logits`);
    for (const grp of [mearly, mlate]) for (const a of grp) for (const b of grp) if (layer(a) < layer(b)) keys.add(`${a}->${b}`);
    const pair = (from: string[], to: string[]) => {
      for (const s of from) for (const t of to) {
        const ok = layer(s) < layer(t) || (s.startsWith('a') && t.startsWith('m') && layer(s) === layer(t));
        if (!ok) continue;
        if (t.startsWith('a')) for (const r of qkv(t)) keys.add(`${s}->${r}`); else keys.add(`${s}->${t}`);
      }
    };
    pair(g01, mearly); pair(g01, amid); pair(early, amid); pair(mearly, amid); pair(amid, mlate);
    for (let l = 0; l < 9; l++) for (let l2 = l + 1; l2 < 9; l2++) keys.add(`m${l}->m${l2}`);
    for (const h of amid) for (let l = 0; l < layer(h); l++) keys.add(`m${l}->${h}<q>`);
    const c = Circuit.fromEdges(gpt2, keys);
    expect(c.sizeAcdc()).toBe(262);
    expect(composition(c)).toEqual({
      'MLP->head-input': 89, 'head->head-input': 54, 'MLP->mlp_in': 42, 'head->mlp_in': 27,
      'resid_pre->head-input': 9, 'head->resid_post': 6, 'MLP->resid_post': 4, 'resid_pre->mlp_in': 4,
    });
  });

  it('Docstring (attn-only-4l): 37 edges (§3.4)', () => {
    const g = buildGraph(presetConfig('attn-only-4l'));
    const e: string[] = ['input->a0.h5<v>', 'input->a1.h4<v>', 'a0.h5->a1.h4<v>'];
    for (const x of ['q', 'k']) e.push(`input->a1.h2<${x}>`, `a0.h5->a1.h2<${x}>`, `input->a2.h0<${x}>`, `a0.h5->a2.h0<${x}>`);
    e.push('a1.h4->a2.h0<v>');
    for (const h of ['a3.h0', 'a3.h6']) e.push(`a1.h4->${h}<q>`, `a2.h0->${h}<k>`, `a1.h2->${h}<k>`, `input->${h}<v>`, `a0.h5->${h}<v>`, `${h}->logits`);
    const c = Circuit.fromEdges(g, e);
    expect(c.size).toBe(24);
    expect(c.sizeAcdc()).toBe(37);
    expect(c.pruneDangling().equals(c)).toBe(true);
  });
});

describe('serialize: circuit JSON', () => {
  const c = Circuit.fromEdges(G2, ['input->a0.h1<v>', 'a0.h1->m0', 'm0->a1.h1<q>', 'a1.h1->logits']);
  const scores = new Map(G2.edgeKeys().map((k, i) => [k, (i % 7) - 3.25]));

  it('writes the graph part with meta in docs/graph.md order and reads it back', () => {
    const meta = { model: 'tiny', task: 'toy', method: 'eap', threshold: 0.1, metric: 'logit_diff', createdAt: '2025-01-01T00:00:00Z', results: { clean: 1 }, seed: 3 };
    const j = circuitToJson(c, { scores, meta });
    expect(Object.keys(j)).toEqual(['format', 'version', 'model', 'task', 'method', 'threshold', 'metric', 'createdAt', 'seed', 'splitEmbed', 'modelConfig', 'nodes', 'edges', 'results']);
    expect(j.nodes).toEqual(['input', 'a0.h1', 'm0', 'a1.h1', 'logits']);
    expect(j.edges).toHaveLength(G2.nEdges); // scores given: every edge, flagged
    expect(j.edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`)).toEqual(c.toArray());
    expect(j.edges[0]).toEqual({ from: 'input', to: 'a0.h0<q>', score: -3.25, inCircuit: false });
    const back = circuitFromJson(G2, JSON.parse(JSON.stringify(j)), 'c.json');
    expect(back.circuit.equals(c)).toBe(true);
    expect(back.scores).toEqual(scores);
    expect(back.meta).toMatchObject({ model: 'tiny', method: 'eap', threshold: 0.1, results: { clean: 1 }, seed: 3 });
  });

  it('without scores lists only the circuit edges; index-ordered scores with NaN = unscored', () => {
    const j = circuitToJson(c);
    expect(j.edges.map((e) => `${e.from}->${e.to}`)).toEqual(c.toArray());
    expect(j.edges.every((e) => e.score === null && e.inCircuit)).toBe(true);
    const arr = new Float32Array(G2.nEdges).fill(Number.NaN);
    arr[G2.edgeIndex('m0->a1.h1<q>')] = 2;
    const j2 = circuitToJson(c, { scores: arr, edges: 'circuit' });
    expect(j2.edges.map((e) => e.score)).toEqual([null, null, 2, null]);
    expect(circuitFromJson(G2, j2).scores).toEqual(new Map([['m0->a1.h1<q>', 2]]));
    expect(() => circuitToJson(c, { scores: new Float32Array(3) })).toThrow(/3 scores given for a graph of/);
    expect(() => circuitToJson(c, { scores: new Map([['m1->m0', 1]]) })).toThrow(/'m1->m0', which is not an edge/);
  });

  it('reads the `.q` spelling, missing inCircuit as true, and fails clearly', () => {
    const r = circuitFromJson(G2, { edges: [{ from: 'a0.h1', to: 'a1.h0.k' }, { from: 'm0', to: 'logits', score: 1, inCircuit: false }] });
    expect(r.circuit.toArray()).toEqual(['a0.h1->a1.h0<k>']);
    expect(r.scores.get('m0->logits')).toBe(1);
    expect(() => circuitFromJson(G2, { edges: {} }, 'x.json')).toThrow(/circuit: x.json: 'edges' is not an array/);
    expect(() => circuitFromJson(G2, { modelConfig: { nLayers: 12, nHeads: 12 }, edges: [] }, 'x.json')).toThrow(/modelConfig says 12 layers x 12 heads but the model is tiny/);
    expect(() => circuitFromJson(G2, { edges: [{ from: 'tok', to: 'm0' }] }, 'x.json')).toThrow(/x.json: edge 'tok->m0' uses the split embedding.*splitEmbed/);
    expect(() => circuitFromJson(G2, { edges: [{ from: 'm1', to: 'm0' }] }, 'x.json')).toThrow(/circuit: x.json: 'm1->m0' is not an edge/);
  });
});

describe('serialize: EAP-IG / MIB graph JSON', () => {
  const c = Circuit.fromEdges(G2, ['input->a0.h1<v>', 'a0.h1->a1.h1<q>', 'a1.h1->logits']);
  const scores = new Map(G2.edgeKeys().map((k, i) => [k, i / 10]));

  it('lists every node and edge with in_graph flags and scores, and round-trips (both node dialects)', () => {
    const j = circuitToMib(c, { scores });
    expect(j.cfg).toEqual({ n_layers: 2, n_heads: 2, parallel_attn_mlp: false, d_model: 8 });
    expect(Object.keys(j.nodes)).toEqual([...G2.nodeKeys]);
    expect(j.nodes['a0.h1']).toEqual({ in_graph: true });
    expect(j.nodes['a0.h0']).toEqual({ in_graph: false });
    expect(j.nodes.logits).toEqual({ in_graph: true });
    expect(Object.keys(j.edges)).toEqual([...G2.edgeKeys()]);
    expect(j.edges['a0.h1->a1.h1<q>']).toEqual({ score: scores.get('a0.h1->a1.h1<q>'), in_graph: true });
    for (const dialect of ['object', 'bool'] as const) {
      const text = JSON.stringify(circuitToMib(c, { scores, nodes: dialect }));
      const back = circuitFromMib(G2, JSON.parse(text));
      expect(back.circuit.equals(c)).toBe(true);
      expect(back.scores).toEqual(scores);
    }
    expect(circuitToMib(c, { nodes: 'bool' }).nodes['a1.h1']).toBe(true);
    expect(circuitToMib(c).edges['input->m0']).toEqual({ score: null, in_graph: false });
  });

  it('GPT-2 small: 158 nodes and 32,491 edges, as EAP-IG writes them', () => {
    const g = buildGraph(presetConfig('gpt2-small'));
    const j = circuitToMib(Circuit.empty(g));
    expect(Object.keys(j.nodes)).toHaveLength(158);
    expect(Object.keys(j.edges)).toHaveLength(32491);
    expect(j.edges['a0.h1->a2.h3<q>']).toBeDefined();
    expect(circuitFromMib(g, j).circuit.size).toBe(0);
  });

  it('checks the cfg, skips out-of-circuit MLP edges for attention-only models, fails clearly', () => {
    const j = circuitToMib(c);
    expect(() => circuitFromMib(G2, { ...j, cfg: { ...j.cfg, n_layers: 3 } }, 'g.json')).toThrow(/circuit: g.json: cfg says 3 layers x 2 heads/);
    expect(() => circuitFromMib(G2, { ...j, cfg: { ...j.cfg, parallel_attn_mlp: true } })).toThrow(/parallel_attn_mlp/);
    expect(() => circuitFromMib(G2, { cfg: j.cfg, nodes: {}, edges: [] })).toThrow(/'edges' must be an object/);
    const ao = buildGraph(tiny({ attnOnly: true }));
    const withMlp: MibGraphJson = { ...circuitToMib(Circuit.full(ao)) };
    withMlp.edges = { ...withMlp.edges, 'input->m0': { score: 0, in_graph: false }, 'm0->logits': { score: 0, in_graph: false } };
    expect(circuitFromMib(ao, withMlp).circuit.equals(Circuit.full(ao))).toBe(true);
    withMlp.edges['m0->logits'] = { score: 0, in_graph: true };
    expect(() => circuitFromMib(ao, withMlp)).toThrow(/'m0->logits' is not an edge/);
  });
});

describe('serialize: reference circuits, auto-detection, DOT', () => {
  const permDir = join(SHARED, 'models', 'permute_lists');
  const permCfg = resolveConfigJson(JSON.parse(readFileSync(join(permDir, 'config.json'), 'utf8')), 'permute_lists');
  const perm = buildGraph(permCfg, { splitEmbed: true });
  const ref = JSON.parse(readFileSync(join(permDir, 'reference_circuit.json'), 'utf8'));

  it('reads reference circuits (a0.h0.q spelling) and refuses them on an unsplit graph', () => {
    const c = circuitFromReference(perm, ref, 'permute_lists');
    expect(c.size).toBe(7);
    expect(c.has('a0.h0->a1.h0<v>')).toBe(true);
    expect(circuitFromReference(perm, ref, 'p', 'full_graph_edges').equals(Circuit.full(perm))).toBe(true);
    expect(() => circuitFromReference(buildGraph(permCfg), ref, 'permute_lists')).toThrow(/uses the split embedding/);
    expect(() => circuitFromReference(perm, {}, 'x')).toThrow(/'circuit_edges' is not a list/);
  });

  it('readCircuit detects each format', () => {
    const c = circuitFromReference(perm, ref);
    const scores = new Map([['a1.h0->logits', 0.5]]);
    for (const json of [circuitToJson(c, { scores }), circuitToMib(c, { scores }), c.toArray(), ref]) {
      const r = readCircuit(perm, JSON.parse(JSON.stringify(json)), 'x');
      expect(r.circuit.equals(c)).toBe(true);
    }
    expect(readCircuit(perm, circuitToMib(c, { scores })).scores.get('a1.h0->logits')).toBe(0.5);
    expect(readCircuit(perm, ref).meta).toMatchObject({ model: 'permute_lists_model' });
    expect(() => readCircuit(perm, { hello: 1 }, 'x.json')).toThrow(/circuit: x.json: not a circuit file/);
    expect(() => readCircuit(perm, [1, 2], 'x.json')).toThrow(/an array must hold edge keys/);
    expect(() => readCircuit(buildGraph(permCfg), ['tok->logits'], 'x.json')).toThrow(/split embedding/);
    expect(() => readCircuit(perm, ['input->logits'], 'x.json')).toThrow(/single 'input' sender/);
  });

  it('readCircuitJson reads every format without a graph, as flagged edge lists in the <q> spelling', () => {
    const c = circuitFromReference(perm, ref);
    const scores = new Map([['a1.h0->logits', 0.5]]);
    const kept = (json: unknown) => readCircuitJson(JSON.parse(JSON.stringify(json)), 'x').edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`);
    for (const json of [circuitToJson(c, { scores }), circuitToMib(c, { scores }), c.toArray(), ref]) expect(kept(json)).toEqual(c.toArray());
    expect(readCircuitJson(circuitToJson(c, { scores })).format).toBe('circuit');
    expect(readCircuitJson(circuitToJson(c, { scores })).file).not.toBeNull();
    expect(readCircuitJson(circuitToMib(c, { scores })).format).toBe('mib');
    expect(readCircuitJson(ref).format).toBe('reference');
    expect(readCircuitJson(['m4 -> a5.h0.k']).edges).toEqual([{ from: 'm4', to: 'a5.h0<k>', score: null, inCircuit: true }]);
    expect(readCircuitJson(circuitToMib(c, { scores })).edges.find((e) => e.from === 'a1.h0' && e.to === 'logits')).toEqual({ from: 'a1.h0', to: 'logits', score: 0.5, inCircuit: true });
    expect(() => readCircuitJson({ hello: 1 }, 'x.json')).toThrow(/circuit: x.json: not a circuit file/);
    expect(() => readCircuitJson({ cfg: {}, edges: { 'a0.h0 a1.h0<q>': {} } }, 'x.json')).toThrow(/circuit: x.json: 'a0.h0 a1.h0<q>' is not an edge key/);
  });

  it('DOT: every circuit edge with its key as id, q/k/v colours, one rank per layer stage', () => {
    const c = Circuit.full(G2);
    const dot = circuitToDot(c, { scores: new Map([['a0.h1->a1.h0<q>', -2], ['m0->logits', 1]]) });
    expect(dot.startsWith('digraph circuit {')).toBe(true);
    expect(dot.trimEnd().endsWith('}')).toBe(true);
    for (const k of G2.edgeKeys()) expect(dot).toContain(`id="${k}"`);
    expect(dot.match(/ -> /g)).toHaveLength(G2.nEdges);
    expect(dot).toContain('"a0.h1" -> "a1.h0" [id="a0.h1->a1.h0<q>", color="#1f77b4", tooltip="a0.h1->a1.h0<q> (-2)", label="q"');
    expect(dot).toMatch(/"a0.h1" -> "a1.h0" \[id="a0.h1->a1.h0<q>".*penwidth=5.00\]/);
    expect(dot).toContain('"input" -> "a0.h0" [id="input->a0.h0<k>", color="#2ca02c"');
    expect(dot).toContain('"input" -> "a0.h0" [id="input->a0.h0<v>", color="#d62728"');
    expect(dot).toContain('"m0" -> "logits" [id="m0->logits", color="#555555"');
    expect(dot).toContain('{ rank=same; "a0.h0"; "a0.h1"; }');
    expect(dot).toContain('{ rank=same; "a1.h0"; "a1.h1"; }');
    expect(dot).toContain('{ rank=same; "m0"; }');
    expect(dot).toContain('"a1.h0" [fillcolor="#dbe9f6"]');
    expect(dot).toContain('"m1" [fillcolor="#fde4c8"]');
    // only touched nodes unless allNodes
    const small = circuitToDot(Circuit.fromEdges(G2, ['input->logits']), { title: 'a "quoted" title' });
    expect(small).not.toContain('"a0.h0"');
    expect(small).toContain('label="a \\"quoted\\" title"');
    expect(circuitToDot(Circuit.empty(G2), { allNodes: true })).toContain('"a1.h1" [fillcolor');
  });

  it('discover\'s circuit file goes through the same DOT and MIB writers as a Circuit', () => {
    for (const [g, edges] of [[G2, ['input->a0.h1<v>', 'a0.h1->m0', 'm0->a1.h1<q>', 'a1.h1->logits']], [perm, circuitFromReference(perm, ref).toArray()]] as const) {
      const c = Circuit.fromEdges(g, edges);
      const scores = new Map(g.edgeKeys().map((k, i) => [k, ((i * 7) % 11) - 5]));
      const file = circuitToJson(c, { scores, meta: { model: 'm', task: 't', method: 'eap' } }) as unknown as CircuitFile;
      expect(toDot(file)).toBe(circuitToDot(c, { scores, title: `t · eap · m · ${c.size} edges` }));
      expect(JSON.stringify(toMib(file))).toBe(JSON.stringify(circuitToMib(c, { scores })));
      // and the MIB file reads back, with or without a graph
      expect(readCircuit(g, toMib(file)).circuit.equals(c)).toBe(true);
      expect(readCircuitJson(toMib(file)).edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`)).toEqual(c.toArray());
    }
  });
});
