/**
 * A model from the Hugging Face hub, in a real browser (Chromium, wasm; see ./harness.ts),
 * against a local server laid out as the hub (`/<repo>/resolve/main/<file>`, on another port:
 * another origin, so the cross-origin-isolated page reads it through CORS, as it reads
 * huggingface.co; the weights answer with a redirect to a CDN path, as the hub's do). It serves
 * the HF GPT-2 fixture (../shared/fixtures/hf-gpt2-tiny/hf-save) as the repo `tiny/gpt2`, and
 * the same weights split into two shards with a `model.safetensors.index.json` (no
 * model.safetensors) as `tiny/gpt2-sharded`.
 * - Fetch (repo and hub fields) loads `tiny/gpt2`; the next-token top 10 for a prompt equals
 *   `circuitscope logits --json` on the fixture's files: the same ids and tokens, logits within
 *   TOL.model (1e-4, absolute); the page asked for exactly config.json and model.safetensors.
 * - `?hf=tiny/gpt2-sharded&hub=...` loads the sharded repo on page load (config, the index, both
 *   shards): the same top 10 within 1e-4.
 * - A missing repo shows one line naming the URL and HTTP 404; an unreachable hub one line naming
 *   the URL and the network error; `?hf=<missing>&...&run=1` ends in state error with that line.
 * Screenshots: test-results/app-hub.png, app-hub-404.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { runCli, SHARED, TOL } from '../helpers.js';
import { AppHarness, ROOT, RUN } from './harness.js';

const HF = join(SHARED, 'fixtures', 'hf-gpt2-tiny', 'hf-save');
const PROMPT = 'When Mary and John went to the store, John gave a drink to';
const shot = (page: Page, name: string) => { mkdirSync(join(ROOT, 'test-results'), { recursive: true }); return page.screenshot({ path: join(ROOT, 'test-results', name), fullPage: true }); };
type Logits = { tokens: number[]; top: { id: number; token: string; logit: number; prob: number }[] };

/** A safetensors file split into two (tensors in header order, halves), with the index naming each tensor's shard. */
function shard(bytes: Buffer): { files: Record<string, Buffer>; index: string } {
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const halves = [names.slice(0, names.length >> 1), names.slice(names.length >> 1)];
  const files: Record<string, Buffer> = {};
  const weightMap: Record<string, string> = {};
  halves.forEach((part, i) => {
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    const h: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    const data: Buffer[] = [];
    let off = 0;
    for (const t of part) {
      const [a, b] = header[t].data_offsets;
      data.push(bytes.subarray(8 + n + a, 8 + n + b));
      h[t] = { dtype: header[t].dtype, shape: header[t].shape, data_offsets: [off, off + b - a] };
      off += b - a;
      weightMap[t] = name;
    }
    const hb = Buffer.from(JSON.stringify(h));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hb.length));
    files[name] = Buffer.concat([len, hb, ...data]);
  });
  return { files, index: JSON.stringify({ metadata: { total_size: bytes.length - 8 - n }, weight_map: weightMap }) };
}

