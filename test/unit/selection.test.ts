/**
 * Connected top-n (src/graph/selection.ts `selectConnected`, `selectConnectedRanked`,
 * `connectedCounts`): hand-made score maps whose best edges do not connect input to logits
 * (exact circuits), budgets of every edge and beyond, rankings with no path at all; random
 * score maps on a 2-layer, 2-head layout against a brute-force reference (a naive loop over the
 * prefix length with its own fixed-point pruning, independent of `keepConnected`); and the
 * GPT-2-small layout (32,491 edges) at MIB's 10 budgets, checked for its properties (connected,
 * at least the budget, the shortest prefix, nested), not timed; and the words discover's
 * summary uses for each outcome (`selectionText`).
 */
import { describe, expect, it } from 'vitest';
import { finalizeConfig, presetConfig, type ModelConfig } from '../../src/model/config.js';
import { buildLayout, layoutEdges } from '../../src/graph/layout.js';
import { receiverNode, splitEdge } from '../../src/graph/names.js';
import { connectedCounts, pruneDangling, rankByScore, selectConnected, selectConnectedRanked, selectTopN } from '../../src/graph/selection.js';
import { mibCounts } from '../../src/eval/mib.js';
import { Rng } from '../../src/util/rng.js';
import { selectionText } from '../../src/cli/commands/discover.js';
import type { CircuitFile } from '../../src/graph/circuit-file.js';

const tiny = (over: Partial<Record<keyof ModelConfig, unknown>> = {}): ModelConfig =>
  finalizeConfig({ modelName: 'tiny', nLayers: 2, nHeads: 2, dModel: 8, nCtx: 8, dVocab: 10, ...over } as Parameters<typeof finalizeConfig>[0], 'test');

/** Seeded uniform draws in [0, 1) from the project's generator (src/util/rng.ts). */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/**
 * Reference pruning, written apart from `keepConnected`: repeatedly drop an edge whose sender is
 * not an embedding node and has no incoming edge left, or whose receiver's node is not the
 * logits and has no outgoing edge left, until nothing changes.
 */
function referencePrune(edges: readonly string[]): Set<string> {
  let cur = [...new Set(edges)];
  for (;;) {
    const hasIn = new Set(cur.map((e) => receiverNode(splitEdge(e)[1])));
    const hasOut = new Set(cur.map((e) => splitEdge(e)[0]));
    const next = cur.filter((e) => {
      const [s, r] = splitEdge(e);
      return (['input', 'tok', 'pos'].includes(s) || hasIn.has(s)) && (receiverNode(r) === 'logits' || hasOut.has(receiverNode(r)));
    });
    if (next.length === cur.length) return new Set(cur);
    cur = next;
  }
}

/** Brute-force connected top-n: the first prefix length k whose pruned set reaches min(n, most connectable). */
function referenceSelect(ranked: readonly string[], n: number): { edges: Set<string>; taken: number } {
  const most = referencePrune(ranked).size;
  for (let k = 0; k <= ranked.length; k++) {
    const c = referencePrune(ranked.slice(0, k));
    if (c.size >= Math.min(n, most)) return { edges: c, taken: k };
  }
  throw new Error('unreachable');
}

const sorted = (s: Iterable<string>) => [...s].sort();

