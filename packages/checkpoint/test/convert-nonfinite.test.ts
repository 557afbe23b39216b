/** convert refuses NaN/Inf weights as every command that loads weights does (issue 24, item 10). */
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '@altclip/test-utils';
import { convertToSafetensors, openSafetensors, setAllowNonFiniteWeights, writeSafetensors } from '@altclip/checkpoint';
import * as models from '@altclip/models';

const dir = tmpDir('altclip-convert-nf-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function checkpointWith(name: string, bad: Float32Array): Promise<string> {
  const file = path.join(dir, name);
  await writeSafetensors(file, { 'a.weight': { shape: [2], data: new Float32Array([1, 2]) }, 'b.weight': { shape: [bad.length], data: bad } });
  return file;
}

test('NaN/Inf in the input: refused naming the file and tensor, nothing written; --allow-nonfinite copies them', async () => {
  const src = await checkpointWith('nan.safetensors', new Float32Array([0, NaN, Infinity, 3]));
  const out = path.join(dir, 'out-nan', 'model.safetensors');
  await expect(convertToSafetensors(src, out)).rejects.toThrow(
    new Error(`${src}: tensor 'b.weight' has 2 NaN/Inf value(s) of 4; refusing to load it (pass --allow-nonfinite to load anyway)`),
  );
  expect(fs.existsSync(path.dirname(out))).toBe(false); // not even the folder made for it
  await convertToSafetensors(src, out, { allowNonFinite: true });
  const r = await openSafetensors(out);
  expect(Array.from((await r.read('b.weight')).data)).toEqual([0, NaN, Infinity, 3]);
  await r.close();
});

test('the CLI flag is one process-wide setting: @altclip/models sets the same one convert reads', async () => {
  expect(models.setAllowNonFiniteWeights).toBe(setAllowNonFiniteWeights);
  const src = await checkpointWith('inf.safetensors', new Float32Array([-Infinity]));
  const out = path.join(dir, 'inf-out.safetensors');
  await expect(convertToSafetensors(src, out)).rejects.toThrow(/'b\.weight' has 1 NaN\/Inf value/);
  models.setAllowNonFiniteWeights(true);
  try {
    await convertToSafetensors(src, out);
  } finally {
    models.setAllowNonFiniteWeights(false);
  }
  expect(fs.existsSync(out)).toBe(true);
});

test('finite values that a narrower dtype would turn into Inf are refused too (1e5 in f16), not written as Inf', async () => {
  const src = await checkpointWith('big.safetensors', new Float32Array([65504, 65519.9, 65520, -1e5]));
  const out = path.join(dir, 'big-f16.safetensors');
  await expect(convertToSafetensors(src, out, { dtype: 'F16' })).rejects.toThrow(
    new Error(`${src}: tensor 'b.weight' has 2 value(s) too large for F16 (up to 1.000e+5; F16 overflows to Inf from 65520); convert to bf16 or f32 instead (or pass --allow-nonfinite to write Inf)`),
  );
  expect(fs.existsSync(out)).toBe(false);
  // The threshold agrees with the f16 encoder: allowed, exactly the refused values come out as Inf.
  await convertToSafetensors(src, out, { dtype: 'F16', allowNonFinite: true });
  const h = await openSafetensors(out);
  expect(Array.from((await h.read('b.weight')).data)).toEqual([65504, 65504, Infinity, -Infinity]);
  await h.close();
  await convertToSafetensors(src, out, { dtype: 'BF16' });
  const r = await openSafetensors(out);
  expect(Array.from((await r.read('b.weight')).data).every(Number.isFinite)).toBe(true);
  await r.close();
  // BF16's own edge: f32 max rounds to Inf.
  const edge = await checkpointWith('edge.safetensors', new Float32Array([3.3895313892515355e38, 3.4028234663852886e38]));
  await expect(convertToSafetensors(edge, path.join(dir, 'edge.safetensors.out'), { dtype: 'BF16' })).rejects.toThrow(/has 1 value\(s\) too large for BF16/);
});
