import * as fs from 'fs';
import * as path from 'path';
import { setupBackend } from '@altclip/backend';
import { tmpDir } from '@altclip/test-utils';
import { runDemo } from '../src/demo/run';

/**
 * `altclip demo --fast` end to end (stage 0 teacher, stage 1 distillation, stage 2 contrastive, evaluation, report),
 * on the bundled Fashion-MNIST subset or the Debian package when installed. A few minutes on 2 cores.
 */
describe('altclip demo --fast', () => {
  const root = tmpDir('demo');
  const out = path.join(root, 'run');
  let result: Awaited<ReturnType<typeof runDemo>>;
  const lines: string[] = [];

  beforeAll(async () => {
    await setupBackend({});
    result = await runDemo({ out, fast: true, progress: false, log: (l) => lines.push(l) });
  }, 15 * 60 * 1000);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true })); // about 90 MB

  test('the student reads Chinese far above chance, the English teacher does not', () => {
    expect(result.status).toBe('completed');
    const [teacher, stage1, stage2] = result.rows;
    // 10 classes: chance is 10%.
    expect(stage2.zeroShot.zh).toBeGreaterThan(0.5);
    expect(stage1.zeroShot.zh).toBeGreaterThan(0.5);
    expect(teacher.zeroShot.en).toBeGreaterThan(0.5);
    expect(teacher.zeroShot.zh).toBeLessThan(0.2);
    // The teacher's CLIP BPE has never seen these Chinese captions trained against images.
    expect(teacher.zeroShot.zh).toBeLessThan(teacher.zeroShot.en);
    for (const r of result.rows) {
      for (const lang of ['en', 'zh'] as const) {
        const { t2i, mr } = r.retrieval[lang];
        expect(t2i[0]).toBeLessThanOrEqual(t2i[1]);
        expect(t2i[1]).toBeLessThanOrEqual(t2i[2]);
        expect(mr).toBeGreaterThan(0);
        expect(mr).toBeLessThanOrEqual(1);
      }
    }
  });

  test('every stage leaves its normal run folder; results.json and report.html are written', () => {
    for (const d of ['stage0-teacher', 'stage1-distill', 'stage2-contrastive']) {
      expect(fs.existsSync(path.join(out, d, 'metrics.jsonl'))).toBe(true);
      expect(fs.existsSync(path.join(out, d, 'config.json'))).toBe(true);
      expect(fs.existsSync(path.join(out, d, 'final', 'model.safetensors'))).toBe(true);
    }
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results.table).toHaveLength(3);
    expect(results.table[2].zeroShot.zh).toBeCloseTo(result.rows[2].zeroShot.zh, 10);
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect((html.match(/<svg/g) ?? []).length).toBe(4); // 3 loss charts + the accuracy chart
    expect(html).toContain('AltCLIP_T');
    expect(html).toContain('name="viewport"');
    expect(html).not.toMatch(/issue\s*#?\s*\d/i);
    expect(result.table.split('\n')).toHaveLength(5);
  });

  test('--resume on a finished run skips every stage and reproduces the table', async () => {
    const again: string[] = [];
    const r = await runDemo({ out, resume: true, progress: false, log: (l) => again.push(l) });
    expect(again.filter((l) => /done .*skipped/.test(l))).toHaveLength(3);
    expect(r.rows).toEqual(result.rows);
  }, 120000);

  test('refuses to overwrite a demo folder without --resume', async () => {
    await expect(runDemo({ out, fast: true, progress: false, log: () => {} })).rejects.toThrow(/--resume/);
  });
});
