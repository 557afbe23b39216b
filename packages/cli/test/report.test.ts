import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '@altclip/test-utils';
import { main } from '../src/main';

/** A run folder as the trainer leaves it, written by hand so every value in it is known. */
function syntheticRun(dir: string): void {
  fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ stage: 'distill', teacher: 'runs/teacher/final', data: 'corpus.tsv', train: { batchSize: 8, lr: 0.0001, steps: 30, schedule: 'linear', seed: 0 } }, null, 2));
  fs.writeFileSync(path.join(dir, 'checkpoints', 'latest'), 'step-30\n');
  const lines = [
    { step: 10, epoch: 0.5, loss: 2.5, mse: 2.5, lr: 0.0001, grad_norm: 3.25, num_tensors: 210, rss_mib: 512 },
    { step: 20, epoch: 1, loss: 1.125, mse: 1.125, lr: 0.00005, grad_norm: 1.75, num_tensors: 210, rss_mib: 520 },
    { step: 20, epoch: 1, eval: { zeroshot_acc1: 0.375, zeroshot_n: 16 } },
    { step: 30, epoch: 1.5, loss: 0.4321, mse: 0.4321, lr: 0.0000125, grad_norm: 0.8125, num_tensors: 210, rss_mib: 518 },
    { step: 30, epoch: 1.5, eval: { zeroshot_acc1: 0.6875, zeroshot_n: 16 } },
  ];
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n{"step":40,"lo');
  fs.writeFileSync(path.join(dir, 'eval-cifar10.json'), JSON.stringify({ dataset: 'cifar10', metrics: { acc1: 0.8125, acc5: 0.96875 }, settings: { n_images: 32 } }));
}

const svgLabels = (html: string) => [...html.matchAll(/<svg [^>]*aria-label="([^"]*)"/g)].map((m) => m[1]);

describe('altclip report', () => {
  const root = tmpDir('report');
  const dir = path.join(root, 'stage1');
  let html: string;
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeAll(async () => {
    syntheticRun(dir);
    const out = path.join(dir, 'out', 'r.html');
    await main(['report', dir, '--out', out]);
    html = fs.readFileSync(out, 'utf8');
  });

  test('one chart per logged metric (step and epoch are axes, not metrics), eval metrics included', () => {
    expect(svgLabels(html)).toEqual(['loss', 'mse', 'lr', 'grad_norm', 'eval/zeroshot_acc1', 'eval/zeroshot_n', 'num_tensors', 'rss_mib']);
    // Three points on each training curve, two on each eval curve (the torn last line is ignored).
    const sections = html.split('<svg ').slice(1);
    expect(sections.map((s) => (s.slice(0, s.indexOf('</svg>')).match(/<circle /g) ?? []).length)).toEqual([3, 3, 3, 3, 2, 2, 3, 3]);
  });

  test("the process's tensor count and memory are charted in their own System group, not among the training metrics", () => {
    const group = (h2: string) => svgLabels(html.split(`<h2>${h2}</h2>`)[1]?.split('<h2>')[0] ?? '');
    expect(group('Training')).toEqual(['loss', 'mse', 'lr', 'grad_norm']);
    expect(group('System')).toEqual(['num_tensors', 'rss_mib']);
  });

  test('last, min and max values, the eval results file and the config are in the page', () => {
    const row = (metric: string) => new RegExp(`<tr><th>${metric.replace(/([/_])/g, '$1<wbr>')}</th>(<td>[^<]*</td>){4}</tr>`).exec(html)?.[0];
    const cells = (metric: string) => [...(row(metric) ?? '').matchAll(/<td>([^<]*)<\/td>/g)].map((m) => m[1]);
    // last, at step, min, max
    expect(cells('loss')).toEqual(['0.4321', '30', '0.4321', '2.5']);
    expect(cells('lr')).toEqual(['0.0000125', '30', '0.0000125', '0.0001']);
    expect(cells('eval/zeroshot_acc1')).toEqual(['0.6875', '30', '0.375', '0.6875']);
    expect(html).toContain('eval-cifar10.json (cifar10)');
    expect(html).toContain('<tr><th>acc1</th><td>0.8125</td></tr>');
    expect(html).toContain('&quot;teacher&quot;: &quot;runs/teacher/final&quot;');
    expect(html).toContain('last logged step 30 of 30 steps');
    expect(html).toContain('step-30');
  });

  test('works on a phone: viewport meta, charts scale with the page width, no internal issue numbers', () => {
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    const tags = [...html.matchAll(/<svg [^>]*>/g)].map((m) => m[0]);
    expect(tags.length).toBe(8);
    for (const t of tags) {
      expect(t).toMatch(/viewBox="0 0 \d+ \d+"/);
      expect(t).toContain('width="100%"');
      expect(t).not.toMatch(/height="/);
    }
    expect(html).not.toMatch(/issue\s*#?\s*\d/i);
  });

  test('the default output is <run>/report.html; a folder that is not a run is refused with its name', async () => {
    await main(['report', dir]);
    expect(fs.readFileSync(path.join(dir, 'report.html'), 'utf8')).toBe(html);
    const parent = path.dirname(dir);
    await expect(main(['report', parent])).rejects.toThrow(new RegExp(`${parent.replace(/[/\\]/g, '.')} has neither config.json nor metrics.jsonl.*run folders inside it: stage1`));
    await expect(main(['report', path.join(parent, 'nope')])).rejects.toThrow(/run folder .*nope not found/);
  });
});
