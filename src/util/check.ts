/**
 * The one check of a numeric option, shared by the CLI (src/cli/options.ts `numberOption`) and
 * the browser app's form (web/main.ts), so both refuse a value with the same one line:
 * `--flag must be an integer >= 1, got 'abc'`. Pure: what the user typed comes in as `typed`
 * (the CLI reads it from argv, the page from the input).
 */

export interface NumberRule { int?: boolean; min?: number; max?: number; /** strictly greater than */ above?: number }

/** Throws `--flag must be ..., got X` unless `v` is a number (or numeric text) within `rule`; returns it as a number. */
export function checkNumber(flag: string, v: unknown, rule: NumberRule, typed?: string): number {
  const what = rule.int ? 'an integer' : 'a finite number';
  const range = [rule.above !== undefined ? `> ${rule.above}` : '', rule.min !== undefined ? `>= ${rule.min}` : '', rule.max !== undefined ? `<= ${rule.max}` : ''].filter(Boolean).join(' and ');
  const x = typeof v === 'number' ? v : Number(v);
  const ok = typeof v !== 'boolean' && Number.isFinite(x) && (!rule.int || Number.isInteger(x))
    && (rule.min === undefined || x >= rule.min) && (rule.max === undefined || x <= rule.max) && (rule.above === undefined || x > rule.above);
  if (!ok) {
    const shown = Array.isArray(v) ? `${v.length} values (give it once)` : Number.isNaN(x) ? `'${typed ?? v}'` : String(v);
    throw new Error(`${flag.length === 1 ? '-' : '--'}${flag} must be ${what}${range ? ` ${range}` : ''}, got ${shown}`);
  }
  return x;
}

/**
 * The rule of a discovery method's numeric option (the registry's `MethodOption`): an integer
 * from `min` (default 1) up unless it says `int: false`, then a real number within its bounds.
 */
export function optionRule(o: { int?: boolean; min?: number; max?: number; above?: number }): NumberRule {
  return o.int === false ? { min: o.min, max: o.max, above: o.above } : { int: true, min: o.min ?? 1, max: o.max };
}

/**
 * A list option (`--density 0.05,0.5`): comma-separated numbers, each checked by `rule` with the
 * same one line as checkNumber; a number alone is a list of one.
 */
export function checkNumbers(flag: string, v: unknown, rule: NumberRule, typed?: string): number[] {
  if (typeof v === 'number') return [checkNumber(flag, v, rule, typed)];
  if (Array.isArray(v) && v.length === 1) return checkNumbers(flag, v[0], rule, typed);
  if (typeof v !== 'string') return [checkNumber(flag, v, rule, typed)];
  return v.split(',').map((x) => checkNumber(flag, x.trim() === '' ? NaN : Number(x), rule, x.trim()));
}
