/**
 * The one check of numeric options (src/util/check.ts), shared by the CLI and the page: a list
 * option (`--density 0.05,0.5`) takes comma-separated numbers, each checked as one number is,
 * with the same one line.
 */
import { describe, expect, it } from 'vitest';
import { checkNumber, checkNumbers, optionRule } from '../../src/util/check.js';

const rule = optionRule({ int: false, above: 0, max: 1 });

describe('checkNumbers', () => {
  it('reads a list, a single value and a number', () => {
    expect(checkNumbers('density', '0.05,0.5', rule)).toEqual([0.05, 0.5]);
    expect(checkNumbers('density', ' 0.1 , 1 ', rule)).toEqual([0.1, 1]);
    expect(checkNumbers('density', '0.3', rule)).toEqual([0.3]);
    expect(checkNumbers('density', 0.3, rule)).toEqual([0.3]);
  });
  it("refuses a bad entry with checkNumber's line", () => {
    expect(() => checkNumber('density', 1.5, rule)).toThrow('--density must be a finite number > 0 and <= 1, got 1.5');
    expect(() => checkNumbers('density', '0.05,1.5', rule)).toThrow(/^--density must be a finite number > 0 and <= 1, got 1.5$/);
    expect(() => checkNumbers('density', '0.05,abc', rule)).toThrow("--density must be a finite number > 0 and <= 1, got 'abc'");
    expect(() => checkNumbers('density', '0,0.5', rule)).toThrow('got 0');
    expect(() => checkNumbers('density', '', rule)).toThrow("got ''");
  });
});
