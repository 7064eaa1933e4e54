/**
 * The `circuitscope` CLI end to end, spawned as a child process from the TypeScript sources
 * (`node --import tsx src/cli/main.ts`, what `npx tsx src/cli/main.ts` runs): help, the
 * `logits --json` shape and values against the hf-gpt2-tiny fixture (TOL.model, 1e-4, for the
 * logit; 1e-6 absolute for the probability), a trained toy model fed --tokens, the Hugging
 * Face cache through `models` and `logits --model gpt2`, and clear one-line errors.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED, TOL, runCli, type CliRun } from '../helpers.js';
import { shippedRows } from '../../src/cli/commands/models.js';

const FIXTURE = `${SHARED}fixtures/hf-gpt2-tiny/`;
const FIXTURE_MODEL = `${FIXTURE}hf-save`;
const MIN_INT = `${SHARED}models/min_int`;

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env });

/** One float32 tensor from the fixture's reference.safetensors (u64 LE header length, JSON, data). */
function referenceF32(name: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(`${FIXTURE}reference.safetensors`);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const h = header[name];
  if (h?.dtype !== 'F32') throw new Error(`fixture: ${name} missing or not F32`);
  const bytes = new Uint8Array(buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]));
  return { shape: h.shape, data: new Float32Array(bytes.buffer) };
}

/** The "Hello, world!" row (row 2) of logits_last, with its argmax and softmax of the max. */
function helloReference(): { argmax: number; max: number; prob: number } {
  const t = referenceF32('logits_last');
  const V = t.shape[1];
  const row = t.data.subarray(2 * V, 3 * V);
  let argmax = 0;
  for (let i = 1; i < V; i++) if (row[i] > row[argmax]) argmax = i;
  const max = row[argmax];
  let z = 0;
  for (const x of row) z += Math.exp(x - max);
  return { argmax, max, prob: 1 / z };
}

function noStack(r: CliRun): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr.trim().split('\n').length, `stderr: ${r.stderr}`).toBeLessThanOrEqual(2);
}

