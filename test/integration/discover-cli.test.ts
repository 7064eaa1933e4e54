/**
 * `circuitscope discover` end to end (spawned from the sources): writes JSON + DOT + HTML whose
 * numbers are consistent (faithfulness from clean/corrupted/circuit), the same seed gives the
 * same circuit as the library call, EAP/EAP-IG run with --top-n, MIB export, and bad input
 * gives one clear line naming the argument or file.
 */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED, runCli } from '../helpers.js';
import type { CircuitFile } from '../../src/graph/circuit-file.js';

const PERM = `${SHARED}models/permute_lists`;

const cli = (args: string[]) => runCli(args, { timeout: 300_000 });

describe('discover CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'discover-'));

  it('acdc on permute_lists writes consistent JSON, DOT and HTML', async () => {
    const out = join(dir, 'acdc.json');
    const r = await cli(['discover', '--task', 'permute-lists', '--model', PERM, '--split-embed', '--threshold', '0.02', '--n', '40', '--out', out, '--quiet', '--mib', join(dir, 'mib.json')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const f = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
    expect(f.method).toBe('acdc');
    expect(f.results.edgesTotal).toBe(19);
    const kept = f.edges.filter((e) => e.inCircuit);
    expect(kept.length).toBe(f.results.edgesKept);
    expect(kept.length).toBeGreaterThan(2);
    const r0 = f.results;
    expect(r0.faithfulness!).toBeCloseTo((r0.circuit - r0.corrupted) / (r0.clean - r0.corrupted), 6);
    // the V-composition path of the published circuit is found
    expect(kept.map((e) => `${e.from}->${e.to}`)).toEqual(expect.arrayContaining(['a0.h0->a1.h0<v>', 'a1.h0->logits']));
    const dot = readFileSync(join(dir, 'acdc.dot'), 'utf8');
    expect(dot).toContain('"a0.h0" -> "a1.h0"');
    const html = readFileSync(join(dir, 'acdc.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(existsSync(join(dir, 'acdc.checkpoint.json'))).toBe(false);
    const mib = JSON.parse(readFileSync(join(dir, 'mib.json'), 'utf8'));
    expect(mib.edges['a1.h0->logits'].in_graph).toBe(true);
    // the summary lists kept edges by receiver and the metric numbers
    expect(r.stdout).toMatch(/a1\.h0<v>\s+<- a0\.h0/);
    expect(r.stdout).toMatch(/faithfulness/);
  });

  it('eap and eap-ig with --top-n', async () => {
    for (const m of ['eap', 'eap-ig']) {
      const out = join(dir, `${m}.json`);
      const r = await cli(['discover', '--task', 'permute-lists', '--model', PERM, '--split-embed', '--method', m, '--top-n', '6', '--n', '40', '--out', out, '--quiet']);
      expect(r.code, r.stderr).toBe(0);
      const f = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
      // connected top-n: at least the 6 asked for (all 19 edges connect in the full graph)
      const sel = f.results.selection!;
      expect(sel.asked).toBe(6);
      expect(sel.kept).toBe(f.results.edgesKept);
      expect(sel.kept).toBeGreaterThanOrEqual(6);
      expect(sel.kept + f.results.danglingPruned!).toBe(sel.taken);
      expect(f.edges.filter((e) => e.score !== null).length).toBe(19);
    }
  });

  it('--workers: a custom task split over two threads gives the one-thread scores and circuit', async () => {
    // permute_lists-shaped prompts (52 is its BOS); the workers rebuild the task from --data
    const prompts = Array.from({ length: 12 }, (_, i) => ({
      clean: [52, ...Array.from({ length: 5 }, (_, j) => (i * 7 + j * 3) % 50)],
      corrupt: [52, ...Array.from({ length: 5 }, (_, j) => (i * 11 + j * 5 + 1) % 50)],
      answer: (i * 7) % 50,
    }));
    const data = join(dir, 'custom.json');
    writeFileSync(data, JSON.stringify({ prompts }));
    const files: CircuitFile[] = [];
    for (const w of ['1', '2']) {
      const out = join(dir, `w${w}.json`);
      const r = await cli(['discover', '--data', data, '--model', PERM, '--split-embed', '--method', 'eap', '--top-n', '6', '--out', out, '--quiet', '--no-html', '--workers', w]);
      expect(r.code, r.stderr).toBe(0);
      files.push(JSON.parse(readFileSync(out, 'utf8')) as CircuitFile);
    }
    const [one, two] = files;
    const maxAbs = Math.max(...one.edges.map((e) => Math.abs(e.score ?? 0)));
    expect(maxAbs).toBeGreaterThan(0);
    one.edges.forEach((e, i) => expect(Math.abs((two.edges[i].score ?? 0) - (e.score ?? 0))).toBeLessThan(1e-5 * Math.max(1, maxAbs)));
    expect(two.edges.map((e) => e.inCircuit)).toEqual(one.edges.map((e) => e.inCircuit));
    expect(Math.abs(two.results.circuit - one.results.circuit)).toBeLessThan(1e-5 * Math.max(1, Math.abs(one.results.circuit)));
    const bad = await cli(['discover', '--data', data, '--model', PERM, '--workers', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--workers must be a positive integer or 'auto', got '0'/);
  });

  it('bad input: unknown task, missing data file, unequal custom prompts', async () => {
    let r = await cli(['discover', '--task', 'nope', '--model', PERM]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown task 'nope'/);
    r = await cli(['discover', '--data', join(dir, 'missing.json'), '--model', PERM]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing\.json/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ prompts: [{ clean: [52, 1, 2], corrupt: [52, 1], answer: 3 }] }));
    r = await cli(['discover', '--data', bad, '--model', PERM]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.json: prompts\[0\]: the clean prompt is 3 tokens but the corrupted prompt is 2/);
  });
});
