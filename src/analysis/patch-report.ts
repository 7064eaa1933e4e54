/**
 * Heatmaps of activation / path patching sweeps (src/patching/activation.ts) for `circuitscope
 * patch`'s SVG files and HTML page. Every sweep's `values` are the same quantity, the normalised
 * logit difference (1 = clean, 0 = corrupted), so the heatmaps of one run share one diverging
 * scale, symmetric around the unpatched score (0 when denoising, 1 when noising): a cell of one
 * colour means the same restoration in every panel.
 */
import type { PatchMode, Sweep } from '../patching/activation.js';
import { heatmapSvg, symmetricRange } from '../report/heatmap.js';
import { fmtNum } from '../util/format.js';

/** The unpatched score: the white point of the sweeps' scale. */
export const unpatchedScore = (mode: PatchMode): number => (mode === 'denoise' ? 0 : 1);

/** The half-width of the one scale of these sweeps: the largest |value - unpatched| over all of them. */
export function sharedSweepRange(sweeps: readonly Pick<Sweep, 'values'>[], mode: PatchMode): number {
  return symmetricRange(sweeps.map((s) => s.values), unpatchedScore(mode));
}

/** One sweep's heatmap; `range` is the scale's half-width (default: this sweep's own, for a lone SVG). */
export function sweepSvg(s: Sweep, mode: PatchMode, range?: number): string {
  const center = unpatchedScore(mode);
  return heatmapSvg({
    values: s.values, rowLabels: s.rowLabels, colLabels: s.colLabels,
    title: `${s.name}: ${s.title}`,
    subtitle: `${mode}; normalised logit difference, 1 = clean, 0 = corrupted; white = ${center} (unpatched)`,
    center,
    range,
    valueLabel: 'normalised logit diff',
    tooltip: (i, j, v) => `${s.rowLabels[i]}, ${s.colLabels[j]}: ${v === null ? 'n/a' : `${fmtNum(v)} (logit diff ${fmtNum(s.raw[i][j])})`}`,
  });
}

/** Every sweep's heatmap on one shared symmetric scale (`sharedSweepRange`), in order. */
export function sweepSvgs(sweeps: readonly Sweep[], mode: PatchMode): { name: string; svg: string }[] {
  const range = sharedSweepRange(sweeps, mode);
  return sweeps.map((s) => ({ name: s.name, svg: sweepSvg(s, mode, range) }));
}