describe('selection: connected top-n on hand-made scores', () => {
  const all = layoutEdges(buildLayout(tiny(), false));
  // the 10 best edges go from layer-0 nodes into layer 1 and reach neither input nor logits;
  // then input -> a0.h0, a1.h0 -> logits, input -> a0.h1, input -> a1.h0<k>; the rest small
  const best = [
    'a0.h0->a1.h0<q>', 'a0.h0->a1.h0<k>', 'a0.h0->a1.h0<v>', 'a0.h1->a1.h0<q>', 'a0.h1->a1.h0<k>', 'a0.h1->a1.h0<v>',
    'a0.h0->m1', 'a0.h1->m1', 'm0->a1.h0<v>', 'm0->m1',
    'input->a0.h0<q>', 'a1.h0->logits', 'input->a0.h1<q>', 'input->a1.h0<k>',
  ];
  const scores = new Map<string, number>(all.map((e, i) => [e, 0.001 * (i + 1)]));
  best.forEach((e, i) => scores.set(e, (i % 2 ? -1 : 1) * (100 - i))); // |score| decides; signs mixed

  it('the edges exist in the layout', () => {
    for (const e of best) expect(all).toContain(e);
  });

  it('the 10 best alone prune to nothing; the connected selection takes 14 and keeps exactly 10', () => {
    expect(pruneDangling(selectTopN(scores, 10)).size).toBe(0); // the old top-n then prune
    const s = selectConnected(scores, 10);
    expect(s).toMatchObject({ asked: 10, taken: 14, kept: 10 });
    expect(sorted(s.edges)).toEqual(sorted([
      'a0.h0->a1.h0<q>', 'a0.h0->a1.h0<k>', 'a0.h0->a1.h0<v>', 'a0.h1->a1.h0<q>', 'a0.h1->a1.h0<k>', 'a0.h1->a1.h0<v>',
      'input->a0.h0<q>', 'a1.h0->logits', 'input->a0.h1<q>', 'input->a1.h0<k>',
    ]));
    // kept by prefix length: nothing until a1.h0 -> logits (12th) completes input -> a0.h0 -> a1.h0 -> logits
    expect([...connectedCounts(rankByScore(scores)).slice(0, 15)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 9, 10]);
  });

  it('overshoots when one edge completes several paths: asked 1..5 keep the 5 of the 12 best', () => {
    for (const n of [1, 2, 3, 4, 5]) {
      const s = selectConnected(scores, n);
      expect(s).toMatchObject({ asked: n, taken: 12, kept: 5 });
      expect(sorted(s.edges)).toEqual(sorted(['a0.h0->a1.h0<q>', 'a0.h0->a1.h0<k>', 'a0.h0->a1.h0<v>', 'input->a0.h0<q>', 'a1.h0->logits']));
    }
    expect(selectConnected(scores, 6)).toMatchObject({ asked: 6, taken: 13, kept: 9 });
  });

  it('n = 0 gives the empty circuit, taking nothing', () => {
    const s = selectConnected(scores, 0);
    expect(s).toMatchObject({ asked: 0, taken: 0, kept: 0 });
    expect(s.edges.size).toBe(0);
  });

  it('n = all edges, or more, gives every edge (all connect in the full graph)', () => {
    expect(selectConnected(scores, all.length)).toMatchObject({ asked: all.length, taken: all.length, kept: all.length });
    const more = selectConnected(scores, all.length + 5);
    expect(more).toMatchObject({ asked: all.length + 5, taken: all.length, kept: all.length });
    expect(sorted(more.edges)).toEqual(sorted(all));
  });

  it('fewer connectable edges than asked: all of them, from the shortest prefix holding them', () => {
    // scored: one path input -> a0.h0 -> logits (3 and 1), and edges into a1.h1, which reaches nothing
    const partial = new Map<string, number>([['a0.h0->a1.h1<q>', 5], ['input->a0.h0<v>', 4], ['input->a1.h1<k>', 3.5], ['a0.h0->logits', 3], ['m0->a1.h1<v>', 2]]);
    const s = selectConnected(partial, 4);
    expect(s).toMatchObject({ asked: 4, taken: 4, kept: 2 });
    expect(sorted(s.edges)).toEqual(['a0.h0->logits', 'input->a0.h0<v>']);
  });

  it('no path at all: an empty circuit with kept 0 (the caller says so)', () => {
    const none = new Map<string, number>([['a0.h0->a1.h1<q>', 5], ['input->a0.h0<v>', 4], ['a1.h1->m1', 1]].filter(([e]) => all.includes(e as string)) as [string, number][]);
    expect(selectConnected(none, 3)).toMatchObject({ asked: 3, taken: 0, kept: 0 });
    expect(selectConnected(new Map(), 3)).toMatchObject({ asked: 3, taken: 0, kept: 0 });
  });

  it('signed ranking (absolute = false) follows the sign', () => {
    // negative scores now rank last: the odd-indexed best edges drop to the end
    const ranked = rankByScore(scores, false);
    const s = selectConnected(scores, 3, false);
    const ref = referenceSelect(ranked, 3);
    expect(s.taken).toBe(ref.taken);
    expect(sorted(s.edges)).toEqual(sorted(ref.edges));
  });

  it('rejects a negative or fractional n, naming it', () => {
    expect(() => selectConnected(scores, -1)).toThrow(/selection: --top-n must be a non-negative integer, got -1/);
    expect(() => selectConnectedRanked(all, [2.5])).toThrow(/got 2.5/);
  });
});

