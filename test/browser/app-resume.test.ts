/**
 * Resume after a reload, in a real browser (Chromium, wasm; see ./harness.ts): the worker keeps
 * the run's checkpoint in IndexedDB (web/checkpoints.ts) as discovery saves it, keyed by the job.
 * - ACDC on ioi-words (110 edges, ~27 receivers: a checkpoint after each) from the scriptable
 *   URL is interrupted twice by loading the page again mid-run, after a checkpoint was saved
 *   and before the run ended: once onto the bare page, which offers the saved run (Resume /
 *   Discard, its progress), resumed with its Resume button; once onto the same URL with
 *   `&resume=1`. The run that finally completes started from the checkpoint (its first progress
 *   message is past 0, the worker said where it resumed) and its circuit file equals the
 *   uninterrupted `circuitscope discover` on the same settings (wasm, one thread): the same kept
 *   edges, every score and result within TOL.exact (1e-6, relative to max(1, |x|)); wall times
 *   and createdAt aside. A completed run leaves no checkpoint (IndexedDB read directly).
 * - Cancel keeps the checkpoint and the page offers it; Discard deletes it.
 * - `&resume=1` with nothing saved, or for a method that keeps no checkpoint, ends in a one-line
 *   error.
 * Screenshots: test-results/app-resume-offer.png (the offer after a reload), app-resume-done.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { CircuitFile } from '../../src/graph/circuit-file.js';
import { runCli, TOL } from '../helpers.js';
import { AppHarness, ROOT, RUN, compareWithCli } from './harness.js';

const settings = { model: 'ioi-words', task: 'ioi', method: 'acdc', n: '100', threshold: '0.01', ablation: 'resample', seed: '0', backend: 'wasm' };
const shot = (page: Page, name: string) => { mkdirSync(join(ROOT, 'test-results'), { recursive: true }); return page.screenshot({ path: join(ROOT, 'test-results', name), fullPage: true }); };
const kept = (f: CircuitFile) => f.edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`).sort();

/** The checkpoint records in the page's IndexedDB, read without the app's code. */
function records(page: Page): Promise<{ key: string; done: number; total: number; bytes: number }[]> {
  return page.evaluate(async () => {
    if (!(await indexedDB.databases()).some((d) => d.name === 'circuitscope')) return [];
    return new Promise((resolve, reject) => {
      const r = indexedDB.open('circuitscope');
      r.onerror = () => reject(r.error);
      r.onsuccess = () => {
        const d = r.result;
        if (!d.objectStoreNames.contains('checkpoints')) { d.close(); resolve([]); return; }
        const g = d.transaction('checkpoints').objectStore('checkpoints').getAll();
        g.onerror = () => reject(g.error);
        g.onsuccess = () => { d.close(); resolve((g.result as { key: string; done: number; total: number; text: string }[]).map((x) => ({ key: x.key, done: x.done, total: x.total, bytes: x.text.length }))); };
      };
    });
  });
}

/** Wait until the run has saved a checkpoint (and is still running); its progress then. */
async function savedMidRun(page: Page): Promise<{ done: number; total: number }> {
  await page.waitForFunction(() => (window.circuitscope?.checkpoint?.saves ?? 0) >= 1 || ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 120_000 });
  const s = await page.evaluate(() => ({ state: window.circuitscope.state, error: window.circuitscope.error, last: window.circuitscope.checkpoint?.last ?? null }));
  expect(s.error).toBeNull();
  expect(s.state, 'the run ended before it could be interrupted').toBe('running');
  return s.last!;
}

