/**
 * The app's Patching panel in a real browser (Chromium, wasm; see ./harness.ts): activation and
 * path patching on one prompt of the form's task, run in the worker by `circuitscope patch`'s
 * engine function (src/analysis/patch-run.ts), drawn with its heatmaps (`sweepSvgs`):
 * - ioi-words, task ioi, seed 0, prompt 3, every kind (`&patch=all`) with senders 0.1, denoise:
 *   the prompt is the task's row 3 as built in Node (cut at its prompt length; its answer and
 *   wrong name), and `window.circuitscope.patching` equals `circuitscope patch --data <that
 *   prompt> --kind resid,heads,qkv,pattern,path --senders 0.1 --json` (the same keys and labels; every number within
 *   TOL.model, 1e-4, relative to max(1, |x|)); one SVG heatmap per sweep in the DOM, in the
 *   CLI's order, with the sweep's title, one cell per matrix entry and the CLI's shared colour
 *   scale (data-domain within 1e-4);
 * - permute-lists-2l (a toy task scoring three positions, no wrong tokens): prompt 2 read at its
 *   second metric position, path patching from 0.0 in noise mode through the form (the kinds'
 *   checkboxes and the Patch button): the wrong token is the corrupted prompt's own answer there
 *   (`meta.corruptLabels`), and the numbers equal `patch --mode noise --kind path --senders 0.0`'s;
 * - a metric position the prompt does not have ends in one line, and no heatmap.
 * Screenshot: test-results/app-patching.png (the panel with the ioi-words heatmaps).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PatchOutput } from '../../src/analysis/patch-run.js';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import { tokenizerFor } from '../../src/model/tokenizer.js';
import { getTask } from '../../src/tasks/registry.js';
import type { TaskBatch } from '../../src/tasks/types.js';
import { runCli, TOL } from '../helpers.js';
import { AppHarness, ROOT, RUN, compareWithCli } from './harness.js';

type PagePatching = PatchOutput & { source: { task: string; seed: number; index: number; position: number } };

/** The task's batch in Node (as `attention --task --index` builds it: n = max(2, index + 1)). */
async function taskRows(model: string, task: string, index: number, seed: number): Promise<TaskBatch> {
  const { model: m } = await loadModel(model, { quiet: true });
  try {
    return getTask(task).build({ cfg: m.cfg, tokenizer: tokenizerFor(m.cfg) }, { n: Math.max(2, index + 1), seed });
  } finally {
    m.dispose();
  }
}

/** `circuitscope patch --json` on one prompt given as a --data file. */
async function cliPatch(model: string, prompt: { clean: number[]; corrupt: number[]; answer: number; wrong: number; position: number }, extra: string[]): Promise<PatchOutput> {
  const data = join(mkdtempSync(join(tmpdir(), 'app-patching-')), 'prompt.json');
  writeFileSync(data, JSON.stringify({ prompts: [prompt] }));
  const cli = await runCli(['patch', '--model', model, '--data', data, '--backend', 'wasm', '--json', '--quiet', ...extra], { timeout: 240_000 });
  expect(cli.code, cli.stderr).toBe(0);
  return JSON.parse(cli.stdout) as PatchOutput;
}

