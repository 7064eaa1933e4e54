/** The SVG heatmap and the HTML page (src/report/heatmap.ts): no model needed. */
import { describe, expect, it } from 'vitest';
import { divergingColor, escapeXml, heatmapDomain, heatmapSvg, htmlPage, sequentialColor, symmetricRange } from '../../src/report/heatmap.js';
import { attentionSvg } from '../../src/analysis/attention.js';
import { headScoreSvg } from '../../src/analysis/detectors.js';
import { sweepSvg, sweepSvgs } from '../../src/analysis/patch-report.js';
import { dlaHtml, type DlaReport } from '../../src/analysis/dla-report.js';
import type { Sweep } from '../../src/patching/activation.js';

const base = {
  values: [[-2, 0, 1], [0.5, null, 2]],
  rowLabels: ['L0', 'L1'],
  colLabels: ['<|endoftext|>', ' Mary', 'a&b'],
  title: 'resid "pre"',
};

/** The scale a heatmap SVG declares on its root: kind and [lo, hi]. */
const domainOf = (svg: string) => {
  const m = /^<svg [^>]*data-scale="(\w+)" data-domain="(\S+) (\S+)"/.exec(svg)!;
  return { scale: m[1], lo: Number(m[2]), hi: Number(m[3]) };
};
/** Every heatmap's declared scale in an HTML page, in order. */
const domainsOf = (html: string) => [...html.matchAll(/<svg [^>]*data-scale="(\w+)" data-domain="(\S+) (\S+)"/g)].map((m) => ({ scale: m[1], lo: Number(m[2]), hi: Number(m[3]) }));
const barLabels = (svg: string) => [...svg.matchAll(/<text x="[\d.]+" y="[\d.]+" dominant-baseline="middle">([^<]*)<\/text>/g)].map((m) => m[1]);

const cells = (svg: string) => [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="\d+" height="\d+" fill="(#[0-9a-f]{6})"><title>([^<]*)<\/title><\/rect>/g)].map((m) => ({ fill: m[1], tip: m[2] }));

