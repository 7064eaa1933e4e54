/**
 * The browser app in a real browser: `circuitscope serve` hands out the built app (dist-web/,
 * rebuilt here with `npm run build:web` when it is missing or older than web/ or src/), Debian's
 * headless Chromium (/usr/bin/chromium, or $CHROMIUM) driven by playwright-core opens it, and:
 * - the page loads with no console error and offers the registries' tasks and methods;
 * - the scriptable URL `?model=permute-lists-2l&task=permute-lists&method=acdc&...&run=1` ends
 *   with `document.body.dataset.state = 'done'` and `window.circuitscope.result` equal to what
 *   `circuitscope discover --out` writes for the same settings on the same backend (wasm): the
 *   same edges kept, every score and result within TOL.model (1e-4, relative to max(1, |x|));
 *   wall times and createdAt aside;
 * - no published reference fits the shipped model, and the page says 'no reference fits this
 *   model'; a reference opened from a file (the CLI's circuit, one kept edge dropped, one added)
 *   draws the added edge missing (dashed grey) and the dropped one extra (halo); the toggle hides
 *   them;
 * - clicking head a1.h0 shows its attention pattern on the task's prompt 0 (then 1): rows sum to
 *   1 (1e-5), every weight within 1e-4 of `circuitscope attention --json` for the same prompt;
 * - a bad URL parameter ends in state `error` with the message in `window.circuitscope.error`.
 * Screenshots: test-results/app-acdc.png, app-reference.png, app-attention.png. Skipped, with a message, when Chromium is not installed,
 * except under CI=true, where that fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { CircuitFile } from '../../src/graph/circuit-file.js';
import { runCli, TOL } from '../helpers.js';
import { AppHarness, ROOT, RUN } from './harness.js';

const close = (a: number, b: number) => Math.abs(a - b) <= TOL.model * Math.max(1, Math.abs(b));

/** Every number of `a` against `b` (same keys), skipping timings; returns the mismatches. */
function diffNumbers(a: unknown, b: unknown, path: string, skip: ReadonlySet<string>, out: string[]): string[] {
  if (typeof b === 'number') {
    if (typeof a !== 'number' || !close(a, b)) out.push(`${path}: page ${String(a)}, CLI ${b}`);
  } else if (b !== null && typeof b === 'object') {
    if (a === null || typeof a !== 'object') { out.push(`${path}: page ${JSON.stringify(a)}, CLI an object`); return out; }
    const ka = Object.keys(a as object).filter((k) => !skip.has(k)).sort(), kb = Object.keys(b as object).filter((k) => !skip.has(k)).sort();
    if (ka.join() !== kb.join()) out.push(`${path}: keys differ: page [${ka}] CLI [${kb}]`);
    for (const k of kb) diffNumbers((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, skip, out);
  } else if (a !== b) out.push(`${path}: page ${JSON.stringify(a)}, CLI ${JSON.stringify(b)}`);
  return out;
}

describe.skipIf(!RUN)('browser app (Chromium, wasm)', () => {
  const app = new AppHarness();
  beforeAll(() => app.start(), 300_000);
  afterAll(() => app.stop());
  const open = (query: string): Promise<{ page: Page; errors: string[] }> => app.open(query);

  it('serves the app with the cross-origin-isolation headers and the right MIME types', async () => {
    const get = (p: string) => fetch(new URL(p, app.server!.url));
    const index = await get('/');
    expect(index.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(index.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await get('/tfjs-wasm/tfjs-backend-wasm-simd.wasm')).headers.get('content-type')).toBe('application/wasm');
    expect((await get('/models/index.json')).headers.get('content-type')).toMatch(/^application\/json/);
    expect((await get('/models/permute-lists-2l/model.safetensors')).status).toBe(200);
    expect((await get('/../package.json')).status).toBe(404);
  });

  it('loads with no console error and offers the registered tasks and methods', async () => {
    const { page, errors } = await open('/');
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 60_000 });
    const opts = await page.evaluate(() => ({
      models: [...document.querySelectorAll<HTMLOptionElement>('#model option')].map((o) => o.value),
      tasks: [...document.querySelectorAll<HTMLOptionElement>('#task option')].map((o) => o.value),
      methods: [...document.querySelectorAll<HTMLOptionElement>('#method option')].map((o) => o.value),
      isolated: crossOriginIsolated,
    }));
    expect(opts.models).toEqual(expect.arrayContaining(['ioi-words', 'permute-lists-2l']));
    expect(opts.tasks).toEqual(expect.arrayContaining(['ioi', 'permute-lists', 'min-int']));
    expect(opts.methods).toEqual(expect.arrayContaining(['acdc', 'eap', 'eap-ig']));
    expect(opts.isolated).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('ACDC on permute-lists-2l from the scriptable URL gives the CLI\'s circuit (wasm; scores within 1e-4)', async () => {
    const settings = { model: 'permute-lists-2l', task: 'permute-lists', method: 'acdc', n: '20', threshold: '0.01', ablation: 'resample', seed: '0' };
    const { page, errors } = await open(`/?${new URLSearchParams({ ...settings, backend: 'wasm', run: '1' })}`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 240_000 });
    const got = await page.evaluate(() => ({ state: document.body.dataset.state, error: window.circuitscope.error, result: window.circuitscope.result, text: window.circuitscope.resultText }));
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results', 'app-acdc.png'), fullPage: true });
    expect(got.error).toBeNull();
    expect(got.state).toBe('done');
    expect(errors).toEqual([]);
    const page_ = got.result as CircuitFile;
    expect(got.text).toBe(JSON.stringify(page_, null, 1) + '\n');

    const dir = mkdtempSync(join(tmpdir(), 'app-acdc-'));
    const out = join(dir, 'circuit.json');
    const cli = await runCli(['discover', '--task', settings.task, '--model', settings.model, '--method', 'acdc', '-n', settings.n, '--threshold', settings.threshold,
      '--ablation', settings.ablation, '--seed', settings.seed, '--backend', 'wasm', '--out', out, '--no-html', '--quiet'], { timeout: 240_000 });
    expect(cli.code, cli.stderr).toBe(0);
    const ref = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;

    const kept = (f: CircuitFile) => f.edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`).sort();
    expect(kept(page_)).toEqual(kept(ref));
    expect(page_.edges.map((e) => `${e.from}->${e.to}`)).toEqual(ref.edges.map((e) => `${e.from}->${e.to}`));
    const mismatches = diffNumbers(page_, ref, 'file', new Set(['createdAt', 'wall', 'seconds', 'methodSeconds', 'attributionSeconds']), []);
    expect(mismatches).toEqual([]);

    // the task's reference: the toy's published circuit lives in ../shared, which the page cannot
    // read, so none fits this shipped model and the page says so
    await page.waitForFunction(() => ['ready', 'none'].includes(document.body.dataset.reference ?? '') && document.body.dataset.graph === 'drawn', null, { timeout: 30_000 });
    expect(await page.evaluate(() => document.body.dataset.reference)).toBe('none');
    expect(await page.locator('#ref-info').textContent()).toMatch(/^no reference fits this model \(.+\)$/);
    expect(await page.locator('#ref-toggle-box').isHidden()).toBe(true);

    // a reference opened from a file (the CLI's circuit with one kept edge dropped and one added):
    // the added edge is drawn missing (dashed grey), the dropped one extra (halo); the toggle hides them
    const keptEdges = kept(ref);
    const dropped = keptEdges[keptEdges.length - 1];
    const added = ref.edges.map((e) => `${e.from}->${e.to}`).find((k) => !keptEdges.includes(k))!;
    const refFile = { ...ref, edges: ref.edges.map((e) => { const k = `${e.from}->${e.to}`; return { ...e, inCircuit: k === added ? true : k === dropped ? false : e.inCircuit }; }) };
    const refPath = join(dir, 'my-reference.json');
    writeFileSync(refPath, JSON.stringify(refFile));
    await page.setInputFiles('#ref-file', refPath);
    await page.waitForFunction(() => (window.circuitscope.reference?.name ?? '').includes('my-reference.json') && document.body.dataset.reference === 'ready' && document.body.dataset.graph === 'drawn', null, { timeout: 30_000 });
    const overlay = await page.evaluate(() => ({
      reference: window.circuitscope.reference!,
      view: window.circuitscope.view!.edges,
      missing: [...document.querySelectorAll<SVGGElement>('#graph g.edge.missing')].map((g) => { const p = g.querySelector('path:not(.halo)')!; return [g.dataset.edge!, p.getAttribute('stroke'), p.getAttribute('stroke-dasharray'), g.querySelector('title')!.textContent]; }),
      extra: [...document.querySelectorAll<SVGGElement>('#graph g.edge.extra')].map((g) => [g.dataset.edge!, g.querySelectorAll('path.halo').length]),
      info: document.querySelector('#ref-info')!.textContent,
    }));
    expect(overlay.reference.shown).toBe(true);
    expect(overlay.reference.missing).toEqual([added]);
    expect(overlay.reference.extra).toEqual([dropped]);
    expect(overlay.view.sort()).toEqual(keptEdges);
    expect(overlay.missing).toEqual([[added, '#9a9a9a', '4 3', `${added}  in the reference, missing from the circuit`]]);
    expect(overlay.extra).toEqual([[dropped, 1]]);
    expect(overlay.info).toMatch(/: 4 edges; 1 missing \(dashed grey\), 1 extra/);
    await page.locator('#graph-panel').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ROOT, 'test-results', 'app-reference.png') });
    await page.click('#ref-toggle');
    await page.waitForFunction(() => document.body.dataset.graph === 'drawn' && window.circuitscope.reference?.shown === false);
    expect(await page.locator('#graph g.edge.missing, #graph g.edge.extra').count()).toBe(0);
    expect((await page.evaluate(() => window.circuitscope.view!.edges)).sort()).toEqual(keptEdges);

    // click a head: its attention pattern on the task's prompt 0, then 1, as `circuitscope attention --json`
    for (const index of [0, 1]) {
      if (index === 0) await page.locator('#graph [data-node="a1.h0"]').dispatchEvent('click');
      else { await page.fill('#att-index', String(index)); await page.locator('#att-index').dispatchEvent('change'); }
      await page.waitForFunction((i) => document.body.dataset.attention !== 'running' && window.circuitscope.attention?.index === i, index, { timeout: 30_000 });
      const att = (await page.evaluate(() => window.circuitscope.attention))!;
      expect(att.head).toBe('a1.h0');
      for (const r of att.pattern) expect(Math.abs(r.reduce((a, b) => a + b, 0) - 1)).toBeLessThanOrEqual(1e-5);
      const cli = await runCli(['attention', '--task', settings.task, '--model', settings.model, '--heads', '1.0', '--seed', settings.seed, '--index', String(index), '--backend', 'wasm', '--json', '--quiet']);
      expect(cli.code, cli.stderr).toBe(0);
      const want = JSON.parse(cli.stdout) as { tokens: number[]; strTokens: string[]; heads: { name: string; pattern: number[][] }[] };
      expect(att.tokens).toEqual(want.tokens);
      expect(att.strTokens).toEqual(want.strTokens);
      const worst = Math.max(...att.pattern.flatMap((r, i) => r.map((v, j) => Math.abs(v - want.heads[0].pattern[i][j]))));
      expect(worst, `prompt ${index}`).toBeLessThanOrEqual(1e-4);
      const T = want.tokens.length;
      expect(await page.locator('#att-table tr').count()).toBe(T + 1);
      expect(await page.locator('#att-table td.future').count()).toBe(T * (T - 1) / 2);
    }
    await page.locator('#attention').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ROOT, 'test-results', 'app-attention.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a bad URL parameter ends in state error with the message', async () => {
    const { page } = await open('/?task=no-such-task&run=1');
    await page.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 60_000 });
    expect(await page.evaluate(() => window.circuitscope.error)).toMatch(/\?task=no-such-task is not one of .*permute-lists/);
    await page.close();
  });
});
