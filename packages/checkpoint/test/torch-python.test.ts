/**
 * Optional: checks the .bin reader against files written by real PyTorch. Runs only where a python3 with torch
 * exists (e.g. Debian's python3-torch at /usr/bin/python3; ALTCLIP_PYTHON picks one); skipped otherwise, so
 * `npm test` needs no torch.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { tmpDir } from '@altclip/test-utils';
import { openCheckpoint } from '@altclip/checkpoint';

const candidates = process.env.ALTCLIP_PYTHON ? [process.env.ALTCLIP_PYTHON] : ['python3', '/usr/bin/python3'];
const python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
const maybe = python ? describe : describe.skip;

const SCRIPT = `
import json, sys, torch
torch.manual_seed(0)
out = sys.argv[1]
base = torch.randn(6, 9)
lin = torch.nn.Linear(3, 2)
sd = lin.state_dict()  # OrderedDict with _metadata
sd.update({
  'f32.transposed': base.t(),
  'f32.slice': base[2:5, 1:8:3],
  'f32.expand': torch.randn(3, 1).expand(3, 4),
  'f32.scalar': torch.tensor(3.5),
  'f32.empty': torch.zeros(0, 4),
  'f16.permuted': torch.randn(2, 3, 4).half().permute(2, 0, 1),
  'bf16': torch.randn(7).bfloat16()[1:],
  'f64': torch.randn(3, dtype=torch.float64),
  'i64.view': torch.arange(-5, 7).view(3, 4)[:, 1:3],
  'i32': torch.tensor([1, -2, 3], dtype=torch.int32),
  'i16': torch.tensor([-300, 2], dtype=torch.int16),
  'i8': torch.tensor([-1, 5], dtype=torch.int8),
  'u8': torch.tensor([0, 255], dtype=torch.uint8),
  'bool': torch.tensor([True, False, True]),
  'param': torch.nn.Parameter(torch.randn(2, 2)),
})
torch.save(sd, out + '/views.bin')
torch.save({'w': torch.ones(2)}, out + '/legacy.bin', _use_new_zipfile_serialization=False)
ref = {k: {'dtype': str(v.dtype), 'shape': list(v.shape), 'values': v.detach().double().flatten().tolist()} for k, v in sd.items()}
json.dump(ref, open(out + '/views.json', 'w'))
`;

maybe('files written by PyTorch', () => {
  const dir = tmpDir('altclip-ckpt-pt-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeAll(() => {
    const r = spawnSync(python!, ['-c', SCRIPT, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  });

  test('views, half, bf16, ints and parameters match torch values', async () => {
    const ref = JSON.parse(fs.readFileSync(path.join(dir, 'views.json'), 'utf8')) as Record<string, { dtype: string; shape: number[]; values: number[] }>;
    const r = await openCheckpoint(path.join(dir, 'views.bin'));
    try {
      expect(r.format).toBe('pytorch');
      expect(r.keys()).toEqual(Object.keys(ref));
      for (const [k, v] of Object.entries(ref)) {
        const t = await r.read(k);
        expect([k, t.shape]).toEqual([k, v.shape]);
        const expected = v.dtype === 'torch.float64' ? v.values.map(Math.fround) : v.values;
        expect([k, Array.from(t.data)]).toEqual([k, expected]);
      }
      expect(r.info('f16.permuted').dtype).toBe('F16');
      expect(r.info('i64.view').dtype).toBe('I64');
    } finally {
      await r.close();
    }
  });

  test('the legacy (non-zip) format gets a clear error', async () => {
    await expect(openCheckpoint(path.join(dir, 'legacy.bin'))).rejects.toThrow(/legacy\.bin: legacy \(non-zip\) torch\.save format .*torch>=1\.6/);
  });
});
