/**
 * Progress of a command's stages on stderr (model load, engine setup, method, evaluation, ...):
 * on a TTY one live line per stage (a bar with done/total and ETA when the stage knows its
 * total, else the elapsed time); with CIRCUITSCOPE_PROGRESS=1 and no TTY, plain lines (logs,
 * tests); silent with --quiet. `summary()` gives the wall time per stage and in total.
 */
import type { Progress } from '../discovery/types.js';

const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

export class Stages {
  private readonly tty: boolean;
  private readonly plain: boolean;
  private readonly t0 = Date.now();
  private cur: { name: string; t0: number; done?: number; total?: number; detail?: string } | null = null;
  private readonly times: [string, number][] = [];
  private lastDraw = 0;
  private ticker: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly label: string, quiet: boolean) {
    this.tty = !quiet && !!process.stderr.isTTY;
    this.plain = !quiet && !this.tty && process.env.CIRCUITSCOPE_PROGRESS === '1';
  }

  /** Start stage `name` (ending the one before). */
  start(name: string): void {
    this.end();
    this.cur = { name, t0: Date.now() };
    if (this.plain) process.stderr.write(`${this.label}: ${name}...\n`);
    if (this.tty) {
      this.draw(true);
      this.ticker = setInterval(() => this.draw(true), 1000);
      this.ticker.unref();
    }
  }

  /** The current stage's progress: `done` of `total`, with a detail ("12 kept"). */
  progress(done: number, total: number, detail?: string): void {
    if (!this.cur) return;
    Object.assign(this.cur, { done, total, detail });
    this.draw(done >= total);
  }

  /** An adapter for discovery's progress callback. */
  readonly onProgress = (p: Progress): void => this.progress(p.done, p.total, `${p.kept} kept${p.note ? `, ${p.note}` : ''}`);

  /** End the current stage (its time joins the summary). */
  end(): void {
    if (!this.cur) return;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    const ms = Date.now() - this.cur.t0;
    this.times.push([this.cur.name, ms]);
    if (this.tty) process.stderr.write(`\r\x1b[K${this.label}: ${this.cur.name} ${secs(ms)}\n`);
    if (this.plain) process.stderr.write(`${this.label}: ${this.cur.name} done in ${secs(ms)}\n`);
    this.cur = null;
  }

  /** Run `fn` as stage `name`. */
  async run<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    this.start(name);
    try { return await fn(); } finally { this.end(); }
  }

  /** Seconds per finished stage, and the total since the command started. */
  seconds(): { stages: Record<string, number>; total: number } {
    const stages: Record<string, number> = {};
    for (const [n, ms] of this.times) stages[n] = (stages[n] ?? 0) + ms / 1000;
    return { stages, total: (Date.now() - this.t0) / 1000 };
  }

  /** "time: load model 1.2 s, setup 0.4 s, ...; total 13.7 s" */
  summary(): string {
    const { stages, total } = this.seconds();
    return `time: ${Object.entries(stages).map(([n, s]) => `${n} ${secs(s * 1000)}`).join(', ')}; total ${secs(total * 1000)}`;
  }

  private draw(force: boolean): void {
    const c = this.cur;
    if (!c) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 200) return;
    if (this.plain && now - this.lastDraw < 2000 && !(c.done !== undefined && c.done >= (c.total ?? Infinity))) return;
    this.lastDraw = now;
    const el = now - c.t0;
    let line = `${this.label}: ${c.name}`;
    if (c.total !== undefined && c.done !== undefined && c.total > 0) {
      const frac = Math.min(1, c.done / c.total);
      const w = 24, fill = Math.round(frac * w);
      const eta = frac > 0 && frac < 1 ? ` ETA ${secs((el * (1 - frac)) / frac)}` : '';
      line += ` [${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${c.done}/${c.total}${c.detail ? ` (${c.detail})` : ''}, ${secs(el)}${eta}`;
    } else line += ` ${secs(el)}`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (this.plain && c.done !== undefined) process.stderr.write(`${line}\n`);
  }
}
