/** The one number formatter (src/util/format.ts). */
import { describe, expect, it } from 'vitest';
import { fmtNum, fmtRatio, fmtThreshold, NA, ratioDefined } from '../../src/util/format.js';

describe('fmtNum', () => {
  it('significant digits, trailing zeros dropped', () => {
    expect(fmtNum(0.123456)).toBe('0.1235');
    expect(fmtNum(1.23456)).toBe('1.235');
    expect(fmtNum(-12.3456)).toBe('-12.35');
    expect(fmtNum(0.5)).toBe('0.5');
    expect(fmtNum(2.5000001)).toBe('2.5');
    expect(fmtNum(0.99999)).toBe('1');
    expect(fmtNum(3.14159, 2)).toBe('3.1');
    expect(fmtNum(0.001)).toBe('0.001');
    expect(fmtNum(0.0012346)).toBe('0.001235');
  });

  it('integers as integers, exactly', () => {
    expect(fmtNum(40)).toBe('40');
    expect(fmtNum(-7)).toBe('-7');
    expect(fmtNum(32491)).toBe('32491');
    expect(fmtNum(40344698)).toBe('40344698');
    expect(fmtNum(12345.678)).toBe('12346'); // more integer digits than sig: rounded, not 1.235e+4
  });

  it('exponent form for small and large magnitudes, no "+"', () => {
    expect(fmtNum(1.23e-5)).toBe('1.23e-5');
    expect(fmtNum(-0.000012346)).toBe('-1.235e-5');
    expect(fmtNum(1e-7)).toBe('1e-7');
    expect(fmtNum(40344698.935)).toBe('4.034e7');
    expect(fmtNum(1.5e21)).toBe('1.5e21');
  });

  it('never "-0"; "n/a" for missing; infinities', () => {
    expect(fmtNum(-0)).toBe('0');
    expect(fmtNum(0)).toBe('0');
    expect(fmtNum(-3e-12, 4, 1e-9)).toBe('0'); // a KL made negative by float noise
    expect(fmtNum(2e-9, 4, 1e-9)).toBe('2e-9');
    expect(fmtNum(-3e-12)).toBe('-3e-12'); // without a zero band it is a real (tiny) number
    expect(fmtNum(null)).toBe(NA);
    expect(fmtNum(undefined)).toBe('n/a');
    expect(fmtNum(Number.NaN)).toBe('n/a');
    expect(fmtNum(Infinity)).toBe('inf');
    expect(fmtNum(-Infinity)).toBe('-inf');
    for (const x of [-1e-20, -4e-5, -0.00004, -1e-300]) expect(fmtNum(x)).not.toMatch(/^-0(\.0*)?$/);
    expect(() => fmtNum(1, 0)).toThrow(/fmtNum: sig/);
  });
});

describe('fmtThreshold', () => {
  it('3 significant digits, exponent form below 1e-2', () => {
    expect(fmtThreshold(0.0031622776)).toBe('3.16e-3');
    expect(fmtThreshold(1e-5)).toBe('1e-5');
    expect(fmtThreshold(0.01)).toBe('0.01');
    expect(fmtThreshold(0.05)).toBe('0.05');
    expect(fmtThreshold(0.123456)).toBe('0.123');
    expect(fmtThreshold(1)).toBe('1');
    expect(fmtThreshold(0)).toBe('0');
    expect(fmtThreshold(null)).toBe('n/a');
  });
});

describe('fmtRatio', () => {
  it('the ratio, or n/a when the base is negligible next to its scale', () => {
    expect(fmtRatio(0.4, 2, 2)).toBe('0.2');
    expect(fmtRatio(-1, 3, 3)).toBe('-0.3333');
    expect(fmtRatio(0.8, 1.98e-8, 2)).toBe('n/a (base ≈ 0)'); // minimality's drop / |F(C)| with F(C) ≈ 0
    expect(fmtRatio(0.8, 0, 0)).toBe('n/a (base ≈ 0)');
    expect(fmtRatio(0.8, 0.003, 2)).toBe('266.7'); // 0.15% of the scale: still a ratio
    expect(fmtRatio(null, 1, 1)).toBe('n/a');
    expect(fmtRatio(1, undefined, 1)).toBe('n/a');
    expect(ratioDefined(1.98e-8, 2)).toBe(false);
    expect(ratioDefined(0.5, 2)).toBe(true);
  });
});
