/** The SVG heatmap and the HTML page (src/report/heatmap.ts): no model needed. */
import { describe, expect, it } from 'vitest';
import { divergingColor, escapeXml, heatmapSvg, htmlPage } from '../../src/report/heatmap.js';

const base = {
  values: [[-2, 0, 1], [0.5, null, 2]],
  rowLabels: ['L0', 'L1'],
  colLabels: ['<|endoftext|>', ' Mary', 'a&b'],
  title: 'resid "pre"',
};

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
