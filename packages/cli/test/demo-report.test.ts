import * as fs from 'fs';
import * as path from 'path';
import { loadImage } from '@altclip/image';
import { tmpDir } from '@altclip/test-utils';
import { balancedIndices, encodeGrayPgm } from '../src/demo/data';
import { formatTable, markdownTable, StageScores } from '../src/demo/report';
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
  test('encodeGrayPgm writes a PGM that the image decoder reads back pixel for pixel', async () => {
    const px = new Uint8Array(28 * 28).map((_, i) => (i * 37) % 256);
    const file = path.join(tmpDir('pgm'), 'x.pgm');
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
    const file = path.join(tmpDir('metrics'), 'metrics.jsonl');
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
