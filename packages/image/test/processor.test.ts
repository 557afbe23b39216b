/** ImageProcessor reads HF preprocessor_config.json as it is and reproduces CLIPImageProcessor (fixtures/preprocess). */
import * as fs from 'fs';
import * as path from 'path';
import { fixture, tmpDir } from '@altclip/test-utils';
import { ALTCLIP_PREPROCESSOR_CONFIG, ImageProcessor, loadImage, preprocess, preprocessFiles, preprocessBuffers, closeSharedPool } from '@altclip/image';
import { preprocessExpected, readSafetensors, sha256 } from './helpers';

const exp = preprocessExpected();
const dir = tmpDir('altclip-image-proc-');
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await closeSharedPool();
});

test('BAAI/AltCLIP config (int size/crop) reproduces the HF 224 tensors of every fixture image', async () => {
  fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(ALTCLIP_PREPROCESSOR_CONFIG));
  const proc = ImageProcessor.fromPretrained(dir);
  expect(proc.outputShape).toEqual([3, 224, 224]);
  const imgs = await Promise.all(exp.images.map((c) => loadImage(fixture('preprocess', c.file))));
  const batch = proc.processBatch(imgs);
  expect(batch.shape).toEqual([imgs.length, 3, 224, 224]);
  const per = 3 * 224 * 224;
  exp.images.forEach((c, i) => {
    expect(sha256(batch.data.subarray(i * per, (i + 1) * per))).toBe(c.hf.f32_224_sha256);
    expect(sha256(proc.process(imgs[i]))).toBe(c.hf.f32_224_sha256);
  });
});

test('dict sizes ({shortest_edge}, {height,width}) at 32 match hf_32_f32', async () => {
  const proc = ImageProcessor.fromConfig({ size: { shortest_edge: 32 }, crop_size: { height: 32, width: 32 }, resample: 3, image_mean: exp.mean, image_std: exp.std });
  const ref = readSafetensors(fixture('preprocess', exp.files.hf_32_f32));
  for (const c of exp.images) {
    const out = proc.process(await loadImage(fixture('preprocess', c.file)));
    expect(Buffer.compare(Buffer.from(out.buffer), Buffer.from((ref.get(c.key)!.data as Float32Array).buffer))).toBe(0);
  }
});

test('flags: no crop keeps the resized size, no normalize gives u8/255, exact {height,width} resize', async () => {
  const img = await loadImage(fixture('preprocess', exp.images[0].file));
  const c0 = exp.images[0];
  const noCrop = ImageProcessor.fromConfig({ size: 32, do_center_crop: false }).process(img);
  expect(noCrop.length).toBe(3 * c0.clip.resized_wh_32[0] * c0.clip.resized_wh_32[1]);
  const raw = ImageProcessor.fromConfig({ size: 32, crop_size: 32, do_normalize: false }).process(img);
  const norm = preprocess(img, { size: 32, crop: 'hf' });
  for (let i = 0; i < raw.length; i += 97) {
    const c = Math.floor(i / 1024);
    expect(Math.fround((raw[i] - Math.fround(exp.mean[c])) / Math.fround(exp.std[c]))).toBeCloseTo(norm[i], 6);
  }
  expect(raw.every((v) => Math.fround(Math.round(v * 255) / 255) === v)).toBe(true);
  const sq = ImageProcessor.fromConfig({ size: { height: 20, width: 30 }, do_center_crop: false });
  expect(sq.process(img).length).toBe(3 * 20 * 30);
});

test('unsupported resample and bad values are clear errors naming the file', () => {
  fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ ...ALTCLIP_PREPROCESSOR_CONFIG, resample: 2 }));
  expect(() => ImageProcessor.fromPretrained(dir)).toThrow(/preprocessor_config\.json: resample 2 \(BILINEAR\) is not implemented/);
  expect(() => ImageProcessor.fromConfig({ image_mean: [0.5] })).toThrow(/"image_mean" must have 3 values/);
  expect(() => ImageProcessor.fromConfig({ size: { longest_edge: 3 } as never })).toThrow(/unsupported "size"/);
  fs.writeFileSync(path.join(dir, 'bad.json'), '{ not json');
  expect(() => ImageProcessor.fromPretrained(path.join(dir, 'bad.json'))).toThrow(/bad\.json: invalid JSON/);
  expect(() => ImageProcessor.fromPretrained(path.join(dir, 'missing'))).toThrow(/cannot read .*missing/);
});