/** The hub's layout on a local port: every answer allows CORS (as huggingface.co's do); weights redirect to /cdn/. */
async function hubServer(): Promise<{ url: string; server: Server; requests: string[] }> {
  const weights = readFileSync(join(HF, 'model.safetensors'));
  const sharded = shard(weights);
  const repos: Record<string, Record<string, Buffer>> = {
    'tiny/gpt2': { 'config.json': readFileSync(join(HF, 'config.json')), 'model.safetensors': weights },
    'tiny/gpt2-sharded': { 'config.json': readFileSync(join(HF, 'config.json')), 'model.safetensors.index.json': Buffer.from(sharded.index), ...sharded.files },
  };
  const cdn = new Map<string, Buffer>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Content-Length, ETag' };
    const cached = cdn.get(path);
    if (cached) { res.writeHead(200, { ...cors, 'Content-Type': 'application/octet-stream', 'Content-Length': String(cached.length) }); res.end(cached); return; }
    const m = /^\/(.+)\/resolve\/main\/([^/]+)$/.exec(path);
    const body = m ? repos[m[1]]?.[m[2]] : undefined;
    if (!m || !body) { res.writeHead(404, { ...cors, 'Content-Type': 'text/plain' }); res.end('Entry not found'); return; }
    if (m[2].endsWith('.safetensors')) {
      const to = `/cdn/${m[1]}/${m[2]}`;
      cdn.set(to, body);
      res.writeHead(302, { ...cors, Location: to });
      res.end();
      return;
    }
    res.writeHead(200, { ...cors, 'Content-Type': m[2].endsWith('.json') ? 'application/json' : 'application/octet-stream', 'Content-Length': String(body.length) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

/** The page's next-token top 10 for PROMPT on the loaded local model. */
async function predict(page: Page): Promise<Logits> {
  await page.fill('#prompt', PROMPT);
  await page.click('#predict');
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.logits ?? ''), null, { timeout: 60_000 });
  const got = await page.evaluate(() => window.circuitscope.logits);
  expect(got, await page.locator('#tokens').textContent() ?? '').not.toBeNull();
  return got!;
}

describe.skipIf(!RUN)('browser app: a model from the Hugging Face hub (Chromium, wasm, a local hub)', () => {
  const app = new AppHarness();
  let hub: Awaited<ReturnType<typeof hubServer>>;
  let ref: Logits;
  beforeAll(async () => {
    hub = await hubServer();
    await app.start();
    const cli = await runCli(['logits', '--model', HF, '--text', PROMPT, '--json', '--top', '10', '--backend', 'wasm', '--quiet']);
    expect(cli.code, cli.stderr).toBe(0);
    ref = JSON.parse(cli.stdout) as Logits;
  }, 300_000);
  afterAll(async () => { await app.stop(); hub?.server.close(); });

  const expectCliLogits = (got: Logits): number => {
    expect(got.tokens).toEqual(ref.tokens);
    expect(got.top.map((t) => t.id)).toEqual(ref.top.map((t) => t.id));
    expect(got.top.map((t) => t.token)).toEqual(ref.top.map((t) => t.token));
    const worst = Math.max(...got.top.map((t, i) => Math.abs(t.logit - ref.top[i].logit)));
    expect(worst).toBeLessThanOrEqual(TOL.model);
    return worst;
  };

  it('Fetch loads a repo from the hub; its next-token top 10 equals `circuitscope logits` on the same files (1e-4)', async () => {
    const { page, errors } = await app.open('/', { width: 1280, height: 900 });
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 60_000 });
    await page.click('#model-panel > summary');
    await page.fill('#hub-base', hub.url);
    await page.fill('#hub-repo', 'tiny/gpt2');
    hub.requests.length = 0;
    await page.click('#hub-fetch');
    await page.waitForFunction(() => ['loaded', 'error'].includes(document.body.dataset.model ?? ''), null, { timeout: 60_000 });
    expect(await page.locator('#model-info').textContent()).toMatch(/^loaded tiny\/gpt2: .*2 layers, 4 heads, d_model 64, vocabulary 50257$/);
    expect(hub.requests).toEqual(['/tiny/gpt2/resolve/main/config.json', '/tiny/gpt2/resolve/main/model.safetensors', '/cdn/tiny/gpt2/model.safetensors']);
    expect(await page.locator('#model option:checked').textContent()).toBe('your model: tiny/gpt2');
    const worst = expectCliLogits(await predict(page));
    await shot(page, 'app-hub.png');
    process.stderr.write(`app-hub: single file: top-10 logits within ${worst.toExponential(2)} of the CLI\n`);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('?hf= loads a sharded repo (model.safetensors.index.json + 2 shards) on page load: the same top 10 (1e-4)', async () => {
    hub.requests.length = 0;
    const { page, errors } = await app.open(`/?${new URLSearchParams({ hf: 'tiny/gpt2-sharded', hub: hub.url })}`);
    await page.waitForFunction(() => ['loaded', 'error'].includes(document.body.dataset.model ?? ''), null, { timeout: 60_000 });
    expect(await page.locator('#model-info').textContent()).toMatch(/^loaded tiny\/gpt2-sharded: .*2 layers, 4 heads, d_model 64/);
    expect(hub.requests.filter((p) => !p.startsWith('/cdn/'))).toEqual(['config.json', 'model.safetensors', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].map((f) => `/tiny/gpt2-sharded/resolve/main/${f}`));
    const worst = expectCliLogits(await predict(page));
    process.stderr.write(`app-hub: sharded: top-10 logits within ${worst.toExponential(2)} of the CLI\n`);
    expect(errors.filter((e) => !/404/.test(e))).toEqual([]); // the probe for model.safetensors is a 404 the browser logs
    await page.close();
  });

  it('a missing repo and an unreachable hub are one line naming the URL; ?hf= with run=1 ends in that error', async () => {
    const { page } = await app.open('/', { width: 1280, height: 720 });
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 60_000 });
    await page.click('#model-panel > summary');
    await page.fill('#hub-base', `${hub.url}/`);
    await page.fill('#hub-repo', 'tiny/no-such-model');
    await page.click('#hub-fetch');
    await page.waitForFunction(() => document.body.dataset.model === 'error', null, { timeout: 30_000 });
    const missing = `hub: ${hub.url}/tiny/no-such-model/resolve/main/config.json: HTTP 404 (no such repo or file)`;
    expect(await page.locator('#model-info').textContent()).toBe(missing);
    expect(await page.evaluate(() => window.circuitscope.modelError)).toBe(missing);
    await shot(page, 'app-hub-404.png');

    // a port nothing listens on
    const closed = await new Promise<number>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); }); });
    await page.fill('#hub-base', `http://127.0.0.1:${closed}`);
    await page.fill('#hub-repo', 'tiny/gpt2');
    await page.click('#hub-fetch');
    await page.waitForFunction(() => document.body.dataset.model === 'error' && (window.circuitscope.modelError ?? '').includes('network'), null, { timeout: 30_000 });
    const line = (await page.locator('#model-info').textContent())!;
    expect(line).toMatch(new RegExp(`^hub: http://127\\.0\\.0\\.1:${closed}/tiny/gpt2/resolve/main/config\\.json: network error \\(.+\\)$`));
    expect(line).not.toContain('\n');

    await page.fill('#hub-repo', 'not a repo');
    await page.click('#hub-fetch');
    await page.waitForFunction(() => (window.circuitscope.modelError ?? '').includes('not a Hugging Face repo id'));
    expect(await page.evaluate(() => window.circuitscope.modelError)).toBe("hub: 'not a repo' is not a Hugging Face repo id (expected a name like gpt2 or owner/name)");
    await page.close();

    const { page: p2 } = await app.open(`/?${new URLSearchParams({ hf: 'tiny/no-such-model', hub: hub.url, task: 'ioi', method: 'eap', n: '4', run: '1' })}`);
    await p2.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 60_000 });
    expect(await p2.evaluate(() => window.circuitscope.error)).toBe(missing);
    await p2.close();
  });
});