describe.skipIf(!RUN)('browser app: resume after a reload (Chromium, wasm, IndexedDB)', () => {
  const app = new AppHarness();
  beforeAll(() => app.start(), 300_000);
  afterAll(() => app.stop());

  it('ACDC interrupted by two reloads resumes from its checkpoint and gives the uninterrupted CLI circuit (1e-6); no checkpoint is left', async () => {
    const t0 = performance.now();
    const runUrl = `/?${new URLSearchParams({ ...settings, run: '1' })}`;
    const { page, errors } = await app.open(runUrl, { width: 1280, height: 900 });

    // 1. interrupted by loading the bare page: it offers the saved run
    const first = await savedMidRun(page);
    await page.goto(new URL('/', app.server!.url).href);
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 60_000 });
    const offered = await page.evaluate(() => window.circuitscope.saved);
    expect(offered).toHaveLength(1);
    expect(offered[0]).toMatchObject({ model: 'ioi-words', method: 'acdc' });
    expect(offered[0].done).toBeGreaterThanOrEqual(first.done);
    expect(offered[0].done).toBeGreaterThan(0);
    expect(offered[0].done).toBeLessThan(offered[0].total);
    const rec1 = await records(page);
    expect(rec1.map((r) => [r.key, r.done])).toEqual([[offered[0].key, offered[0].done]]);
    const line = await page.locator('#resume-list li .what').textContent();
    expect(line).toMatch(new RegExp(`^acdc on ioi-words, task ioi, n=100, seed 0 \\(threshold 0\\.01; resample; wasm\\): ${offered[0].done} of ${offered[0].total} done, saved `));
    expect(await page.locator('#resume-box').isVisible()).toBe(true);
    await shot(page, 'app-resume-offer.png');

    // 2. Resume (the button): it continues from there, and is interrupted again with the URL's &resume=1
    await page.click('#resume-list li button.resume');
    await page.waitForFunction(() => window.circuitscope.checkpoint?.resumedFrom != null, null, { timeout: 60_000 });
    expect(await page.evaluate(() => window.circuitscope.checkpoint!.resumedFrom)).toEqual({ done: offered[0].done, total: offered[0].total });
    // the form shows the saved job
    expect(await page.evaluate(() => ['model', 'task', 'method', 'n', 'threshold'].map((id) => (document.getElementById(id) as HTMLInputElement).value))).toEqual(['ioi-words', 'ioi', 'acdc', '100', '0.01']);
    const second = await savedMidRun(page);
    expect(second.done).toBeGreaterThan(offered[0].done);
    const rec2 = await records(page);
    expect(rec2).toHaveLength(1);
    expect(rec2[0].key).toBe(offered[0].key);

    // 3. the same URL with &resume=1 instead of &run=1: resumed, run to the end
    await page.goto(new URL(`/?${new URLSearchParams({ ...settings, resume: '1' })}`, app.server!.url).href);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 240_000 });
    const got = await page.evaluate(() => ({ state: document.body.dataset.state, error: window.circuitscope.error, result: window.circuitscope.result, checkpoint: window.circuitscope.checkpoint, progress: window.circuitscope.progress, saved: window.circuitscope.saved, backend: window.circuitscope.backend }));
    expect(got.error).toBeNull();
    expect(got.state).toBe('done');
    expect(got.backend).toBe('wasm');
    const resumedFrom = got.checkpoint!.resumedFrom!;
    expect(resumedFrom.done).toBeGreaterThanOrEqual(second.done);
    // it really resumed: its progress started past 0
    expect(got.progress!.first.done).toBeGreaterThan(0);
    expect(got.progress!.last.done).toBe(got.progress!.last.total);
    const seconds = (performance.now() - t0) / 1000;

    // a completed run leaves no checkpoint, and nothing is offered
    expect(await records(page)).toEqual([]);
    await page.waitForFunction(() => window.circuitscope.saved.length === 0);
    expect(await page.locator('#resume-box').isHidden()).toBe(true);
    await shot(page, 'app-resume-done.png');

    // the uninterrupted run: the CLI, same settings, one thread
    const out = join(mkdtempSync(join(tmpdir(), 'app-resume-')), 'circuit.json');
    const cli = await runCli(['discover', '--task', settings.task, '--model', settings.model, '--method', 'acdc', '-n', settings.n, '--threshold', settings.threshold,
      '--ablation', settings.ablation, '--seed', settings.seed, '--backend', 'wasm', '--workers', '1', '--out', out, '--no-html', '--quiet'], { timeout: 240_000 });
    expect(cli.code, cli.stderr).toBe(0);
    const ref = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
    const mine = got.result!;
    expect(kept(mine)).toEqual(kept(ref));
    expect(mine.edges.map((e) => `${e.from}->${e.to}`)).toEqual(ref.edges.map((e) => `${e.from}->${e.to}`));
    const d = compareWithCli(mine, ref, 'file', new Set(['createdAt', 'wall', 'seconds', 'methodSeconds', 'attributionSeconds']), TOL.exact);
    expect(d.bad).toEqual([]);
    process.stderr.write(`app-resume: interrupted at ${first.done} and ${second.done} of ${offered[0].total} edges, resumed from ${offered[0].done} and ${resumedFrom.done}; ${kept(mine).length} edges kept; largest difference from the CLI ${d.worst.toExponential(2)}; ${seconds.toFixed(1)} s in the page\n`);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('Cancel keeps the checkpoint and the page offers it; Discard deletes it', async () => {
    const { page, errors } = await app.open(`/?${new URLSearchParams({ ...settings, run: '1' })}`);
    await savedMidRun(page);
    await page.click('#cancel');
    await page.waitForFunction(() => window.circuitscope.saved.length === 1 && document.body.dataset.state === 'idle', null, { timeout: 30_000 });
    expect(await page.locator('#status').textContent()).toMatch(/^cancelled after .* \(saved at \d+\/\d+: Resume continues from there\)$/);
    expect(await records(page)).toHaveLength(1);
    await page.click('#resume-list li button.discard');
    await page.waitForFunction(() => window.circuitscope.saved.length === 0);
    expect(await records(page)).toEqual([]);
    expect(await page.locator('#resume-box').isHidden()).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('&resume=1 with nothing saved, or for a method without checkpoints, is a one-line error', async () => {
    for (const [q, msg] of [
      [{ ...settings, resume: '1' }, 'web: nothing to resume: no checkpoint is saved for acdc on ioi-words with these settings'],
      [{ ...settings, method: 'eap', threshold: '', resume: '1' }, 'web: eap keeps no checkpoint, so there is nothing to resume (methods that do: acdc, edge-pruning, mattr)'],
    ] as const) {
      const { page } = await app.open(`/?${new URLSearchParams(Object.entries(q).filter(([, v]) => v !== ''))}`);
      await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 60_000 });
      expect(await page.evaluate(() => window.circuitscope.error)).toBe(msg);
      await page.close();
    }
  });
});
