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
 * - a bad URL parameter ends in state `error` with the message in `window.circuitscope.error`.
 * Screenshot: test-results/app-acdc.png. Skipped, with a message, when Chromium is not installed,
 * except under CI=true, where that fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
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
    await page.close();
  });

  it('a bad URL parameter ends in state error with the message', async () => {
    const { page } = await open('/?task=no-such-task&run=1');
    await page.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 60_000 });
    expect(await page.evaluate(() => window.circuitscope.error)).toMatch(/\?task=no-such-task is not one of .*permute-lists/);
    await page.close();
  });
});
