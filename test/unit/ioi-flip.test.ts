/**
 * IOI flipped-prompt datasets (src/tasks/ioi `parseIoiFlip`, `ioiFlipVariant`, `flipIoiText`)
 * and the `--corrupt flip:...` plumbing (src/workflows/corruption.ts), without a model:
 * - the six specs parse to the right role letters; BAB spellings mean the same flip (ARENA's
 *   pairs "ABB->CDD, BAB->DCD" etc.); bad specs are rejected with the expected forms listed;
 * - a flip variant keeps the clean prompts of its base task (same seed) and its corrupted
 *   prompt is, row by row, the template refilled by hand from the row's names by role, for
 *   ABBA and BABA rows alike; token lengths match (GPT-2 tokenizer);
 * - flipping a finished text prompt = the variant's rewrite; the identity flip and non-IOI
 *   prompts or tasks give clear errors.
 */
import { describe, expect, it } from 'vitest';
import { presetConfig } from '../../src/model/config.js';
import { Gpt2Tokenizer } from '../../src/model/tokenizer.js';
import { getTask } from '../../src/tasks/registry.js';
import { fillTemplate, flipIoiText, IOI_FLIPS, ioiFlipVariant, ioiTask, parseIoiFlip, templateText } from '../../src/tasks/ioi/index.js';
import { applyFlipPrompts, expandFlipFlags, flipPromptText, taskWithCorruption } from '../../src/tasks/ioi/corruption.js';

const ctx = { cfg: presetConfig('gpt2-small'), tokenizer: new Gpt2Tokenizer() };

describe('parseIoiFlip', () => {
  it('reads the six flips of the experiment by role (IO, S1, S2)', () => {
    const roles = Object.fromEntries(IOI_FLIPS.map((f) => { const p = parseIoiFlip(f.spec); return [f.spec, `${p.io}${p.s1}${p.s2}`]; }));
    expect(roles).toEqual({ 'ABB->ABB': 'ABB', 'ABB->CDD': 'CDD', 'ABB->BAA': 'BAA', 'ABB->BAB': 'BAB', 'ABB->DCD': 'DCD', 'ABB->ABA': 'ABA' });
    expect(IOI_FLIPS.map((f) => parseIoiFlip(f.spec).label)).toEqual(['original', 'random token', 'inverted token', 'inverted position', 'inverted position, random token', 'inverted position, inverted token']);
    expect(parseIoiFlip('original').spec).toBe('ABB->ABB');
    expect(parseIoiFlip('DCD').spec).toBe('ABB->DCD'); // shell-safe short form
  });

  it('takes the BABA spellings of ARENA\'s pairs as the same flips', () => {
    const pairs: [string, string][] = [['ABB->CDD', 'BAB->DCD'], ['ABB->BAA', 'BAB->ABA'], ['ABB->BAB', 'BAB->ABB'], ['ABB->DCD', 'BAB->CDD'], ['ABB->ABA', 'BAB->BAA']];
    for (const [abb, bab] of pairs) expect(parseIoiFlip(bab).spec).toBe(abb);
  });

  it('rejects malformed specs, listing the valid forms', () => {
    for (const bad of ['ABB->XYZ', 'ABC->ABB', 'ABB-BAB', 'ABB->AB', 'XYZ', '']) expect(() => parseIoiFlip(bad)).toThrow(/ABB->XYZ.*ABB->CDD/);
    // what is left of an unquoted flip:ABB->BAB after the shell took '>BAB' as a redirection
    expect(() => parseIoiFlip('ABB-')).toThrow(/quote the spec, 'flip:ABB->BAB', or write flip:BAB/);
  });
});