describe('selection: connected top-n against a brute-force reference', () => {
  for (const split of [false, true]) {
    it(`random score maps on a 2-layer, 2-head layout${split ? ' (tok/pos split)' : ''}`, () => {
      const all = layoutEdges(buildLayout(tiny(), split));
      const rand = rng(split ? 11 : 7);
      for (let trial = 0; trial < 40; trial++) {
        // a random subset scored (so some edges never connect), heavy-tailed scores, some ties
        const keep = trial % 4 === 0 ? 1 : 0.3 + 0.7 * rand();
        const scores = new Map<string, number>();
        for (const e of all) if (rand() < keep) scores.set(e, Math.round((rand() - 0.5) * 40) / 4);
        const absolute = trial % 3 !== 0;
        const ranked = rankByScore(scores, absolute);
        // kept(k) against the reference for every prefix, and non-decreasing, nested prefixes
        const counts = connectedCounts(ranked);
        let prev = new Set<string>();
        for (let k = 0; k <= ranked.length; k++) {
          const c = referencePrune(ranked.slice(0, k));
          expect(counts[k], `trial ${trial}, prefix ${k}`).toBe(c.size);
          for (const e of prev) expect(c.has(e)).toBe(true);
          prev = c;
        }
        const sizes = [0, 1, 2, 3, 5, 8, 13, 21, Math.floor(ranked.length / 2), ranked.length, ranked.length + 3];
        const got = selectConnectedRanked(ranked, sizes);
        sizes.forEach((n, i) => {
          const ref = referenceSelect(ranked, n);
          expect(got[i].taken, `trial ${trial}, n ${n}`).toBe(ref.taken);
          expect(sorted(got[i].edges), `trial ${trial}, n ${n}`).toEqual(sorted(ref.edges));
          expect(got[i].kept).toBe(ref.edges.size);
          expect(got[i].asked).toBe(n);
          // the circuit in ranking order
          expect([...got[i].edges]).toEqual(ranked.slice(0, ref.taken).filter((e) => ref.edges.has(e)));
        });
        expect(sorted(selectConnected(scores, 5, absolute).edges)).toEqual(sorted(referenceSelect(ranked, 5).edges));
      }
    });
  }
});

