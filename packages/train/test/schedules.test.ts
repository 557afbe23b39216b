import { lrAt, ScheduleConfig } from '../src';

// Expected values are worked out by hand from the formulas in spec 5.3 / open_clip, not by lrAt.
describe('lrAt', () => {
  const flag: ScheduleConfig = { name: 'flagai-cosine', lr: 1e-4, warmupSteps: 10, totalSteps: 100 };
  test('FlagAI AnnealingLR cosine: warmup from 0, peak at t = warmup, divisor num_iters, floor lr/10', () => {
    expect(lrAt(0, flag)).toBe(0);
    expect(lrAt(5, flag)).toBeCloseTo(5e-5, 12);
    expect(lrAt(10, flag)).toBeCloseTo(1e-4, 12);
    // t = 35: ratio (35-10)/100 = 0.25, cos(pi/4) = 0.7071067812 -> 1e-5 * (1.7071067812 * 4.5 + 1) = 8.68198052e-5
    expect(lrAt(35, flag)).toBeCloseTo(8.68198052e-5, 12);
    // t = 60: ratio 0.5 -> 1e-5 * (1 * 4.5 + 1) = 5.5e-5
    expect(lrAt(60, flag)).toBeCloseTo(5.5e-5, 12);
    // t = 100: ratio 0.9, cos(0.9 pi) = -0.9510565163 -> 1e-5 * (0.0489434837 * 4.5 + 1) = 1.220245677e-5 (spec: ~1.22e-5)
    expect(lrAt(100, flag)).toBeCloseTo(1.220245677e-5, 12);
    // ratio capped at 1: lr0 / 10
    expect(lrAt(500, flag)).toBeCloseTo(1e-5, 12);
  });
  test('FlagAI seed preset numbers: 125,000 iterations, 12,500 warmup', () => {
    const s: ScheduleConfig = { name: 'flagai-cosine', lr: 1e-4, warmupSteps: 12500, totalSteps: 125000 };
    expect(lrAt(1, s)).toBeCloseTo(8e-9, 15);
    expect(lrAt(12500, s)).toBeCloseTo(1e-4, 12);
    // last update t = 124,999: ratio 0.899992, cos(pi * 0.899992) = -0.9510487496 -> 1.2202806e-5
    expect(lrAt(124999, s)).toBeCloseTo(1.22028e-5, 9);
  });
  test('warmup + cosine / linear / constant', () => {
    const base = { lr: 1, warmupSteps: 4, totalSteps: 14 };
    const cos: ScheduleConfig = { name: 'cosine', ...base };
    expect(lrAt(0, cos)).toBeCloseTo(0.25, 12);
    expect(lrAt(3, cos)).toBeCloseTo(1, 12);
    expect(lrAt(4, cos)).toBeCloseTo(1, 12);
    expect(lrAt(9, cos)).toBeCloseTo(0.5, 12); // half way through the 10 decay steps
    expect(lrAt(14, cos)).toBeCloseTo(0, 12);
    expect(lrAt(9, { ...cos, minLr: 0.1 })).toBeCloseTo(0.55, 12);
    const lin: ScheduleConfig = { name: 'linear', ...base };
    expect(lrAt(6, lin)).toBeCloseTo(0.8, 12);
    expect(lrAt(9, lin)).toBeCloseTo(0.5, 12);
    expect(lrAt(1, lin)).toBeCloseTo(0.5, 12);
    const con: ScheduleConfig = { name: 'constant', ...base };
    expect(lrAt(1, con)).toBeCloseTo(0.5, 12);
    expect(lrAt(100, con)).toBe(1);
    expect(lrAt(0, { name: 'cosine', lr: 2, warmupSteps: 0, totalSteps: 4 })).toBe(2);
  });
});