describe('ioiFlipVariant', () => {
  const n = 24, seed = 3;
  const base = ioiTask.build(ctx, { n, seed });

  for (const f of IOI_FLIPS) {
    it(`${f.spec}: same clean prompts, corrupted names rewritten by role`, () => {
      const task = ioiFlipVariant(ioiTask, f.spec);
      expect(task.name).toBe(`ioi[flip:${f.spec}]`);
      const b = task.build(ctx, { n, seed });
      expect(b.clean).toEqual(base.clean);
      expect(b.answers).toEqual(base.answers);
      expect(b.wrong).toEqual(base.wrong);
      const m = b.meta as { template: string[]; io: string[]; s: string[]; place: string[]; object: string[]; abc: string[][]; corruptText: string[]; corruption: string };
      expect(m.corruption).toBe(`flip:${f.spec}`);
      const letters = f.spec.slice(5);
      let babaRows = 0;
      for (let i = 0; i < n; i++) {
        // C and D are the names the ABC corruption draws for IO and S2 (abc = [X, Z, Y]).
        const names: Record<string, string> = { A: m.io[i], B: m.s[i], C: m.abc[i][0], D: m.abc[i][2] };
        if (m.template[i].startsWith('B')) babaRows++;
        const want = fillTemplate(templateText(m.template[i]), { io: names[letters[0]], s1: names[letters[1]], s2: names[letters[2]], place: m.place[i], object: m.object[i] });
        expect(m.corruptText[i]).toBe(want);
        expect(b.corrupt[i].length).toBe(b.clean[i].length);
      }
      expect(babaRows).toBeGreaterThan(0);
      if (f.spec === 'ABB->ABB') expect(b.corrupt).toEqual(b.clean);
    });
  }

  it('ABB->BAB on a BABA prompt gives the ABBA order (position inverted, token kept)', () => {
    const f = parseIoiFlip('ABB->BAB');
    // BABA: "Then, [B] and [A] went ... [B] gave ... to"; IO = Mary, S = John
    const clean = fillTemplate(templateText('B0'), { io: 'Mary', s1: 'John', s2: 'John', place: 'store', object: 'ring' });
    expect(clean).toBe('Then, John and Mary went to the store. John gave a ring to');
    expect(flipIoiText(clean, f, ['Paul', 'Lisa'])).toBe('Then, Mary and John went to the store. John gave a ring to');
    expect(flipIoiText(clean, parseIoiFlip('ABB->CDD'), ['Paul', 'Lisa'])).toBe('Then, Lisa and Paul went to the store. Lisa gave a ring to');
  });

  it('works for ioi-acdc and refuses tasks that are not IOI', () => {
    const acdc = ioiFlipVariant(getTask('ioi-acdc'), 'ABB->DCD').build(ctx, { n: 4, seed: 0 });
    for (const row of acdc.corrupt) expect(row.length).toBe(15);
    expect(() => ioiFlipVariant(getTask('induction'), 'ABB->BAB')).toThrow(/not an IOI task/);
    expect(() => taskWithCorruption(getTask('greater-than'), 'flip:ABB->BAB')).toThrow(/^discover: --corrupt flip:ABB->BAB: .*not an IOI task/);
    expect(() => taskWithCorruption(ioiTask, 'flip:ABB->QQQ')).toThrow(/^discover: --corrupt 'flip:ABB->QQQ'/);
    expect(taskWithCorruption(ioiTask, 'abc')).toBe(ioiTask);
    expect(taskWithCorruption(ioiTask, undefined)).toBe(ioiTask);
    expect(taskWithCorruption(ioiTask, 'flip:BAB->ABB').name).toBe('ioi[flip:ABB->BAB]');
  });
});

describe('--corrupt flip for patch prompts', () => {
  const text = 'When Mary and John went to the store, John gave a drink to';

  it('rewrites a text prompt; fresh names avoid IO and S and keep the token length', () => {
    const tok = new Gpt2Tokenizer();
    const out = flipPromptText(text, 'flip:ABB->BAB', 0);
    expect(out).toBe('When John and Mary went to the store, John gave a drink to');
    const cdd = flipPromptText(text, 'flip:ABB->CDD', 0);
    const m = /^When (\w+) and (\w+) went to the store, (\w+) gave a drink to$/.exec(cdd)!;
    expect(m[2]).toBe(m[3]);
    expect(new Set([m[1], m[2], 'Mary', 'John']).size).toBe(4);
    expect(tok.toTokens(cdd).length).toBe(tok.toTokens(text).length);
  });

  it('applies one --corrupt flip to every --clean prompt, or one per prompt', () => {
    const t2 = 'When Lisa and Paul went to the park, Lisa gave a book to';
    const one = expandFlipFlags({ clean: [text, t2], corrupt: ['flip:ABB->ABA'] });
    expect(one.corrupt).toEqual(['When Mary and John went to the store, Mary gave a drink to', 'When Lisa and Paul went to the park, Paul gave a book to']);
    const mixed = expandFlipFlags({ clean: [text, t2], corrupt: ['flip:ABB->BAB', 'When Lisa and Paul went to the park, Mark gave a book to'] });
    expect(mixed.corrupt![1]).toBe('When Lisa and Paul went to the park, Mark gave a book to');
    const plain = { clean: [text], corrupt: ['x'] };
    expect(expandFlipFlags(plain)).toBe(plain);
    const file = applyFlipPrompts([{ clean: text, corrupt: 'flip:ABB->BAA', answer: ' Mary', wrong: ' John' }]);
    expect(file[0].corrupt).toBe('When John and Mary went to the store, Mary gave a drink to');
  });

  it('explains the identity flip, token-id prompts and prompts that are not IOI', () => {
    expect(() => expandFlipFlags({ clean: [text], corrupt: ['flip:ABB->ABB'] })).toThrow(/^patch: --corrupt flip:ABB->ABB is the clean prompt itself/);
    expect(() => applyFlipPrompts([{ clean: [1, 2, 3], corrupt: 'flip:ABB->BAB' }])).toThrow(/^patch: prompt 0: .*text clean prompt/);
    expect(() => expandFlipFlags({ clean: ['Mary gave a drink to'], corrupt: ['flip:ABB->BAB'] })).toThrow(/^patch: --corrupt flip:ABB->BAB \(prompt 0\): cannot flip .*names are \[Mary\]/);
  });
});