test('save writes the config back (unknown keys kept) and reloads identically', () => {
  const cfg = { ...ALTCLIP_PREPROCESSOR_CONFIG, custom_key: 'kept' };
  const out = path.join(dir, 'saved');
  ImageProcessor.fromConfig(cfg).save(out);
  const back = JSON.parse(fs.readFileSync(path.join(out, 'preprocessor_config.json'), 'utf8'));
  expect(back).toEqual(cfg);
  expect(ImageProcessor.fromPretrained(out).options).toEqual(ImageProcessor.fromConfig(cfg).options);
});

test('preprocessFiles: worker threads give the same tensors as the in-process pipeline; skip mode counts bad files', async () => {
  const files = exp.images.map((c) => fixture('preprocess', c.file));
  const bad = path.join(dir, 'broken.jpg');
  fs.writeFileSync(bad, 'nope');
  const opts = { size: 32, crop: 'openai' as const };
  const threaded = await preprocessFiles([...files, bad], opts, { threads: 2, onError: 'skip' });
  expect(threaded.shape).toEqual([files.length, 3, 32, 32]);
  expect(threaded.paths).toEqual(files);
  expect(threaded.errors).toHaveLength(1);
  expect(threaded.errors[0].path).toBe(bad);
  expect(threaded.errors[0].message).toMatch(/broken\.jpg/);
  const inline = await preprocessFiles(files, opts, { threads: 0 });
  expect(sha256(threaded.data)).toBe(sha256(inline.data));
  const ref = readSafetensors(fixture('preprocess', exp.files.clip_32_f32));
  exp.images.forEach((c, i) => expect(sha256(inline.data.subarray(i * 3072, (i + 1) * 3072))).toBe(sha256(ref.get(c.key)!.data)));
  await expect(preprocessFiles([bad], opts, { threads: 2 })).rejects.toThrow(/broken\.jpg/);
});

test('preprocessBuffers: images in memory (views into one larger buffer) give the fixture tensors, on workers and inline', async () => {
  const files = exp.images.map((c) => fixture('preprocess', c.file));
  // One read buffer with every image in it, as a tar reader hands them out.
  const all = Buffer.concat(files.map((f) => fs.readFileSync(f)));
  let at = 0;
  const items = files.map((f) => {
    const n = fs.statSync(f).size;
    const data = all.subarray(at, at + n);
    at += n;
    return { name: `shard.tar:${path.basename(f)}`, data };
  });
  const opts = { size: 32, crop: 'openai' as const };
  const ref = readSafetensors(fixture('preprocess', exp.files.clip_32_f32));
  for (const threads of [2, 0]) {
    const r = await preprocessBuffers([...items, { name: 'shard.tar:bad.jpg', data: Buffer.from('nope') }], opts, { threads, onError: 'skip' });
    expect(r.paths).toEqual(items.map((i) => i.name));
    expect(r.errors.map((e) => e.path)).toEqual(['shard.tar:bad.jpg']);
    expect(r.errors[0].message).toMatch(/shard\.tar:bad\.jpg/);
    exp.images.forEach((c, i) => expect(sha256(r.data.subarray(i * 3072, (i + 1) * 3072))).toBe(sha256(ref.get(c.key)!.data)));
  }
  expect(all.subarray(0, 4).length).toBe(4); // the caller's buffer is not detached by the transfer
});

test('preprocessFiles without center crop: equal sizes batch, different sizes are a clear error', async () => {
  const png = fixture('preprocess', 'images', 'rgb_224x224.png');
  const r = await preprocessFiles([png, png], { size: 32, doCenterCrop: false }, { threads: 2 });
  expect(r.shape).toEqual([2, 3, 32, 32]);
  expect(sha256(r.data.subarray(0, 3072))).toBe(sha256(preprocess(await loadImage(png), { size: 32, crop: 'hf' })));
  const other = fixture('preprocess', 'images', 'rgb_640x480.jpg');
  await expect(preprocessFiles([png, other], { size: 32, doCenterCrop: false }, { threads: 2 })).rejects.toThrow(/rgb_640x480\.jpg gives 32x42, .*rgb_224x224\.png gives 32x32/);
});

test('preprocessFiles: concurrent calls with different thread counts both complete', async () => {
  const files = exp.images.slice(0, 4).map((c) => fixture('preprocess', c.file));
  const o = { size: 32, crop: 'openai' as const };
  const [a, b] = await Promise.all([preprocessFiles(files, o, { threads: 2 }), preprocessFiles(files, o, { threads: 1 })]);
  expect(sha256(a.data)).toBe(sha256(b.data));
});
