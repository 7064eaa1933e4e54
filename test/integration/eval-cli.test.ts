/**
 * `circuitscope evaluate`, `sweep` and `compare` end to end (spawned from the sources) on the
 * min_int toy model: files written, numbers consistent with the circuit file and with each
 * other, the ROC against the published circuit, and one clear line for bad input.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { discover } from '../../src/discovery/run.js';
import { getTask } from '../../src/tasks/registry.js';
import type { CircuitFile } from '../../src/graph/circuit-file.js';
import type { Evaluation } from '../../src/eval/evaluate.js';
import type { SweepResult } from '../../src/eval/sweep.js';
import { comparisonText, type Comparison } from '../../src/eval/compare.js';
import { resolveReference } from '../../src/cli/context.js';
import { SHARED, runCli } from '../helpers.js';

const MIN_INT = `${SHARED}models/min_int`;

const cli = (args: string[]) => runCli(args);

const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'));
let model: HookedTransformer;
let acdcFile: CircuitFile;

beforeAll(async () => {
  await initBackend('wasm');
  model = (await loadModel(MIN_INT, { quiet: true })).model;
  const found = await discover(model, getTask('min-int'), { method: 'acdc', threshold: 0.05, ablation: 'zero', n: 24, seed: 3, splitEmbed: true, modelName: MIN_INT, backend: 'wasm' });
  found.evaluator.dispose();
  acdcFile = found.file;
  writeFileSync(join(dir, 'a.json'), JSON.stringify(acdcFile));
  // B: the full graph, hand-made from A
  writeFileSync(join(dir, 'b.json'), JSON.stringify({ ...acdcFile, method: 'hand', edges: acdcFile.edges.map((e) => ({ ...e, inCircuit: true })) }));
});
afterAll(() => model?.dispose());

describe('evaluate / sweep / compare CLI', () => {
  it('evaluate: JSON, HTML and summary agree with the circuit file; ROC vs the published circuit', async () => {
    const r = await cli(['evaluate', '--circuit', join(dir, 'a.json'), '--samples', '4', '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const e = JSON.parse(readFileSync(join(dir, 'a.eval.json'), 'utf8')) as Evaluation;
    expect(e.format).toBe('circuitscope-evaluation');
    expect(e.batch).toEqual({ n: 24, seed: 3 });
    expect(e.circuit.ablation).toBe('zero');
    const res = acdcFile.results;
    expect(e.faithfulness!.full).toBeCloseTo(res.clean, 5);
    expect(e.faithfulness!.empty).toBeCloseTo(res.corrupted, 5);
    expect(e.faithfulness!.circuit).toBeCloseTo(res.circuit, 5);
    expect(e.faithfulness!.normalised!).toBeCloseTo(res.faithfulness!, 5);
    expect(e.completeness!.nodes).toEqual(['a0.h0']);
    expect(e.minimality!.nodes.map((m) => m.node)).toEqual(['a0.h0']);
    const kept = new Set(acdcFile.edges.filter((x) => x.inCircuit).map((x) => `${x.from}->${x.to}`));
    const ref = ['tok->a0.h0<q>', 'tok->a0.h0<k>', 'tok->a0.h0<v>', 'a0.h0->logits'];
    const tp = ref.filter((x) => kept.has(x)).length;
    expect(e.reference!.edges).toBe(4);
    expect(e.reference!.vs.edges.tp).toBe(tp);
    expect(e.reference!.vs.edges.fp).toBe(kept.size - tp);
    expect(e.curve!.sizes.length).toBe(10);
    expect(r.stdout).toMatch(/faithfulness \(logprob\)/);
    expect(r.stdout).toMatch(/reference min_int \(published circuit\): 4 edges/);
    const html = readFileSync(join(dir, 'a.eval.html'), 'utf8');
    for (const id of ['evaluation', 'faithfulness-curve', 'roc-edge', 'overlay']) expect(html).toContain(`id="${id}"`);
  });

  it('sweep: ROC points, AUC, faithfulness curve and CPR/CMD, with JSON, HTML and SVG', async () => {
    const out = join(dir, 'sw.json');
    const r = await cli(['sweep', '--task', 'min-int', '--model', MIN_INT, '--method', 'acdc', '--thresholds', '0.01,1', '--split-embed', '--ablation', 'zero', '--n', '24', '--out', out, '--svg', join(dir, 'sw'), '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(readFileSync(out, 'utf8')) as SweepResult;
    expect(s.points.map((p) => p.threshold)).toEqual([0.01, 1]);
    expect(s.reference!.edges).toBe(4);
    for (const p of s.points) {
      expect(p.edges).toBe(s.circuits[s.points.indexOf(p)].length);
      expect(p.tpr).not.toBeNull();
    }
    expect(s.auc!.edge).toBeGreaterThanOrEqual(0);
    expect(s.auc!.edge).toBeLessThanOrEqual(1);
    expect(s.mib!.sizes.length).toBe(10);
    expect(s.mib!.signed[9]).toBeCloseTo(1, 6);
    for (const f of ['roc-edge', 'roc-node', 'faithfulness-edges', 'mib-curve']) expect(readFileSync(join(dir, `sw.${f}.svg`), 'utf8')).toMatch(/^<svg/);
    expect(readFileSync(join(dir, 'sw.html'), 'utf8')).toContain('Pareto staircase');
    expect(r.stdout).toMatch(/AUC vs min_int \(published circuit\): edges [\d.]+, nodes [\d.]+/);
  });

  it('compare: shared and differing edges, both metric sets', async () => {
    const r = await cli(['compare', join(dir, 'a.json'), join(dir, 'b.json'), '--json', '--html', join(dir, 'cmp.html')]);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout) as Comparison;
    const kept = acdcFile.edges.filter((x) => x.inCircuit).map((x) => `${x.from}->${x.to}`).sort();
    expect(c.edges.shared).toEqual(kept);
    expect(c.edges.onlyA).toEqual([]);
    expect(c.edges.onlyB.length).toBe(acdcFile.edges.length - kept.length);
    expect(c.metrics.find((m) => m[0] === 'method')).toEqual(['method', 'acdc', 'hand']);
    expect(c.metrics.find((m) => m[0] === 'results.faithfulness')![1]).toBe(acdcFile.results.faithfulness);
    expect(existsSync(join(dir, 'cmp.html'))).toBe(true);
    expect(comparisonText(c)).toMatch(new RegExp(`edges: ${kept.length} shared, 0 only in A, ${acdcFile.edges.length - kept.length} only in B`));
  });

  it('bad input gives one clear line', async () => {
    let r = await cli(['evaluate', '--circuit', join(dir, 'missing.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^circuitscope: evaluate: cannot read circuit .*missing\.json: ENOENT\n$/);
    expect(() => resolveReference('nope')).toThrow(/--reference 'nope' is neither a file nor a task/);
    r = await cli(['sweep', '--task', 'min-int', '--model', MIN_INT, '--thresholds', '0.1,abc']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--thresholds: 'abc' is not a number/);
  });
});