describe('selection: connected top-n on the GPT-2-small layout at the MIB budgets', () => {
  it('every budget: connected, at least the budget, the shortest such prefix, nested', () => {
    const all = layoutEdges(buildLayout(presetConfig('gpt2-small'), false));
    expect(all.length).toBe(32491);
    const rand = rng(3);
    const scores = new Map<string, number>(all.map((e) => [e, (rand() - 0.5) * Math.exp(4 * rand())]));
    for (const absolute of [true, false]) {
      const ranked = rankByScore(scores, absolute);
      const counts = mibCounts(all.length);
      expect(counts).toEqual([32, 64, 162, 324, 649, 1624, 3249, 6498, 16245, 32491]);
      const sel = selectConnectedRanked(ranked, counts);
      let prev = new Set<string>();
      sel.forEach((s, i) => {
        const n = counts[i];
        expect(s.asked).toBe(n);
        expect(s.kept).toBe(s.edges.size);
        expect(s.kept).toBeGreaterThanOrEqual(n); // every edge connects in the full graph, so always possible
        // connected: pruning changes nothing
        expect(pruneDangling(s.edges).size).toBe(s.kept);
        // the pruned prefix of the edges taken, and one edge fewer would not reach the budget
        const prefix = ranked.slice(0, s.taken);
        expect(sorted(pruneDangling(prefix))).toEqual(sorted(s.edges));
        if (s.taken > 0) expect(pruneDangling(ranked.slice(0, s.taken - 1)).size).toBeLessThan(n);
        for (const e of prev) expect(s.edges.has(e)).toBe(true);
        prev = s.edges;
      });
      expect(sel[9].kept).toBe(all.length);
      // one budget through selectConnected agrees
      const one = selectConnected(scores, 10, absolute);
      expect(one.kept).toBeGreaterThanOrEqual(10);
      expect(sorted(one.edges)).toEqual(sorted(pruneDangling(ranked.slice(0, one.taken))));
    }
  });
});

describe('selection: what discover says about it (selectionText)', () => {
  const file = (topN: number | null, selection?: { asked: number; taken: number; kept: number }, extra: Partial<CircuitFile> = {}) =>
    ({ method: 'eap', topN, threshold: null, results: { danglingPruned: selection ? selection.taken - selection.kept : 0, ...(selection ? { selection } : {}) }, ...extra }) as unknown as CircuitFile;

  it('names the count, the prefix taken and why, and an empty circuit', () => {
    expect(selectionText(file(40, { asked: 40, taken: 40, kept: 40 }))).toBe('top-n 40');
    expect(selectionText(file(10, { asked: 10, taken: 37, kept: 12 }))).toBe('top-n 10: the 10 best alone do not all lie on input-to-logits paths; the best 37 by score give a connected circuit of 12');
    expect(selectionText(file(500, { asked: 500, taken: 150, kept: 110 }))).toBe('top-n 500: only 110 edges of the ranking lie on input-to-logits paths (all kept; the best 150 by score contain them)');
    expect(selectionText(file(3, { asked: 3, taken: 0, kept: 0 }))).toBe('top-n 3: EMPTY circuit: no scored edges form a path from input to logits');
    expect(selectionText(file(0, { asked: 0, taken: 0, kept: 0 }))).toBe('top-n 0: an empty circuit, as asked');
  });

  it('threshold and greedy selections keep the dangling-edge count', () => {
    expect(selectionText(file(null, undefined, { threshold: 0.01, results: { danglingPruned: 3 } } as Partial<CircuitFile>))).toBe('threshold 0.01; 3 dangling edges pruned (not on an input-to-logits path)');
    expect(selectionText(file(5, undefined, { greedy: true, results: { danglingPruned: 1 } } as Partial<CircuitFile>))).toBe('greedy top-n 5; 1 dangling edge pruned (not on an input-to-logits path)');
  });

  it('an empty circuit from a threshold says so and what to change', () => {
    const empty = (method: string, extra: Record<string, unknown> = {}) => file(null, undefined, { method, threshold: 0.01, results: { danglingPruned: 0, edgesKept: 0, ...extra } } as unknown as Partial<CircuitFile>);
    expect(selectionText(empty('acdc'))).toBe('threshold 0.01: EMPTY circuit: removing any remaining edge raised the KL by less than the threshold, so ACDC removed them all; lower --threshold');
    expect(selectionText(empty('acdc', { candidates: { method: 'eap-ig', k: 2, seconds: 0 } }))).toMatch(/lower --threshold or raise K in --candidates \(it was eap-ig:2\)$/);
    expect(selectionText(empty('eap'))).toMatch(/^threshold 0.01: EMPTY circuit: no edges .* lower --threshold or use --top-n$/);
  });
});
