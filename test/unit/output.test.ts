/**
 * src/cli/output.ts: outputs are refused before compute when they cannot be written, are an
 * input, or collide; files are written all or nothing, so a failure midway leaves every
 * earlier output as it was and no temporary file behind. And the automatic row chunking that
 * keeps a large -n from exhausting memory (rowsThatFit).
 */
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputs, writeOutputs } from '../../src/cli/output.js';
import { rowsThatFit, circuitsThatFit, backwardRowBytes, CHUNK_BUDGET_BYTES } from '../../src/patching/budget.js';

const dir = mkdtempSync(join(tmpdir(), 'outputs-'));

describe('checkOutputs', () => {
  it('accepts new files in new folders and existing writable files', () => {
    writeFileSync(join(dir, 'old.json'), '{}');
    expect(() => checkOutputs('t', [{ flag: '--out', path: join(dir, 'a', 'b', 'new.json') }, { flag: '--html', path: join(dir, 'old.json') }], [])).not.toThrow();
  });
  it('refuses an output that is an input, also through a symlink or another spelling of the path', () => {
    const input = join(dir, 'in.json');
    writeFileSync(input, 'x');
    symlinkSync(input, join(dir, 'link.json'));
    expect(() => checkOutputs('discover', [{ flag: '--out', path: input }], [{ flag: '--data', path: input }]))
      .toThrow(`discover: --out ${input} is also the input --data ${input}; choose another output so the input is not overwritten`);
    expect(() => checkOutputs('discover', [{ flag: '--out', path: join(dir, 'link.json') }], [{ flag: '--data', path: input }])).toThrow(/is also the input --data/);
    expect(() => checkOutputs('discover', [{ flag: '--out', path: `${dir}/./sub/../in.json` }], [{ flag: '--data', path: input }])).toThrow(/is also the input --data/);
  });
  it('refuses two outputs on one file, a folder as output, and a path under a file', () => {
    const p = join(dir, 'same.json');
    expect(() => checkOutputs('t', [{ flag: '--out', path: p }, { flag: '--mib', path: p }], [])).toThrow(`t: --mib ${p} and --out ${p} are the same file`);
    mkdirSync(join(dir, 'folder'));
    expect(() => checkOutputs('t', [{ flag: '--out', path: join(dir, 'folder') }], [])).toThrow(`t: cannot write --out ${join(dir, 'folder')}: is a folder`);
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => checkOutputs('t', [{ flag: '--html', path: join(dir, 'file', 'x.html') }], [])).toThrow(`t: cannot write --html ${join(dir, 'file', 'x.html')}: ${join(dir, 'file')} is a file, not a folder`);
  });
});

describe('writeOutputs: all or nothing', () => {
  it('writes every file and returns the paths', () => {
    const a = join(dir, 'w', 'a.json'), b = join(dir, 'w', 'b.dot');
    expect(writeOutputs([{ path: a, text: 'A' }, { path: b, text: 'B' }])).toEqual([a, b]);
    expect(readFileSync(a, 'utf8')).toBe('A');
    expect(readFileSync(b, 'utf8')).toBe('B');
  });
  it('a failure on the second file leaves the first output as it was, and no temporary file', () => {
    const d = join(dir, 'fail');
    mkdirSync(d);
    const a = join(d, 'c.json');
    writeFileSync(a, 'the user had this');
    writeFileSync(join(d, 'blocker'), 'a file where a folder should be');
    expect(() => writeOutputs([{ path: a, text: 'new circuit' }, { path: join(d, 'blocker', 'c.dot'), text: 'dot' }]))
      .toThrow(new RegExp(`^cannot write ${join(d, 'blocker', 'c.dot')}: a file is where its folder should be \\((ENOTDIR|EEXIST)\\); no output was changed$`));
    expect(readFileSync(a, 'utf8')).toBe('the user had this');
    expect(readdirSync(d).sort()).toEqual(['blocker', 'c.json']);
  });
});

describe('rowsThatFit: automatic --batch-size', () => {
  const gpt2 = { nLayers: 12, nHeads: 12, dModel: 768, dVocab: 50257 };
  it('chunks GPT-2 small IOI batches to the budget, and never a toy model batch', () => {
    const perRow = 4 * 16 * (12 * 37 * 768 + 3 * 50257);
    expect(rowsThatFit(gpt2, 16, 100)).toBe(Math.floor(CHUNK_BUDGET_BYTES / perRow));
    expect(rowsThatFit(gpt2, 16, 100)! * perRow).toBeLessThanOrEqual(CHUNK_BUDGET_BYTES);
    expect(rowsThatFit(gpt2, 16, 10)).toBeUndefined(); // ten rows fit: one engine
    expect(rowsThatFit({ nLayers: 2, nHeads: 4, dModel: 64, dVocab: 100 }, 20, 1_000_000)).toBe(Math.floor(CHUNK_BUDGET_BYTES / (4 * 20 * (2 * 13 * 64 + 300))));
    expect(rowsThatFit({ nLayers: 2, nHeads: 4, dModel: 64, dVocab: 100 }, 20, 100)).toBeUndefined();
    expect(rowsThatFit(gpt2, 1024, 4)).toBe(1); // at least one row
  });
  it('budgets the backward the engine runs: fewer rows for attribution, fewer still for the mask gradient', () => {
    // 18-token IOI prompts on GPT-2 small (measured on wasm: 130-185 MB a row for attribution,
    // 376-440 MB for the mask gradient; test/integration/backprop.test.ts checks the budget on
    // small models)
    expect([rowsThatFit(gpt2, 18, 100), rowsThatFit(gpt2, 18, 100, 'attribution'), rowsThatFit(gpt2, 18, 100, 'mask')]).toEqual([45, 6, 3]);
    expect(backwardRowBytes(gpt2, 18, 'mask')).toBeGreaterThan(440 * 2 ** 20);
    expect(backwardRowBytes(gpt2, 18, 'attribution')).toBeGreaterThan(185 * 2 ** 20);
    expect(backwardRowBytes(gpt2, 18, 'none')).toBe(4 * 18 * (12 * 37 * 768 + 3 * 50257));
    expect(rowsThatFit({ nLayers: 2, nHeads: 4, dModel: 64, dVocab: 100 }, 20, 100, 'mask')).toBeUndefined(); // a toy batch: one engine
  });
});

describe('circuitsThatFit: ACDC speculation within the budget', () => {
  const gpt2 = { nLayers: 12, nHeads: 12, dModel: 768, dVocab: 50257 };
  it('holds GPT-2 small at 5 rows to a few circuits per run, and leaves toy models at the 64 cap', () => {
    // 64 circuits x 50 rows of GPT-2 logits alone were 643 MB in one concat: the OOM it prevents
    const perRow = 4 * 18 * (12 * 37 * 768 + 3 * 50257);
    expect(circuitsThatFit(gpt2, 18, 5)).toBe(Math.floor(CHUNK_BUDGET_BYTES / (perRow * 5)));
    expect(circuitsThatFit(gpt2, 18, 5)).toBe(9);
    expect(circuitsThatFit(gpt2, 18, 50)).toBe(1); // at least one
    expect(circuitsThatFit({ nLayers: 2, nHeads: 1, dModel: 32, dVocab: 20 }, 12, 100)).toBeGreaterThan(64);
  });
});
