/**
 * The app's method options, plots and PNG export in a real browser (Chromium, wasm; see
 * ./harness.ts):
 * - the form offers the selected method's own options, generically from the registry (one input
 *   per `getMethod(name).options` entry, labelled with its flag); the URL fills them by flag;
 * - `?method=eap-ig&steps=3&topN=30&run=1` on ioi-words (110 edges) gives `circuitscope discover
 *   --method eap-ig --steps 3 --top-n 30`'s circuit: the same kept edges, every score within
 *   TOL.model (1e-4, relative to max(1, |x|)), and scores that differ from the default 5 steps'
 *   (so the option reached the method);
 * - bad values (steps=0, steps=abc, --steps with ACDC) end in the CLI's one-line error;
 * - the faithfulness curve (`window.circuitscope.evaluation.curve`) equals `evaluateCircuit`
 *   run in Node on the page's circuit within TOL.model, and is drawn (its points' edge counts);
 * - a reference opened from a file gives the edge ROC: `referenceReport` in Node, and the
 *   circuit's own point counted by hand (TP, FP, FN over the graph's edges);
 * - PNG: the download is a PNG whose size is the SVG export's times devicePixelRatio (2 here).
 * Screenshots: test-results/app-options.png, app-plots.png, and the export app-graph-export.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { CircuitFile } from '../../src/graph/circuit-file.js';
import type { Evaluation } from '../../src/eval/evaluate.js';
import { evaluateCircuit, evaluatorFor, referenceReport } from '../../src/eval/evaluate.js';
import { referenceFromJson } from '../../src/eval/reference.js';
import { getMethod } from '../../src/discovery/registry.js';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import { getTask } from '../../src/tasks/registry.js';
import { runCli, TOL } from '../helpers.js';
import { AppHarness, ROOT, RUN } from './harness.js';

const close = (a: number, b: number) => Math.abs(a - b) <= TOL.model * Math.max(1, Math.abs(b));
const key = (e: { from: string; to: string }) => `${e.from}->${e.to}`;
const kept = (f: CircuitFile) => f.edges.filter((e) => e.inCircuit).map(key).sort();
const shot = (page: Page, name: string, fullPage = true) => { mkdirSync(join(ROOT, 'test-results'), { recursive: true }); return page.screenshot({ path: join(ROOT, 'test-results', name), fullPage }); };
const settings = { model: 'ioi-words', task: 'ioi', n: '20', seed: '0', ablation: 'resample' };
const cliArgs = (method: string, extra: string[]) => ['discover', '--task', settings.task, '--model', settings.model, '--method', method, '-n', settings.n,
  '--seed', settings.seed, '--ablation', settings.ablation, '--backend', 'wasm', '--no-html', '--quiet', ...extra];

/** The CLI's circuit file for these settings and extra flags. */
async function cliCircuit(method: string, extra: string[]): Promise<CircuitFile> {
  const out = join(mkdtempSync(join(tmpdir(), 'app-options-')), 'circuit.json');
  const cli = await runCli(cliArgs(method, [...extra, '--out', out]), { timeout: 240_000 });
  expect(cli.code, cli.stderr).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
}

