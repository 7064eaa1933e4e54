/**
 * `attention`, `heads`, `dla` and `--corrupt flip:...` (discover, patch) end to end, spawned from
 * the sources like the other CLI tests: JSON shapes and values (attention = Hugging Face's
 * patterns on the fixture; DLA's sum rule; flipped prompts as the corrupted side), HTML pages
 * that are self-contained (no scripts, no external references; one SVG panel per head, hover
 * tooltips), and one-line errors.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gpt2Tokenizer } from '../../src/model/tokenizer.js';
import type { CircuitFile } from '../../src/graph/circuit-file.js';
import { SHARED, TOL, expectClose, runCli } from '../helpers.js';
import { FIXTURE_MODEL, readReference } from '../fixture.js';

const PERM = `${SHARED}models/permute_lists`;
const PROMPT = 'When Mary and John went to the store, John gave a drink to';

const cli = (args: string[]) => runCli(['--backend', 'wasm', ...args]);

/** A page that renders offline: no scripts, no fetched resources, only the SVG namespace URL. */
function expectSelfContained(html: string): void {
  expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
  expect(html).not.toMatch(/\s(src|href)=/i);
  expect((html.match(/https?:\/\/[^"'\s<>]+/g) ?? []).every((u) => u === 'http://www.w3.org/2000/svg')).toBe(true);
}

const dir = mkdtempSync(join(tmpdir(), 'analysis-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('attention', () => {
  it('--json gives Hugging Face\'s patterns for the chosen heads', async () => {
    const r = await cli(['attention', '--model', FIXTURE_MODEL, '--text', PROMPT, '--heads', '1.2,0.*', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as { tokens: number[]; strTokens: string[]; heads: { name: string; layer: number; head: number; pattern: number[][] }[] };
    expect(o.heads.map((h) => h.name)).toEqual(['a1.h2', 'a0.h0', 'a0.h1', 'a0.h2', 'a0.h3']);
    expect(o.strTokens[2]).toBe(' Mary');
    const ref = readReference();
    const T = o.tokens.length;
    expect(T).toBe(15);
    for (const h of o.heads) {
      const hf = ref.get(`blocks.${h.layer}.attn.hook_pattern`)!;
      const Tq = hf.shape[2];
      const want = Array.from(hf.data.subarray(h.head * Tq * Tq, (h.head + 1) * Tq * Tq)).filter((_, i) => Math.floor(i / Tq) < T && i % Tq < T);
      expectClose(h.pattern.flat(), want, TOL.model, h.name);
    }
  });

  it('--circuit shows the circuit\'s heads in a self-contained page with tooltips', async () => {
    const circuit = join(dir, 'mib.json');
    writeFileSync(circuit, JSON.stringify({ edges: {
      'input->a0.h1<q>': { score: 1, in_graph: true }, 'a0.h1->a1.h2<k>': { score: 1, in_graph: true },
      'a1.h2->logits': { score: 1, in_graph: true }, 'a1.h3->logits': { score: 0.1, in_graph: false },
    } }));
    const html = join(dir, 'att.html'), out = join(dir, 'att.json');
    const r = await cli(['attention', '--model', FIXTURE_MODEL, '--text', PROMPT, '--circuit', circuit, '--html', html, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^0 "<\|endoftext\|>"  1 "When"/);
    expect(r.stdout).toMatch(/a0\.h1 .*\n {2}a1\.h2 /);
    const page = readFileSync(html, 'utf8');
    expectSelfContained(page);
    expect(page.match(/<svg /g)).toHaveLength(2);
    expect(page).toContain('in the circuit: q &lt;- input; out -&gt; a1.h2&lt;k&gt;');
    expect(page).toMatch(/<title>a1\.h2: destination 14 &quot; to&quot; &lt;- source 2 &quot; Mary&quot;: weight (?:0|1|0\.\d+|\d(?:\.\d+)?e-\d+)<\/title>/);
    expect(JSON.parse(readFileSync(out, 'utf8')).heads.map((h: { name: string }) => h.name)).toEqual(['a0.h1', 'a1.h2']);
  });

  it('takes a task prompt and refuses a circuit of another shape', async () => {
    const r = await cli(['attention', '--model', PERM, '--task', 'permute-lists', '--index', '1', '--json']);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.tokens).toHaveLength(12);
    expect(o.heads.map((h: { name: string }) => h.name)).toEqual(['a0.h0', 'a1.h0']);
    const big = join(dir, 'big.json');
    writeFileSync(big, JSON.stringify({ format: 'circuitscope-circuit', modelConfig: { nLayers: 12, nHeads: 12, dModel: 768, attnOnly: false }, edges: [] }));
    const bad = await cli(['attention', '--model', PERM, '--tokens', '52,1,2', '--circuit', big]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^circuitscope: attention: --circuit .*big\.json was found on a model with 12 layers x 12 heads, but this model has 2 x 1\n$/);
  });
});

describe('heads', () => {
  it('--json scores every head of a toy model; the HTML renders offline', async () => {
    const html = join(dir, 'heads.html');
    const r = await cli(['heads', '--model', PERM, '-n', '4', '--json', '--html', html]);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as { n: number; seqLen: number; offset: number; tokens: number[][]; scores: Record<string, number[][]>; top: Record<string, { name: string; score: number }[]> };
    expect([o.n, o.seqLen, o.offset, o.tokens.length]).toEqual([4, 6, 0, 4]);
    for (const k of ['induction', 'duplicate', 'previous']) {
      expect(o.scores[k]).toHaveLength(2);
      expect(o.scores[k].flat().every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(o.top[k][0].score).toBe(Math.max(...o.scores[k].flat()));
    }
    for (const row of o.tokens) expect(row.slice(0, 6)).toEqual(row.slice(6));
    const page = readFileSync(html, 'utf8');
    expectSelfContained(page);
    expect(page.match(/<svg /g)).toHaveLength(6); // three score maps, three best-head patterns
    expect(page).toMatch(/<title>a1\.h0 induction score: [\d.]+<\/title>/);
  });

  it('--model planted-induction: the hand-set model\'s heads come out on top', async () => {
    const r = await cli(['heads', '--model', 'planted-induction', '-n', '3', '--top', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\ninduction\s+a1\.h0 1\s*\nduplicate\s+a0\.h1 1\s*\nprevious\s+a0\.h0 1\s*\n$/);
  });

  it('says when the sequence does not fit', async () => {
    const r = await cli(['heads', '--model', PERM, '--seq-len', '7', '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("circuitscope: heads: a sequence of 7 tokens repeated once is 14 tokens, longer than the model's context nCtx 12 (at most --seq-len 6)\n");
  });
});

describe('dla', () => {
  it('--json: components sum to the metric; the ablation table and page', async () => {
    const html = join(dir, 'dla.html');
    const r = await cli(['dla', '--task', 'ioi', '--model', FIXTURE_MODEL, '-n', '6', '--ablate-heads', '1.2,0.3', '--json', '--html', html]);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as { metric: number; sum: number; constant: number; components: Record<string, number>; heads: number[][]; ablation: { heads: { head: string; naive: number; actual: number; indirect: number; direct: number; dlaChange: number[][] }[] } };
    expectClose([o.sum], [o.metric], TOL.model, 'sum rule');
    expectClose([Object.values(o.components).reduce((a, b) => a + b, 0) + o.constant], [o.metric], TOL.model, 'components + constant');
    expect(o.ablation.heads.map((a) => a.head)).toEqual(['a1.h2', 'a0.h3']);
    for (const a of o.ablation.heads) expect(a.indirect).toBeCloseTo(a.actual - a.naive, 10);
    expect(o.heads[1][2]).toBe(o.components['a1.h2']);
    const page = readFileSync(html, 'utf8');
    expectSelfContained(page);
    expect(page.match(/<svg /g)).toHaveLength(5);
  });

  it('prints a summary with the top |DLA| heads ablated by default', async () => {
    const r = await cli(['dla', '--task', 'min-int', '--model', `${SHARED}models/min_int`, '--n', '8']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/direction logit\(answer\)\n/);
    expect(r.stdout).toMatch(/ablate one head[^\n]*\n\s+head\s+DLA\s+naive\s+actual\s+indirect[^\n]*\n\s+a0\.h0 /);
  });
});

describe('--corrupt flip:...', () => {
  it('discover runs IOI with a flipped corruption', async () => {
    const out = join(dir, 'flip.json');
    const r = await cli(['discover', '--task', 'ioi', '--model', FIXTURE_MODEL, '--corrupt', 'flip:ABB->BAB', '--method', 'eap', '--top-n', '10', '--n', '6', '--out', out, '--quiet', '--no-html']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const f = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
    expect(f.task).toBe('ioi[flip:ABB->BAB]');
    expect(f.results.edgesKept).toBeGreaterThan(0);
    const bad = await cli(['discover', '--task', 'min-int', '--corrupt', 'flip:ABB->BAB', '--quiet']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^circuitscope: discover: --corrupt flip:ABB->BAB: task 'min-int' is not an IOI task/);
  });

  it('patch corrupts each clean prompt by the flip', async () => {
    const t2 = 'When Lisa and Paul went to the park, Lisa gave a book to';
    const r = await cli(['patch', '--model', FIXTURE_MODEL, '--clean', PROMPT, '--clean', t2, '--corrupt', 'flip:ABB->BAB',
      '--answer', ' Mary', '--answer', ' Paul', '--wrong', ' John', '--wrong', ' Lisa', '--kind', 'heads', '--json']);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as { prompts: { corrupt: number[] }[] };
    const tok = new Gpt2Tokenizer();
    expect(o.prompts[0].corrupt).toEqual(tok.toTokens('When John and Mary went to the store, John gave a drink to'));
    expect(o.prompts[1].corrupt).toEqual(tok.toTokens('When Paul and Lisa went to the park, Lisa gave a book to'));
    const bad = await cli(['patch', '--model', FIXTURE_MODEL, '--clean', PROMPT, '--corrupt', 'flip:ABB->ABB', '--answer', ' Mary', '--wrong', ' John']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^circuitscope: patch: --corrupt flip:ABB->ABB is the clean prompt itself/);
  });
});
