import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { openSafetensors } from '@altclip/checkpoint';
import { convertCommand, runConvert } from '../src/commands/convert';

const dir = tmpDir('altclip-convert-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('convert a pytorch_model.bin folder: output equals the reference model.safetensors tensor for tensor', async () => {
  const src = path.join(dir, 'in');
  fs.mkdirSync(src);
  for (const f of ['pytorch_model.bin', 'config.json']) fs.copyFileSync(fixture('altclip-tiny', f), path.join(src, f));
  const out = path.join(dir, 'out');
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  const progress: string[] = [];
  try {
    const r = await runConvert({ in: src, out, dtype: 'f32' }, (s) => progress.push(s));
    expect(r.copied).toEqual(['config.json']);
  } finally {
    log.mockRestore();
  }
  expect(progress[progress.length - 1]).toMatch(/^convert: 83\/83 tensors, .* \(100%\)$/);
  expect(fs.readFileSync(path.join(out, 'config.json'))).toEqual(fs.readFileSync(fixture('altclip-tiny', 'config.json')));
  const got = await openSafetensors(path.join(out, 'model.safetensors'));
  const ref = await openSafetensors(fixture('altclip-tiny', 'model.safetensors'));
  try {
    expect(got.metadata).toEqual({ format: 'pt' });
    expect(got.keys().sort()).toEqual(ref.keys().sort());
    for (const k of ref.keys()) {
      expect(got.info(k)).toEqual(ref.info(k));
      const a = await got.read(k);
      const b = await ref.read(k);
      expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true);
    }
  } finally {
    await got.close();
    await ref.close();
  }
});

test('the command handler converts a single file to f16 within half precision', async () => {
  const out = path.join(dir, 'half.safetensors');
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await (convertCommand.handler as any)({ in: fixture('altclip-tiny', 'pytorch_model.bin'), out, dtype: 'f16', _: [], $0: 'altclip' });
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
  const got = await openSafetensors(out);
  const ref = await openSafetensors(fixture('altclip-tiny', 'model.safetensors'));
  try {
    for (const k of ref.keys()) {
      expect(got.info(k)).toEqual({ ...ref.info(k), dtype: 'F16' });
      const a = (await got.read(k)).data;
      const b = (await ref.read(k)).data;
      // round-to-nearest half: relative error <= 2^-11 for normal values, absolute <= 2^-25 below 2^-14
      let worst = 0; // error / bound, must stay <= 1
      for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]) * 2 ** -11, 2 ** -25));
      expect(worst).toBeLessThanOrEqual(1);
    }
    expect(fs.statSync(out).size).toBeLessThan(fs.statSync(fixture('altclip-tiny', 'model.safetensors')).size * 0.6);
  } finally {
    await got.close();
    await ref.close();
  }
});

test('refuses to overwrite its input', async () => {
  const src = path.join(dir, 'same.safetensors');
  fs.copyFileSync(fixture('altclip-tiny', 'model.safetensors'), src);
  await expect(runConvert({ in: src, out: src, dtype: 'f32' }, () => undefined)).rejects.toThrow(/same\.safetensors: refusing to overwrite the input/);
});
