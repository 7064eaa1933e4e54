/** A one-line progress bar on stderr (edges tested, kept, ETA); silent when quiet or not a TTY. */
import type { Progress } from '../discovery/types.js';

export function progressBar(label: string, quiet: boolean): { update: (p: Progress) => void; done: () => void } {
  const tty = process.stderr.isTTY && !quiet;
  const t0 = Date.now();
  let last = 0;
  return {
    update: (p) => {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100 && p.done < p.total) return;
      last = now;
      const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
      const w = 28, fill = Math.round(frac * w);
      const el = (now - t0) / 1000;
      const eta = frac > 0 ? el * (1 - frac) / frac : NaN;
      const etaS = Number.isFinite(eta) ? `${Math.round(eta)}s` : '?';
      process.stderr.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${p.done}/${p.total} tested, ${p.kept} kept, ${el.toFixed(0)}s elapsed, ETA ${etaS}   `);
    },
    done: () => { if (tty) process.stderr.write('\n'); },
  };
}