describe.skipIf(!RUN)('browser app: activation patching (Chromium, wasm)', () => {
  const app = new AppHarness();
  beforeAll(async () => { await initBackend('wasm'); await app.start(); }, 300_000);
  afterAll(() => app.stop());

  it('ioi-words, prompt 3, every kind: the numbers of `circuitscope patch --json`, and the heatmaps in the DOM', async () => {
    const q = new URLSearchParams({ model: 'ioi-words', task: 'ioi', seed: '0', patch: 'all', 'patch-index': '3', senders: '0.1', 'patch-mode': 'denoise', backend: 'wasm' });
    const { page, errors } = await app.open(`/?${q}`, { width: 1280, height: 1000 });
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.patching ?? ''), null, { timeout: 240_000 });
    expect(await page.evaluate(() => window.circuitscope.patchError)).toBeNull();
    const got = (await page.evaluate(() => window.circuitscope.patching)) as PagePatching;
    expect(got.source).toEqual({ task: 'ioi', seed: 0, index: 3, position: 0 });

    // the prompt: the task's row 3, cut at its prompt length, its answer and wrong name
    const b = await taskRows('ioi-words', 'ioi', 3, 0);
    const len = (b.meta!.promptLength as number[])[3];
    const prompt = { clean: b.clean[3].slice(0, len), corrupt: b.corrupt[3].slice(0, len), answer: b.answers[3][0], wrong: b.wrong[3][0][0], position: b.positions[3][0] };
    expect(got.prompts).toEqual([prompt]);

    const cli = await cliPatch('ioi-words', prompt, ['--kind', 'resid,heads,qkv,pattern,path', '--senders', '0.1']);
    expect(Object.keys(got.sweeps)).toEqual(['resid_pre', 'head_out', 'head_q', 'head_k', 'head_v', 'head_pattern', 'path_logits', 'path_q', 'path_k', 'path_v']);
    expect(Object.keys(got.sweeps)).toEqual(Object.keys(cli.sweeps));
    const cmp = compareWithCli(got, cli, 'patching', new Set(['seconds', 'source']), TOL.model);
    expect(cmp.bad).toEqual([]);
    expect(cmp.numbers).toBeGreaterThan(150);
    console.log(`patching ioi-words: ${cmp.numbers} numbers, worst relative difference ${cmp.worst.toExponential(2)} at ${cmp.where}; clean ${got.clean.toFixed(4)}, corrupted ${got.corrupted.toFixed(4)}`);
    // resid_pre at layer 0 where the clean and corrupted tokens agree: the same activation, so
    // exactly the unpatched score (0 when denoising); where they differ it moves
    const resid = got.sweeps.resid_pre;
    const same = prompt.clean.map((t, j) => t === prompt.corrupt[j]);
    expect(same.filter((x) => !x).length).toBeGreaterThan(0);
    same.forEach((x, j) => { if (x) expect(Math.abs(resid.values[0][j]!), `resid_pre 0, position ${j}`).toBe(0); });
    expect(Math.max(...same.map((x, j) => (x ? 0 : Math.abs(resid.values[0][j]!))))).toBeGreaterThan(0.01);

    // the heatmaps: one per sweep, in order, titled, one cell per entry, on the CLI's shared scale
    const figs = await page.evaluate(() => [...document.querySelectorAll('#patch-plots figure')].map((f) => ({
      sweep: (f as HTMLElement).dataset.sweep, title: f.querySelector('svg > text')!.textContent, cells: f.querySelectorAll('svg g rect title').length,
      scale: f.querySelector('svg')!.getAttribute('data-scale'), domain: f.querySelector('svg')!.getAttribute('data-domain')!.split(' ').map(Number),
    })));
    expect(figs.map((f) => f.sweep)).toEqual(Object.keys(cli.sweeps));
    const range = Math.max(...Object.values(cli.sweeps).flatMap((s) => s.values.flat().filter((v): v is number => v !== null).map(Math.abs)));
    for (const f of figs) {
      const s = cli.sweeps[f.sweep!];
      expect(f.title).toBe(`${f.sweep}: ${s.title}`);
      expect(f.cells).toBe(s.rows * s.cols);
      expect(f.scale).toBe('diverging');
      expect(Math.abs(f.domain[0] + range)).toBeLessThanOrEqual(TOL.model);
      expect(Math.abs(f.domain[1] - range)).toBeLessThanOrEqual(TOL.model);
    }
    await page.locator('#patch-panel').scrollIntoViewIfNeeded();
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.locator('#patch-panel').screenshot({ path: join(ROOT, 'test-results', 'app-patching.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('permute-lists-2l, prompt 2 at its second metric position, path patching from 0.0 (noise) through the form', async () => {
    const { page, errors } = await app.open(`/?${new URLSearchParams({ model: 'permute-lists-2l', task: 'permute-lists', seed: '0', backend: 'wasm' })}`);
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 60_000 });
    await page.click('#patch-panel > summary');
    await page.fill('#patch-index', '2');
    await page.fill('#patch-position', '1');
    for (const k of ['resid', 'heads', 'qkv', 'pattern', 'path']) await page.setChecked(`#patch-kinds input[value=${k}]`, k === 'path');
    await page.selectOption('#patch-mode', 'noise');
    await page.fill('#patch-senders', '0.0');
    await page.click('#patch-run');
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.patching ?? ''), null, { timeout: 120_000 });
    expect(await page.evaluate(() => window.circuitscope.patchError)).toBeNull();
    const got = (await page.evaluate(() => window.circuitscope.patching)) as PagePatching;

    const b = await taskRows('permute-lists-2l', 'permute-lists', 2, 0);
    expect(b.wrong[2][1]).toEqual([]);
    const prompt = { clean: b.clean[2], corrupt: b.corrupt[2], answer: b.answers[2][1], wrong: (b.meta!.corruptLabels as number[][])[2][1], position: b.positions[2][1] };
    expect(prompt.wrong).not.toBe(prompt.answer);
    expect(got.prompts).toEqual([prompt]);
    const cli = await cliPatch('permute-lists-2l', prompt, ['--mode', 'noise', '--kind', 'path', '--senders', '0.0']);
    expect(Object.keys(got.sweeps)).toEqual(['path_logits', 'path_q', 'path_k', 'path_v']);
    const cmp = compareWithCli(got, cli, 'patching', new Set(['seconds', 'source']), TOL.model);
    expect(cmp.bad).toEqual([]);
    console.log(`patching permute-lists-2l: ${cmp.numbers} numbers, worst relative difference ${cmp.worst.toExponential(2)} at ${cmp.where}`);
    expect(await page.locator('#patch-plots figure svg').count()).toBe(4);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a metric position the prompt does not have: one line, no heatmap', async () => {
    const q = new URLSearchParams({ model: 'ioi-words', task: 'ioi', patch: 'resid', 'patch-position': '1', backend: 'wasm' });
    const { page } = await app.open(`/?${q}`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.patching ?? ''), null, { timeout: 60_000 });
    expect(await page.evaluate(() => document.body.dataset.patching)).toBe('error');
    expect(await page.evaluate(() => window.circuitscope.patchError)).toBe("patch: ioi: metric position 1 is outside prompt 0's 1 metric position [0, 1)");
    expect(await page.locator('#patch-plots svg').count()).toBe(0);
    await page.close();
  });
});
