/**
 * The one way numbers are printed for people: terminal summaries, HTML tables, tooltips, colour
 * bars, chart labels. JSON output keeps the full numbers; only text goes through here.
 *
 * - `fmtNum(x, sig = 4)`: `sig` significant digits, trailing zeros dropped ("0.5", not "0.5000";
 *   "40", not "40.00"); integers exactly (counts stay counts); magnitudes below 1e-3 or from 1e6
 *   up in exponent form ("1.23e-5", "4.034e7"); never "-0": negative zero, and values within
 *   `zero` of 0 (default: exactly 0 only), print as "0"; null / undefined / NaN print "n/a",
 *   infinities "inf" / "-inf".
 * - `fmtThreshold(t)`: thresholds (and other knob values) in one form everywhere: 3 significant
 *   digits, exponent form below 1e-2 ("3.16e-3", "1e-5", "0.05").
 * - `fmtRatio(num, den, scale)`: num / den, or "n/a (base ≈ 0)" when the denominator is zero or
 *   negligible next to `scale` (|den| <= 1e-3 |scale|), where the ratio says more about float
 *   noise in den than about num (minimality's drop / |F(C)| for a circuit with F(C) ≈ 0 printed
 *   "relative 40344698.935").
 */

export const NA = 'n/a';

/**
 * A KL divergence at or below this prints as 0 (`fmtNum(kl, 4, KL_ZERO)`): KL is never negative,
 * and float32 runs resolve it to about 1e-6 (the patching tests' tolerance), so "-3e-9" is noise.
 */
export const KL_ZERO = 1e-6;

/** Below this fraction of its scale a denominator counts as 0 (see fmtRatio). */
export const RATIO_EPS = 1e-3;

/** Drop trailing zeros of a decimal mantissa: "1.2300" -> "1.23", "5.000" -> "5", "1.50e-5" -> "1.5e-5"; no "+" in exponents. */
function trimZeros(s: string): string {
  const [m, e] = s.split('e');
  const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
  return e === undefined ? mant : `${mant}e${e.replace(/^\+/, '')}`;
}

function format(x: number | null | undefined, sig: number, small: number, zero: number): string {
  if (x === null || x === undefined || Number.isNaN(x)) return NA;
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0 || Math.abs(x) <= zero) return '0';
  const a = Math.abs(x);
  if (Number.isInteger(x) && a < 1e15) return String(x);
  if (a < small || a >= 1e6) return trimZeros(x.toExponential(sig - 1));
  const r = Number(x.toPrecision(sig));
  if (r === 0) return '0';
  // 12345.67 at 4 digits: toPrecision would switch to "1.235e+4"; print the integer instead
  if (Math.abs(r) >= 10 ** sig) return String(Math.round(x));
  return trimZeros(r.toPrecision(sig));
}

/**
 * A number for people: `sig` significant digits (default 4), integers as integers, exponent form
 * below 1e-3 and from 1e6, "n/a" for null / undefined / NaN, never "-0". Values with
 * |x| <= `zero` print as "0" (e.g. `fmtNum(kl, 4, 1e-9)` for a KL that float noise makes
 * -3e-12).
 */
export function fmtNum(x: number | null | undefined, sig = 4, zero = 0): string {
  if (!(Number.isInteger(sig) && sig >= 1 && sig <= 21)) throw new Error(`fmtNum: sig must be an integer in [1, 21], got ${sig}`);
  return format(x, sig, 1e-3, zero);
}

/** A threshold (or any knob value) in the one form used everywhere: 3 significant digits, exponent form below 1e-2. */
export function fmtThreshold(t: number | null | undefined): string {
  return format(t, 3, 1e-2, 0);
}

/**
 * num / den as `fmtNum` prints it, or "n/a (base ≈ 0)" when den is 0 or |den| <= 1e-3 |scale|
 * (scale: the magnitude den is judged against, e.g. |F(M)| for a share of F(C)); "n/a" when
 * num or den is missing.
 */
export function fmtRatio(num: number | null | undefined, den: number | null | undefined, scale: number, sig = 4): string {
  if (num === null || num === undefined || den === null || den === undefined || Number.isNaN(num) || Number.isNaN(den)) return NA;
  if (den === 0 || Math.abs(den) <= RATIO_EPS * Math.abs(scale)) return `${NA} (base ≈ 0)`;
  return fmtNum(num / den, sig);
}

/** Whether fmtRatio would print num / den (den not negligible next to scale). */
export function ratioDefined(den: number | null | undefined, scale: number): boolean {
  return den !== null && den !== undefined && !Number.isNaN(den) && den !== 0 && Math.abs(den) > RATIO_EPS * Math.abs(scale);
}