describe('circuitscope CLI', () => {
  it('--help lists the commands and the global --backend option', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/circuitscope logits/);
    expect(r.stdout).toMatch(/circuitscope models/);
    expect(r.stdout).toMatch(/--backend/);
    expect(r.stdout).toMatch(/"wasm"/);
  });

  it('fails with usage help when no command is given', async () => {
    const r = await cli([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/command/i);
    noStack(r);
  });

  it('logits --json on the HF fixture gives the exact keys and the fixture logits', async () => {
    const r = await cli(['logits', '--model', FIXTURE_MODEL, '--text', 'Hello, world!', '--json', '--backend', 'wasm']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['model', 'backend', 'tokens', 'top']);
    expect(out.model).toBe(FIXTURE_MODEL);
    expect(out.backend).toBe('wasm');
    expect(out.tokens).toEqual([50256, 15496, 11, 995, 0]);
    const top = out.top as { id: number; token: string; logit: number; prob: number }[];
    expect(top).toHaveLength(10);
    for (const t of top) expect(Object.keys(t)).toEqual(['id', 'token', 'logit', 'prob']);
    for (let i = 1; i < top.length; i++) expect(top[i].logit).toBeLessThanOrEqual(top[i - 1].logit);
    const ref = helloReference();
    expect(top[0].id).toBe(ref.argmax);
    expect(Math.abs(top[0].logit - ref.max)).toBeLessThanOrEqual(TOL.model);
    expect(Math.abs(top[0].prob - ref.prob)).toBeLessThanOrEqual(1e-6);
    expect(typeof top[0].token).toBe('string');
  });

  it('--no-prepend-bos and --top change the tokens and the list', async () => {
    const r = await cli(['logits', '--model', FIXTURE_MODEL, '--text', 'Hello, world!', '--no-prepend-bos', '--top', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { tokens: number[]; top: unknown[] };
    expect(out.tokens).toEqual([15496, 11, 995, 0]);
    expect(out.top).toHaveLength(3);
  });

  it('prints a table without --json', async () => {
    const r = await cli(['logits', '--model', FIXTURE_MODEL, '--text', 'Hello, world!', '--top', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rank\s+id\s+token\s+logit\s+prob/);
    expect(r.stdout.trim().split('\n').filter((l) => /^\s+\d+\s+\d+\s/.test(l))).toHaveLength(2);
  });

  it('logits --tokens on the min_int toy model predicts min(a, b)', async () => {
    for (const [a, b] of [[17, 42], [150, 99]]) {
      const r = await cli(['logits', '--model', MIN_INT, '--tokens', `${a},${b},200`, '--json', '--top', '3']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { tokens: number[]; top: { id: number; token: string }[] };
      expect(out.tokens).toEqual([a, b, 200]);
      expect(out.top[0].id).toBe(Math.min(a, b));
      expect(out.top[0].token).toBe(String(Math.min(a, b)));
    }
  });

  describe('errors: one clear line on stderr, exit 1', () => {
    it('an unknown model path is named', async () => {
      const r = await cli(['logits', '--model', '/nonexistent/circuitscope-model', '--text', 'hi']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('/nonexistent/circuitscope-model');
      noStack(r);
    });

    it('--text on a toy model without a tokenizer', async () => {
      const r = await cli(['logits', '--model', MIN_INT, '--text', 'hello']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/no tokenizer.*--tokens/);
      noStack(r);
    });

    it('a token id outside the vocabulary', async () => {
      const r = await cli(['logits', '--model', MIN_INT, '--tokens', '17,42,201']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/token id 201 is outside the model's vocabulary \[0, 201\)/);
      noStack(r);
    });

    it('a sequence longer than nCtx', async () => {
      const r = await cli(['logits', '--model', MIN_INT, '--tokens', '1,2,3,4']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/4 tokens, longer than the model's context nCtx=3/);
      noStack(r);
    });

    it('neither --text nor --tokens, and both', async () => {
      const none = await cli(['logits', '--model', MIN_INT]);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/--text .* or --tokens/);
      const both = await cli(['logits', '--model', MIN_INT, '--tokens', '1', '--text', 'a']);
      expect(both.code).toBe(1);
      expect(both.stderr).toMatch(/mutually exclusive/);
    });

    it('an unknown backend or option', async () => {
      const r = await cli(['logits', '--model', MIN_INT, '--tokens', '1', '--backend', 'nope']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/backend/);
      const o = await cli(['logits', '--model', MIN_INT, '--tokens', '1', '--bogus']);
      expect(o.code).toBe(1);
      expect(o.stderr).toMatch(/Unknown argument: bogus/);
    });

    it('CIRCUITSCOPE_DEBUG adds the stack trace', async () => {
      const r = await cli(['logits', '--model', MIN_INT, '--text', 'hello'], { CIRCUITSCOPE_DEBUG: '1' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/\n\s+at /);
    });
  });

  describe('with a Hugging Face cache', () => {
    let cache: string;
    beforeAll(() => {
      // A hub-cache layout whose gpt2 snapshot is the fixture's save_pretrained directory.
      cache = mkdtempSync(join(tmpdir(), 'circuitscope-hf-'));
      const repo = join(cache, 'hub', 'models--openai-community--gpt2');
      mkdirSync(join(repo, 'snapshots'), { recursive: true });
      mkdirSync(join(repo, 'refs'));
      symlinkSync(FIXTURE_MODEL, join(repo, 'snapshots', 'abc123'));
      writeFileSync(join(repo, 'refs', 'main'), 'abc123');
    });
    afterAll(() => rmSync(cache, { recursive: true, force: true }));
    const env = () => ({ HF_HOME: cache, HF_HUB_CACHE: '', HUGGINGFACE_HUB_CACHE: '', XDG_CACHE_HOME: '', HOME: cache });

    it('models lists the presets and the cached checkpoint', async () => {
      const r = await cli(['models', '--json'], env());
      expect(r.code, r.stderr).toBe(0);
      const rows = (JSON.parse(r.stdout) as { models: { name: string; kind: string; layers: number | null; path: string | null }[] }).models;
      expect(rows.find((m) => m.name === 'gpt2-small')).toMatchObject({ kind: 'preset', layers: 12 });
      expect(rows.find((m) => m.name === 'openai-community/gpt2')).toMatchObject({ kind: 'hf-cache', layers: 2 });
      const table = await cli(['models'], env());
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/openai-community\/gpt2\s+hf-cache\s+2\s+4\s+64\s+no/);
    });

    it('logits --model gpt2 resolves the cache name to the same logits', async () => {
      const r = await cli(['logits', '--model', 'gpt2', '--text', 'Hello, world!', '--json', '--top', '1'], env());
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { model: string; top: { id: number; logit: number }[] };
      const ref = helloReference();
      expect(out.model).toBe('gpt2');
      expect(out.top[0].id).toBe(ref.argmax);
      expect(Math.abs(out.top[0].logit - ref.max)).toBeLessThanOrEqual(TOL.model);
    });
  });

  it('models finds shipped models: directories with a config.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'circuitscope-models-'));
    try {
      mkdirSync(join(dir, 'toy'));
      writeFileSync(join(dir, 'toy', 'config.json'), readFileSync(`${MIN_INT}/config.json`));
      mkdirSync(join(dir, 'broken'));
      writeFileSync(join(dir, 'broken', 'config.json'), '{}');
      mkdirSync(join(dir, 'not-a-model'));
      const rows = shippedRows(dir).sort((a, b) => a.name.localeCompare(b.name));
      expect(rows.map((r) => r.name)).toEqual(['broken', 'toy']);
      expect(rows[1]).toMatchObject({ kind: 'shipped', layers: 1, heads: 1, dModel: 32, attnOnly: true, path: join(dir, 'toy') });
      expect(rows[0].note).toMatch(/unreadable config/);
      expect(shippedRows(join(dir, 'absent'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