describe('heatmap', () => {
  it('diverging colours: blue below the centre, white-ish at it, red above, clamped', () => {
    expect(divergingColor(-1)).toBe('#2166ac');
    expect(divergingColor(0)).toBe('#f7f7f7');
    expect(divergingColor(1)).toBe('#b2182b');
    expect(divergingColor(5)).toBe('#b2182b');
    expect(divergingColor(Number.NaN)).toBe('#f7f7f7');
  });

  it('one cell per value with its tooltip, symmetric scale around 0, grey for null', () => {
    const svg = heatmapSvg(base);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const c = cells(svg);
    expect(c).toHaveLength(6);
    expect(c[0]).toEqual({ fill: '#2166ac', tip: 'L0, &lt;|endoftext|&gt;: -2' }); // -2 = -range
    expect(c[1].fill).toBe('#f7f7f7');
    expect(c[5]).toEqual({ fill: '#b2182b', tip: 'L1, a&amp;b: 2' });
    expect(c[4]).toEqual({ fill: '#d9d9d9', tip: 'L1,  Mary: n/a' });
    // colour bar labels: +range, centre, -range
    expect(svg).toMatch(/>2<\/text>[\s\S]*>0<\/text>[\s\S]*>-2<\/text>/);
    expect(svg).toContain('resid &quot;pre&quot;');
    expect(svg).not.toContain('<|');
  });

  it('a custom centre, range and tooltip', () => {
    const svg = heatmapSvg({ ...base, center: 1, range: 1, tooltip: (i, j, v) => `cell ${i}/${j}=${v}` });
    const c = cells(svg);
    expect(c[2]).toEqual({ fill: '#f7f7f7', tip: 'cell 0/2=1' });
    expect(c[0].fill).toBe('#2166ac'); // -2 is clamped
  });

  it('sequential scale over [0, 1]: white at 0, dark red at 1, a 0..1 colour bar', () => {
    expect(sequentialColor(0)).toBe('#ffffff');
    expect(sequentialColor(1)).toBe('#67000d');
    expect(sequentialColor(-1)).toBe('#ffffff');
    expect(sequentialColor(0.5)).toBe('#fb6a4a');
    const svg = heatmapSvg({ values: [[0, 0.5], [1, null]], rowLabels: ['a', 'b'], colLabels: ['x', 'y'], title: 't', scale: 'sequential', domain: [0, 1] });
    expect(domainOf(svg)).toEqual({ scale: 'sequential', lo: 0, hi: 1 });
    expect(cells(svg).map((c) => c.fill)).toEqual(['#ffffff', '#fb6a4a', '#67000d', '#d9d9d9']);
    expect(barLabels(svg)).toEqual(['1', '0.5', '0']); // not -1 .. 1
    // without a domain: [min(0, smallest), largest]
    expect(heatmapDomain({ values: [[0.2, 0.4]], scale: 'sequential' })).toEqual({ scale: 'sequential', lo: 0, hi: 0.4, center: 0 });
    expect(heatmapDomain({ values: [[-2, 1]] })).toEqual({ scale: 'diverging', lo: -2, hi: 2, center: 0 });
  });

  it('attention patterns and head scores use the sequential [0, 1] scale', () => {
    const att = attentionSvg({ layer: 0, head: 1, name: 'a0.h1', pattern: [[1, 0], [0.25, 0.75]] }, ['0:5', '1:7']);
    expect(domainOf(att)).toEqual({ scale: 'sequential', lo: 0, hi: 1 });
    expect(cells(att).map((c) => c.fill)).toEqual(['#67000d', '#d9d9d9', sequentialColor(0.25), sequentialColor(0.75)]);
    expect(cells(att)[2].tip).toBe('a0.h1: destination 1:7 &lt;- source 0:5: weight 0.25');
    const heads = headScoreSvg('induction', [[0.1, 0.9], [0, 1]]);
    expect(domainOf(heads)).toEqual({ scale: 'sequential', lo: 0, hi: 1 });
    expect(barLabels(heads)).toEqual(['1', '0.5', '0']);
    expect(cells(heads)[3]).toEqual({ fill: '#67000d', tip: 'a1.h1 induction score: 1' });
  });

  it('the patch page: every sweep of one run on one symmetric scale around the unpatched score', () => {
    const sweep = (name: string, values: (number | null)[][]): Sweep => ({
      name, title: name, rows: values.length, cols: values[0].length, rowLabels: values.map((_, i) => `L${i}`), colLabels: values[0].map((_, j) => `H${j}`),
      values, raw: values.map((r) => r.map((v) => (v === null ? null : 2 * v))),
    });
    const sw = [sweep('head_out', [[0.1, 0.9], [-0.2, 0.3]]), sweep('resid_pre', [[1.5, 0], [null, 0.25]])];
    const svgs = sweepSvgs(sw, 'denoise');
    expect(svgs.map((s) => s.name)).toEqual(['head_out', 'resid_pre']);
    expect(svgs.map((s) => domainOf(s.svg))).toEqual([{ scale: 'diverging', lo: -1.5, hi: 1.5 }, { scale: 'diverging', lo: -1.5, hi: 1.5 }]);
    // 0.9 is no longer the reddest cell of its panel: 1.5 in the other one is
    expect(cells(svgs[0].svg)[1].fill).toBe(divergingColor(0.9 / 1.5));
    expect(cells(svgs[0].svg)[1].tip).toBe('L0, H1: 0.9 (logit diff 1.8)');
    // noising: white = 1, the range is the largest |value - 1|
    const noise = sweepSvgs(sw, 'noise').map((s) => domainOf(s.svg));
    expect(noise[1]).toEqual(noise[0]);
    expect(noise[0].lo).toBeCloseTo(-0.2, 12);
    expect(noise[0].hi).toBeCloseTo(2.2, 12);
    expect(symmetricRange(sw.map((s) => s.values), 1)).toBeCloseTo(1.2, 12);
    // a lone sweep keeps its own scale
    expect(domainOf(sweepSvg(sw[0], 'denoise'))).toEqual({ scale: 'diverging', lo: -0.9, hi: 0.9 });
  });

  it('DLA page: the DLA figures share a scale, the ablation figure colours only changes of the metric, the change panels share one', () => {
    const o: DlaReport = {
      model: 'm', task: 't', n: 4, seed: 0, direction: 'logit(answer) - logit(wrong)', metric: 3, sum: 3, constant: 0.5,
      components: { embed: 0.4, 'a0.h0': 2, 'a0.h1': -0.5, m0: 0.6, bias: 0 }, heads: [[2, -0.5]], mlps: [0.6],
      ablation: {
        reference: 'corrupted prompts',
        heads: [
          { head: 'a0.h0', direct: 2, meanDirect: 0.1, naive: 1.1, actual: 2.5, indirect: 1.4, dlaHeads: [[0.1, -0.2]], dlaChange: [[-1.9, 0.3]] },
          { head: 'a0.h1', direct: -0.5, meanDirect: 0, naive: 3.5, actual: 3.2, indirect: -0.3, dlaHeads: [[2.1, 0]], dlaChange: [[0.1, 0.5]] },
        ],
      },
    };
    const html = dlaHtml(o, 'm', 'wasm');
    const d = domainsOf(html);
    expect(d).toHaveLength(5);
    expect(d[0]).toEqual({ scale: 'diverging', lo: -2, hi: 2 }); // heads
    expect(d[1]).toEqual(d[0]); // embeddings, MLPs, bias: same quantity, same scale
    // changes from the clean metric 3: naive - clean, actual - clean, actual - naive; the largest is |1.1 - 3| = 1.9
    expect(d[2].lo).toBeCloseTo(-1.9, 12);
    expect(d[2].hi).toBeCloseTo(1.9, 12);
    // the ablation figure's columns are the three changes only: no levels (naive, actual) or DLA beside them
    const ablation = html.split('<svg ')[3];
    for (const col of ['naive − clean', 'actual − clean', 'actual − naive']) expect(ablation).toContain(`>${col}</text>`);
    for (const col of ['DLA', 'naive', 'actual']) expect(ablation).not.toContain(`>${col}</text>`);
    expect(d[3]).toEqual({ scale: 'diverging', lo: -1.9, hi: 1.9 });
    expect(d[4]).toEqual(d[3]);
  });

  it('rejects values that do not match the labels', () => {
    expect(() => heatmapSvg({ ...base, rowLabels: ['L0'] })).toThrow(/heatmap: values must be 1 x 3/);
  });

  it('a self-contained HTML page', () => {
    const html = htmlPage({ title: 'A <b> page', intro: ['x < y'], facts: [['k', 1]], figures: [{ svg: heatmapSvg(base), caption: 'c&d' }, { svg: heatmapSvg(base) }] });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).toContain('<title>A &lt;b&gt; page</title>');
    expect(html).toContain('<p>x &lt; y</p>');
    expect(html).toContain('<figcaption>c&amp;d</figcaption>');
    expect(html).not.toMatch(/<script|<link|\bsrc=|href=/);
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
