import * as fs from 'fs';
import * as path from 'path';
import { loadImage } from '@altclip/image';
import { tmpDir } from '@altclip/test-utils';
import { balancedIndices, encodeGrayPgm } from '../src/demo/data';
import { accuracyChartSvg, agreeArticles, formatTable, markdownTable, reportHtml, StageScores } from '../src/demo/report';
import { lineChartSvg, readLossCurves } from '../src/report/charts';

const row = (model: string, en: number, zh: number): StageScores => ({
  model,
  zeroShot: { en, zh },
  retrieval: {
    en: { t2i: [0.5, 0.8, 0.9], i2t: [0.6, 0.85, 0.95], mr: 0.7667 },
    zh: { t2i: [0.25, 0.5, 0.75], i2t: [0.3, 0.6, 0.8], mr: 0.5333 },
  },
});

describe('demo helpers', () => {
  let dir: string;
  beforeEach(() => (dir = tmpDir('demo-report-')));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('encodeGrayPgm writes a PGM that the image decoder reads back pixel for pixel', async () => {
    const px = new Uint8Array(28 * 28).map((_, i) => (i * 37) % 256);
    const file = path.join(dir, 'x.pgm');
    fs.writeFileSync(file, encodeGrayPgm(px, 28, 28));
    const img = await loadImage(file);
    expect([img.width, img.height]).toEqual([28, 28]);
    // Whatever channel layout the decoder returns, every channel of pixel i equals px[i].
    for (let i = 0; i < 784; i++) for (let c = 0; c < img.channels; c++) expect(img.data[i * img.channels + c]).toBe(px[i]);
  });

  test('balancedIndices keeps the first N of each class in file order', () => {
    const labels = Int32Array.from([0, 1, 0, 2, 1, 0, 2, 2, 1]);
    expect(balancedIndices(labels, 3, 2)).toEqual([0, 1, 2, 3, 4, 6]);
  });

  test('the table prints percentages in Table-1 order', () => {
    const t = formatTable([row('CLIP (teacher)', 0.8123, 0.1), row('AltCLIP', 0.8, 0.79)]).split('\n');
    expect(t).toHaveLength(4);
    expect(t[2]).toMatch(/^CLIP \(teacher\)\s+81\.2\s+10\.0\s+50\.0 \/ 80\.0 \/ 90\.0\s+76\.7\s+25\.0 \/ 50\.0 \/ 75\.0\s+53\.3$/);
    expect(markdownTable([row('AltCLIP', 0.8, 0.79)])).toContain('| AltCLIP | 80.0 | 79.0 |');
  });

  test('loss curves come from metrics.jsonl (terms included, torn last line ignored) and plot as SVG', () => {
    const file = path.join(dir, 'metrics.jsonl');
    fs.writeFileSync(file, ['{"step":10,"loss":2,"lr":0.1,"mse":2}', '{"step":20,"loss":1,"lr":0.1,"mse":1}', '{"step":30,"lo'].join('\n'));
    const curves = readLossCurves(file, 's');
    expect(curves.map((c) => c.term).sort()).toEqual(['loss', 'mse']);
    expect(curves.find((c) => c.term === 'loss')!.points).toEqual([[10, 2], [20, 1]]);
    const svg = lineChartSvg('stage', curves);
    expect(svg.startsWith('<svg')).toBe(true);
    expect((svg.match(/<path /g) ?? []).length).toBe(2);
    expect(lineChartSvg('empty', [])).toContain('no metrics logged');
  });
});

describe('report.html', () => {
  const rows = [row('CLIP (teacher)', 0.815, 0.1), row('AltCLIP_T (stage 1)', 0.75, 0.72), row('AltCLIP (stage 2)', 0.815, 0.835)];

  // The chart scales uniformly with the page (viewBox), so what overlaps at 420 px overlaps in viewBox units too.
  test('the chance label sits clear of every bar (it is in the legend, beside a dashed sample)', () => {
    const svg = accuracyChartSvg(rows, 0.1);
    const num = (tag: string, a: string) => Number(new RegExp(`${a}="([-\\d.]+)"`).exec(tag)![1]);
    const bars = [...svg.matchAll(/<rect [^>]*>/g)].map((m) => m[0]).filter((t) => /fill="#(1f77b4|d62728)"/.test(t) && num(t, 'height') > 10);
    expect(bars).toHaveLength(6);
    const label = /<text ([^>]*)>(chance[^<]*)<\/text>/.exec(svg)!;
    expect(label[2]).toBe('chance (10.0%)');
    // a generous box for 12 px sans-serif text: 7.5 units per character, 12 high above the baseline
    const x = num(label[1], 'x');
    const y = num(label[1], 'y');
    const anchorEnd = label[1].includes('text-anchor="end"');
    const box = { x0: anchorEnd ? x - 7.5 * label[2].length : x, x1: anchorEnd ? x : x + 7.5 * label[2].length, y0: y - 12, y1: y + 2 };
    for (const b of bars) {
      const r = { x0: num(b, 'x'), x1: num(b, 'x') + num(b, 'width'), y0: num(b, 'y'), y1: num(b, 'y') + num(b, 'height') };
      expect([b, r.x1 <= box.x0 || box.x1 <= r.x0 || r.y1 <= box.y0 || box.y1 <= r.y0]).toEqual([b, true]);
    }
  });

  test.each([
    ['an image of a trousers.', 'an image of trousers.'],
    ['a trousers on a plain background.', 'trousers on a plain background.'],
    ['A trousers on a plain background.', 'Trousers on a plain background.'],
    ['a close-up photo of a ankle boot.', 'a close-up photo of an ankle boot.'],
    ['a blurry photo of a dark trousers.', 'a blurry photo of dark trousers.'],
    ['a blurry photo of a dress.', 'a blurry photo of a dress.'],
    ['an image of a t-shirt.', 'an image of a t-shirt.'],
  ])('article agreement: %j -> %j', (text, want) => {
    expect(agreeArticles(text)).toBe(want);
  });

  test('commands are code that wraps only between flags; examples agree in number', () => {
    const command = 'altclip contrastive --model clip-demo-tiny --data runs/demo-2026/data/stage0-pairs.tsv --lock-image false --betas 0.9 0.98';
    const html = reportHtml({ title: 't', rows, curves: [], facts: [], examples: [{ en: 'an image of a trousers.', zh: '一张裤子的图像。' }], commands: [{ label: 'stage 0', command }] });
    const code = /<code class="cmd">(.*?)<\/code>/.exec(html)![1];
    expect(code.match(/<span>[^<]*<\/span>/g)).toEqual([
      '<span>altclip contrastive</span>', '<span>--model clip-demo-tiny</span>', '<span>--data runs/demo-2026/data/stage0-pairs.tsv</span>', '<span>--lock-image false</span>', '<span>--betas 0.9 0.98</span>',
    ]);
    expect(code.replace(/<[^>]+>/g, '')).toBe(command); // copied, it is the command
    expect(html).toMatch(/code\.cmd\{[^}]*hyphens:none[^}]*\}code\.cmd span\{white-space:nowrap\}/);
    expect(html).toContain('<td>an image of trousers.</td>');
    expect(html).not.toMatch(/\ba trousers/);
  });
});
