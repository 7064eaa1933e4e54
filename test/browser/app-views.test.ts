/**
 * The app's views in a real browser (Chromium, wasm; see ./harness.ts):
 * - the result graph: EAP on ioi-words (110 edges) from the scriptable URL is drawn with the input
 *   below the logits, q / k / v edges in their colours (QKV_COLOUR), a hover naming the edge and
 *   its score; the slider re-selects exactly `selectConnected` (the CLI's connected top-n) over
 *   the file's scores; DOT and MIB exports equal the engine's writers (`toDot` / `toMib`) of the
 *   drawn selection; the SVG export holds every drawn edge; the circuit JSON downloaded and
 *   opened again (file input) round-trips;
 * - a local model (the HF GPT-2 fixture's config.json + model.safetensors, through the file
 *   input) gives the CLI's `logits --json` for a prompt: the same top-10 ids, logits within
 *   TOL.model (1e-4, absolute);
 * - the custom task editor tokenises the prompts and shows `--data`'s error for unequal lengths.
 * Screenshots: test-results/app-graph.png, app-model.png, app-custom-task.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Download, Page } from 'playwright-core';
import { toDot, toMib, type CircuitFile } from '../../src/graph/circuit-file.js';
import { selectConnected } from '../../src/graph/selection.js';
import { QKV_COLOUR } from '../../src/graph/serialize.js';
import { runCli, SHARED, TOL } from '../helpers.js';
import { AppHarness, ROOT, RUN } from './harness.js';

const HF = join(SHARED, 'fixtures', 'hf-gpt2-tiny', 'hf-save');
const shot = (page: Page, name: string) => { mkdirSync(join(ROOT, 'test-results'), { recursive: true }); return page.screenshot({ path: join(ROOT, 'test-results', name), fullPage: true }); };
const text = async (d: Download) => readFileSync((await d.path())!, 'utf8');

describe.skipIf(!RUN)('browser app views (Chromium, wasm)', () => {
  const app = new AppHarness();
  beforeAll(() => app.start(), 300_000);
  afterAll(() => app.stop());

  it('draws the circuit graph; the slider re-selects the connected top-n; exports and import round-trip', async () => {
    const q = new URLSearchParams({ model: 'ioi-words', task: 'ioi', method: 'eap', n: '20', topN: '30', ablation: 'resample', backend: 'wasm', run: '1' });
    const { page, errors } = await app.open(`/?${q}`, { width: 1280, height: 1000 });
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? '') && document.body.dataset.graph !== 'drawing', null, { timeout: 120_000 });
    expect(await page.evaluate(() => window.circuitscope.error)).toBeNull();
    await page.waitForFunction(() => document.body.dataset.graph === 'drawn');
    const file = (await page.evaluate(() => window.circuitscope.result)) as CircuitFile;
    const key = (e: { from: string; to: string }) => `${e.from}->${e.to}`;
    const kept = file.edges.filter((e) => e.inCircuit).map(key);
    expect((await page.evaluate(() => window.circuitscope.view!.edges)).sort()).toEqual([...kept].sort());

    // layout: input at the bottom, logits on top; q/k/v colours; every drawn edge is an element
    const geo = await page.evaluate(() => {
      const y = (n: string) => document.querySelector(`#graph [data-node="${n}"]`)!.getBoundingClientRect().y;
      const colours = [...document.querySelectorAll<SVGGElement>('#graph g.edge')].map((g) => [g.dataset.edge!, g.querySelector('path')!.getAttribute('stroke')!]);
      return { input: y('input'), logits: y('logits'), colours };
    });
    expect(geo.input).toBeGreaterThan(geo.logits);
    expect(new Set(geo.colours.map(([k]) => k))).toEqual(new Set(kept));
    for (const [k, c] of geo.colours) expect(c, k).toBe(QKV_COLOUR[/<([qkv])>$/.exec(k)?.[1] ?? 'none']);

    // hover: the edge key and its score
    const first = file.edges.find((e) => e.inCircuit)!;
    await page.locator(`#graph g.edge[data-edge="${key(first)}"]`).first().dispatchEvent('mouseenter');
    expect(await page.locator('#tip').textContent()).toMatch(new RegExp(`^${key(first).replace(/[.*+?^${}()|[\]\\<>]/g, '\\$&')}\\s+score -?\\d`));
    await page.locator(`#graph g.edge[data-edge="${key(first)}"]`).first().dispatchEvent('mouseleave');

    // the slider: selectConnected over the file's scores
    const scores = new Map(file.edges.filter((e) => e.score !== null).map((e) => [key(e), e.score!]));
    for (const n of [10, 60]) {
      await page.evaluate((v) => { const s = document.querySelector<HTMLInputElement>('#slider')!; s.value = String(v); s.dispatchEvent(new Event('input')); }, n);
      await page.waitForFunction((v) => window.circuitscope.view?.topN === v && document.body.dataset.graph === 'drawn', n);
      const drawn = await page.evaluate(() => window.circuitscope.view!.edges);
      expect([...drawn].sort(), `top-n ${n}`).toEqual([...selectConnected(scores, n).edges].sort());
    }
    await page.locator('#graph-panel').scrollIntoViewIfNeeded();
    await shot(page, 'app-graph.png');

    // exports of the drawn selection (top-n 60 now): the engine's writers
    const drawnSet = new Set(await page.evaluate(() => window.circuitscope.view!.edges));
    const drawnFile: CircuitFile = { ...file, edges: file.edges.map((e) => ({ ...e, inCircuit: drawnSet.has(key(e)) })) };
    const download = async (id: string) => { const [d] = await Promise.all([page.waitForEvent('download'), page.click(id)]); return { name: d.suggestedFilename(), text: await text(d) }; };
    expect((await download('#export-dot')).text).toBe(toDot(drawnFile));
    expect((await download('#export-mib')).text).toBe(JSON.stringify(toMib(drawnFile)) + '\n');
    const svg = await download('#export-svg');
    expect(svg.name).toBe('circuit-ioi-eap.svg');
    expect(svg.text).toMatch(/^<\?xml/);
    expect(new Set([...svg.text.matchAll(/data-edge="([^"]+)"/g)].map((m) => m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>')))).toEqual(drawnSet);

    // the circuit JSON downloaded, then opened again
    const json = await download('#download');
    expect(json.text).toBe(await page.evaluate(() => window.circuitscope.resultText));
    const dir = mkdtempSync(join(tmpdir(), 'app-import-'));
    writeFileSync(join(dir, json.name), json.text);
    await page.evaluate(() => { window.circuitscope.result = null; });
    await page.setInputFiles('#import', join(dir, json.name));
    await page.waitForFunction(() => window.circuitscope.result !== null && document.body.dataset.graph === 'drawn');
    expect(await page.evaluate(() => window.circuitscope.result)).toEqual(file);
    expect((await page.evaluate(() => window.circuitscope.view!.edges)).sort()).toEqual([...kept].sort());
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a model from files (HF GPT-2 fixture) gives the CLI\'s logits (1e-4); the custom task editor shows unequal lengths', async () => {
    const prompt = 'When Mary and John went to the store, John gave a drink to';
    const { page, errors } = await app.open('/', { width: 1280, height: 900 });
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 60_000 });
    await page.click('#model-panel > summary');
    await page.setInputFiles('#model-files', [join(HF, 'config.json'), join(HF, 'model.safetensors')]);
    await page.waitForFunction(() => ['loaded', 'error'].includes(document.body.dataset.model ?? ''), null, { timeout: 60_000 });
    expect(await page.locator('#model-info').textContent()).toMatch(/^loaded .*2 layers, 4 heads, d_model 64/);
    expect(await page.locator('#model').inputValue()).toBe('local:');
    await page.fill('#prompt', prompt);
    await page.click('#predict');
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.logits ?? ''), null, { timeout: 60_000 });
    const got = await page.evaluate(() => window.circuitscope.logits);
    expect(got, await page.locator('#tokens').textContent() ?? '').not.toBeNull();

    const cli = await runCli(['logits', '--model', HF, '--text', prompt, '--json', '--top', '10', '--backend', 'wasm', '--quiet']);
    expect(cli.code, cli.stderr).toBe(0);
    const ref = JSON.parse(cli.stdout) as { tokens: number[]; top: { id: number; token: string; logit: number; prob: number }[] };
    expect(got!.tokens).toEqual(ref.tokens);
    expect(got!.top.map((t) => t.id)).toEqual(ref.top.map((t) => t.id));
    expect(got!.top.map((t) => t.token)).toEqual(ref.top.map((t) => t.token));
    const worst = Math.max(...got!.top.map((t, i) => Math.abs(t.logit - ref.top[i].logit)));
    expect(worst).toBeLessThanOrEqual(TOL.model);
    await shot(page, 'app-model.png');

    // the custom task editor, on the loaded model (GPT-2's tokenizer)
    await page.click('#custom-panel > summary');
    await page.click('#custom-check');
    await page.waitForFunction(() => ['valid', 'invalid'].includes(document.body.dataset.task ?? ''));
    expect(await page.evaluate(() => window.circuitscope.taskCheck!.error)).toBeNull();
    const bad = JSON.stringify({ prompts: [{ clean: 'When Mary and John went to the store, John gave a drink to', corrupt: 'When Mary and John went to the store, Christopher Robin gave a drink to', answer: ' Mary', wrong: ' John' }] }, null, 1);
    await page.fill('#custom-text', bad);
    await page.click('#custom-check');
    await page.waitForFunction(() => document.body.dataset.task === 'invalid');
    const msg = 'custom task editor: prompts[0]: the clean prompt is 15 tokens but the corrupted prompt is 16 tokens; they must tokenise to the same length';
    expect(await page.locator('#custom-error').textContent()).toBe(msg);
    expect(await page.locator('#custom-error').isVisible()).toBe(true);
    const rows = await page.evaluate(() => window.circuitscope.taskCheck!.rows);
    expect([rows[0].clean!.length, rows[0].corrupt!.length]).toEqual([15, 16]);
    await shot(page, 'app-custom-task.png');
    expect(errors).toEqual([]);
    await page.close();
  });
});