/** A PNG's width and height (the IHDR chunk), after checking its signature. */
function pngSize(b: Buffer): { width: number; height: number } {
  expect([...b.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(b.toString('latin1', 12, 16)).toBe('IHDR');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe.skipIf(!RUN)('browser app: method options, plots, PNG (Chromium, wasm)', () => {
  const app = new AppHarness();
  beforeAll(async () => { await initBackend('wasm'); await app.start(); }, 300_000);
  afterAll(() => app.stop());

  it('the form offers each method\'s own options from the registry, filled from the URL by flag', async () => {
    const q = new URLSearchParams({ ...settings, method: 'acdc', speculate: '2', candidates: 'eap-ig:0.5', 'abs-value': '1' });
    const { page, errors } = await app.open(`/?${q}`);
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 60_000 });
    const inputs = () => page.evaluate(() => [...document.querySelectorAll<HTMLInputElement>('#method-options input')].map((i) => ({
      label: i.parentElement!.firstChild!.textContent, title: i.parentElement!.title, value: i.type === 'checkbox' ? i.checked : i.value,
    })));
    const acdc = getMethod('acdc').options;
    expect(await inputs()).toEqual(acdc.map((o) => ({ label: `--${o.flag}`, title: o.describe, value: { speculate: '2', candidates: 'eap-ig:0.5', 'abs-value': true }[o.flag] })));
    for (const method of ['eap', 'eap-ig', 'edge-pruning', 'mattr']) {
      await page.selectOption('#method', method);
      expect((await inputs()).map((i) => i.label), method).toEqual(getMethod(method).options.map((o) => `--${o.flag}`));
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it('bad own options end in the CLI\'s one-line error', async () => {
    for (const [method, flag, value] of [['eap-ig', 'steps', '0'], ['eap-ig', 'steps', 'abc'], ['edge-pruning', 'density', '1.5'], ['acdc', 'steps', '3']]) {
      const cli = await runCli(cliArgs(method, [`--${flag}`, value]));
      expect(cli.code).toBe(1);
      const line = cli.stderr.trim().replace(/^circuitscope: /, '');
      expect(line.split('\n')).toHaveLength(1);
      const { page } = await app.open(`/?${new URLSearchParams({ ...settings, method, [flag]: value, backend: 'wasm', run: '1' })}`);
      await page.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 60_000 });
      expect(await page.evaluate(() => window.circuitscope.error), `${method} --${flag} ${value}`).toBe(line);
      await page.close();
    }
  });

  it('EAP-IG with steps=3 on ioi-words gives the CLI\'s circuit; the curve equals evaluateCircuit; the ROC against an opened reference; PNG export', async () => {
    const { page, errors } = await app.open(`/?${new URLSearchParams({ ...settings, method: 'eap-ig', steps: '3', topN: '30', backend: 'wasm', run: '1' })}`, { width: 1280, height: 1000 }, 2);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 240_000 });
    expect(await page.evaluate(() => window.circuitscope.error)).toBeNull();
    await page.waitForFunction(() => document.body.dataset.graph === 'drawn' && ['ready', 'none'].includes(document.body.dataset.reference ?? ''), null, { timeout: 30_000 });
    const file = (await page.evaluate(() => window.circuitscope.result)) as CircuitFile;
    expect(await page.locator('#opt-steps').inputValue()).toBe('3');
    await shot(page, 'app-options.png', false);

    // the CLI with --steps 3: same circuit, same scores; with the default 5 steps the scores differ
    const ref = await cliCircuit('eap-ig', ['--steps', '3', '--top-n', '30']);
    expect(kept(file)).toEqual(kept(ref));
    expect(file.edges.map(key)).toEqual(ref.edges.map(key));
    const bad = file.edges.filter((e, i) => !close(e.score!, ref.edges[i].score!));
    expect(bad.map((e) => `${key(e)} ${e.score}`)).toEqual([]);
    const five = await cliCircuit('eap-ig', ['--top-n', '30']);
    expect(Math.max(...file.edges.map((e, i) => Math.abs(e.score! - five.edges[i].score!)))).toBeGreaterThan(1e-3);

    // the faithfulness curve: evaluateCircuit in Node, on the page's circuit, with its own evaluator
    const evaluation = (await page.evaluate(() => window.circuitscope.evaluation)) as Evaluation;
    const { model } = await loadModel(settings.model, { quiet: true });
    const ev = await evaluatorFor(model, getTask(settings.task), file);
    let node: Evaluation;
    try { node = await evaluateCircuit(ev, file, { criteria: false }); } finally { ev.dispose(); model.dispose(); }
    const c = evaluation.curve!, n = node.curve!;
    expect(c.signed.edges).toEqual(n.signed.edges);
    expect(c.absolute.edges).toEqual(n.absolute.edges);
    expect(c.signed.axis).toEqual(n.signed.axis);
    const worst = Math.max(...[...c.signed.faithfulness.map((f, i) => f - n.signed.faithfulness[i]), ...c.absolute.faithfulness.map((f, i) => f - n.absolute.faithfulness[i]),
      c.cpr - n.cpr, c.cmd - n.cmd, evaluation.faithfulness!.normalised! - node.faithfulness!.normalised!].map(Math.abs));
    expect(worst).toBeLessThanOrEqual(TOL.model);
    expect(evaluation.faithfulness!.normalised).toBeCloseTo(file.results.faithfulness!, 6);
    // drawn: one marker per point, titled with its edge count
    const titles = await page.evaluate(() => [...document.querySelectorAll('#curve-plot svg circle title')].map((t) => t.textContent!));
    expect(await page.locator('#curve-plot svg text').first().textContent()).toBe('Faithfulness vs circuit size');
    expect(titles.slice(0, n.sizes.length).map((t) => Number(/\((\d+) edges\)/.exec(t)![1]))).toEqual(n.signed.edges);
    expect(titles.slice(n.sizes.length, 2 * n.sizes.length).map((t) => Number(/\((\d+) edges\)/.exec(t)![1]))).toEqual(n.absolute.edges);
    // no reference fits the shipped model: no ROC yet, and the page says so
    expect(evaluation.reference).toBeNull();
    expect(await page.locator('#roc-plot svg').count()).toBe(0);
    expect(await page.locator('#roc-plot figcaption').textContent()).toMatch(/^No edge ROC: no reference circuit fits this model/);

    // a reference from a file (the circuit with its last kept edge dropped and an unkept one
    // added): the edge ROC of the score ranking against it, as referenceReport computes it
    const keptEdges = kept(file);
    const dropped = keptEdges[keptEdges.length - 1];
    const added = file.edges.map(key).find((k) => !keptEdges.includes(k))!;
    const refJson = { ...file, edges: file.edges.map((e) => ({ ...e, inCircuit: key(e) === added ? true : key(e) === dropped ? false : e.inCircuit })) };
    const refPath = join(mkdtempSync(join(tmpdir(), 'app-options-')), 'my-reference.json');
    writeFileSync(refPath, JSON.stringify(refJson));
    await page.setInputFiles('#ref-file', refPath);
    await page.waitForFunction(() => window.circuitscope.evaluation?.reference != null && document.body.dataset.graph === 'drawn', null, { timeout: 30_000 });
    const roc = (await page.evaluate(() => window.circuitscope.evaluation!.reference))!;
    const want = referenceReport(file, referenceFromJson(refJson, 'my-reference.json'));
    expect(roc).toEqual(want);
    const universe = file.edges.map(key), refSet = new Set([...keptEdges.filter((k) => k !== dropped), added]);
    const tp = keptEdges.filter((k) => refSet.has(k)).length;
    expect(roc.vs.edges).toMatchObject({ tp, fp: keptEdges.length - tp, fn: refSet.size - tp, tn: universe.length - keptEdges.length - refSet.size + tp });
    expect(roc.ranking!.edge.length).toBeGreaterThan(2);
    expect(await page.locator('#roc-plot svg text').first().textContent()).toBe(`Edge-level ROC vs ${want.name}`);
    // the evaluation's other parts are the run's
    expect((await page.evaluate(() => window.circuitscope.evaluation!.curve))).toEqual(c);
    await page.locator('#plots').scrollIntoViewIfNeeded();
    await shot(page, 'app-plots.png', false);

    // PNG: the SVG export's size times devicePixelRatio
    const download = async (id: string) => { const [d] = await Promise.all([page.waitForEvent('download'), page.click(id)]); return { name: d.suggestedFilename(), bytes: readFileSync((await d.path())!) }; };
    const svg = (await download('#export-svg')).bytes.toString('utf8');
    const [, w, h] = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
    const png = await download('#export-png');
    expect(png.name).toBe('circuit-ioi-eap-ig.png');
    const dpr = await page.evaluate(() => window.devicePixelRatio);
    expect(dpr).toBe(2);
    expect(w).toBeGreaterThan(0);
    expect(h).toBeGreaterThan(0);
    expect(pngSize(png.bytes)).toEqual({ width: w * dpr, height: h * dpr });
    writeFileSync(join(ROOT, 'test-results', 'app-graph-export.png'), png.bytes);
    expect(errors).toEqual([]);
    await page.close();
  });
});
