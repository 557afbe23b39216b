import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { setupBackend } from '@altclip/backend';
import { tmpDir } from '@altclip/test-utils';
import { crc32c, decodeEvent, encodeEvent, parseLoggers, readEventFile, readTfRecords, tfRecord, train, TrainConfig, resolveStage, TbEvent } from '../src';
import { makeToy, toyData } from './toy';

beforeAll(async () => {
  await setupBackend({ backend: 'cpu' });
});

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('TFRecord and Event encoding', () => {
  test('CRC32C matches the published check values (RFC 3720 B.4, "123456789")', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
  });

  test('records are byte-identical to tensorboard.summary.writer.record_writer.RecordWriter', () => {
    // Python: RecordWriter(BytesIO()).write(b'hello'); .write(b'') (tensorboard 2.21).
    expect(hex(Buffer.concat([tfRecord(Buffer.from('hello')), tfRecord(Buffer.alloc(0))]))).toBe(
      '0500000000000000eab2043e68656c6c6fbb1f1c19' + '000000000000000029039807d8ea82a2',
    );
  });

  // Expected bytes: event_pb2.Event(...).SerializeToString() from tensorboard 2.21's own protobufs.
  const cases: Array<[string, TbEvent, string]> = [
    ['file_version', { wallTime: 1234.5, step: 0, fileVersion: 'brain.Event:2' }, '0900000000004a93401a0d627261696e2e4576656e743a32'],
    [
      'scalars (simple_value)',
      { wallTime: 1.25, step: 300, scalars: [{ tag: 'loss', value: 0.5 }, { tag: 'eval/acc1', value: 0.1 }] },
      '09000000000000f43f10ac022a1f0a0b0a046c6f7373150000003f0a100a096576616c2f6163633115cdcccc3d',
    ],
    // tensorboard.plugins.text.summary_v2.text_pb('config', '{"a": 1}')
    ['text', { wallTime: 2, step: 5, texts: [{ tag: 'config', text: '{"a": 1}' }] }, '09000000000000004010052a240a220a06636f6e666967420e0807120042087b2261223a20317d4a080a060a0474657874'],
    ['session_log START', { wallTime: 3, step: 7, sessionStart: true }, '09000000000000084010073a020801'],
  ];
  test.each(cases)('%s event is byte-identical to protobuf serialization and decodes back', (_name, ev, expected) => {
    const bytes = encodeEvent(ev);
    expect(hex(bytes)).toBe(expected);
    const back = decodeEvent(bytes);
    expect(back.step).toBe(ev.step);
    expect(back.wallTime).toBe(ev.wallTime);
    expect(back.fileVersion).toBe(ev.fileVersion);
    expect(back.texts).toEqual(ev.texts);
    expect(back.scalars?.map((s) => [s.tag, s.value])).toEqual(ev.scalars?.map((s) => [s.tag, Math.fround(s.value)]));
  });

  test('steps beyond 2^31 encode as a correct varint', () => {
    const step = 2 ** 40 + 3;
    expect(decodeEvent(encodeEvent({ wallTime: 1, step })).step).toBe(step);
  });

  test('a corrupted byte anywhere in a record is detected', () => {
    const file = Buffer.concat([tfRecord(encodeEvent(cases[1][1])), tfRecord(encodeEvent(cases[0][1]))]);
    expect(readTfRecords(file)).toHaveLength(2);
    for (const at of [3, 9, 20, file.length - 2]) {
      const bad = Buffer.from(file);
      bad[at] ^= 0x10;
      expect(() => readTfRecords(bad, 'x.tfevents')).toThrow(/x\.tfevents: .*(checksum mismatch|cut short)/);
    }
    expect(() => readTfRecords(file.subarray(0, file.length - 1))).toThrow(/cut short/);
  });
});

describe('--logger', () => {
  test('parses lists and comma-separated names; jsonl is always on; unknown names are refused', () => {
    expect([...parseLoggers(undefined)]).toEqual(['jsonl']);
    expect([...parseLoggers('tensorboard')].sort()).toEqual(['jsonl', 'tensorboard']);
    expect([...parseLoggers('jsonl, tensorboard')].sort()).toEqual(['jsonl', 'tensorboard']);
    expect([...parseLoggers(['jsonl', 'tensorboard'])].sort()).toEqual(['jsonl', 'tensorboard']);
    expect(() => parseLoggers('tensorbord')).toThrow(/--logger: unknown logger 'tensorbord'/);
    expect(() => resolveStage('distill', {}, { batchSize: 2, lr: 1, steps: 1, logger: 'wandb' })).toThrow(/unknown logger 'wandb'/);
  });
});

const base: TrainConfig = {
  seed: 3, batchSize: 4, steps: 6, lr: 0.05, schedule: 'cosine', warmup: 1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, gradClip: 1.0, logEvery: 2, evalEvery: 3,
};

function runOnce(runDir: string, config: TrainConfig, resume?: string, stopAfter?: number) {
  const toy = makeToy(5);
  const data = toyData(8);
  let calls = 0;
  return train({
    task: toy.task, params: toy.params, config, runDir, resume, progress: false, log: () => undefined,
    data: stopAfter === undefined ? data : { size: data.size, batch: (i) => { if (++calls === stopAfter + 1) process.emit('SIGTERM' as any); return data.batch(i); } },
    evaluate: async (step) => ({ acc1: step / 100, n: 8 }),
  }).finally(() => toy.dispose());
}

// every run of this file under one temporary folder, removed at the end
const root = tmpDir('tb-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const eventFiles = (runDir: string) => fs.readdirSync(path.join(runDir, 'tensorboard')).filter((f) => f.startsWith('events.out.tfevents.')).sort().map((f) => path.join(runDir, 'tensorboard', f));
const jsonl = (runDir: string) => fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('trainer with --logger tensorboard', () => {
  test('every metrics.jsonl field is a scalar at its step, eval results too, and the config is a text summary', async () => {
    const runDir = path.join(root, 'tb', 'run');
    await runOnce(runDir, { ...base, logger: 'tensorboard' });
    const files = eventFiles(runDir);
    expect(files).toHaveLength(1);
    expect(path.basename(files[0])).toMatch(/^events\.out\.tfevents\.\d{10}\..+/);
    const events = readEventFile(files[0]);
    expect(events[0].fileVersion).toBe('brain.Event:2');
    const config = events.flatMap((e) => e.texts ?? []);
    expect(config).toHaveLength(1);
    expect(JSON.parse(config[0].text)).toEqual(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')));

    const got = new Map<string, number>();
    for (const e of events) for (const s of e.scalars ?? []) got.set(`${s.tag}@${e.step}`, s.value);
    const want = new Map<string, number>();
    for (const rec of jsonl(runDir)) {
      for (const [k, v] of Object.entries(rec)) {
        if (k === 'step') continue;
        if (typeof v === 'number') want.set(`${k}@${rec.step}`, Math.fround(v));
        else for (const [ek, ev] of Object.entries(v as object)) want.set(`${k}/${ek}@${rec.step}`, Math.fround(ev));
      }
    }
    expect(want.has('loss@2') && want.has('grad_norm@6') && want.has('eval/acc1@3') && want.has('eval/acc1@6')).toBe(true);
    expect(got).toEqual(want);
  });

  test('without --logger no event files are written', async () => {
    const runDir = path.join(root, 'tb-off', 'run');
    await runOnce(runDir, { ...base, steps: 2 });
    expect(fs.existsSync(path.join(runDir, 'tensorboard'))).toBe(false);
    expect(jsonl(runDir).length).toBeGreaterThan(0);
  });

  test('a resumed run opens a new file that starts with SessionLog.START at the first redone step', async () => {
    const runDir = path.join(root, 'tb-resume', 'run');
    const cfg = { ...base, logger: ['tensorboard'], checkpointEvery: 2 };
    const r1 = await runOnce(runDir, cfg, undefined, 3);
    expect(r1.status).toBe('interrupted');
    await runOnce(runDir, cfg, 'latest');
    const files = eventFiles(runDir);
    expect(files).toHaveLength(2);
    const second = readEventFile(files[1]);
    expect(second[0].fileVersion).toBe('brain.Event:2');
    expect(second[1]).toMatchObject({ sessionStart: true, step: r1.step + 1 });
    expect(second.some((e) => e.texts)).toBe(false);
    expect(Math.min(...second.filter((e) => e.scalars).map((e) => e.step))).toBeGreaterThan(r1.step);
  });
});

// The real reader, when the torch venv with tensorboard is installed (see README: Development).
const PY = process.env.ALTCLIP_TB_PYTHON ?? '/opt/torch2/bin/python';
const hasTensorboard = fs.existsSync(PY) && spawnSync(PY, ['-c', 'import tensorboard'], { stdio: 'ignore' }).status === 0;
if (!hasTensorboard) console.warn(`tensorboard.test: skipping the EventAccumulator check (no python with tensorboard at ${PY}; set ALTCLIP_TB_PYTHON)`);

(hasTensorboard ? test : test.skip)('TensorBoard EventAccumulator reads the scalars, eval results and config text', async () => {
  const runDir = path.join(root, 'tb-real', 'run');
  await runOnce(runDir, { ...base, logger: 'jsonl,tensorboard' });
  const script = `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0, 'tensors': 0})
ea.Reload()
t = ea.Tags()
out = {'scalars': {k: [[e.step, e.value] for e in ea.Scalars(k)] for k in t['scalars']},
       'text': [e.tensor_proto.string_val[0].decode() for e in ea.Tensors('config')] if 'config' in t['tensors'] else []}
print(json.dumps(out))`;
  const r = spawnSync(PY, ['-c', script, path.join(runDir, 'tensorboard')], { encoding: 'utf8' });
  expect(r.stderr.replace(/.*(Warning|warn|TensorFlow installation not found).*\n?/gi, '')).toBe('');
  const out = JSON.parse(r.stdout);
  const recs = jsonl(runDir);
  const losses = recs.filter((x) => 'loss' in x).map((x) => [x.step, Math.fround(x.loss)]);
  expect(out.scalars.loss).toEqual(losses);
  expect(out.scalars['eval/acc1']).toEqual(recs.filter((x) => x.eval).map((x) => [x.step, Math.fround(x.eval.acc1)]));
  expect(Object.keys(out.scalars).sort()).toEqual([...new Set(recs.flatMap((x) => Object.keys(x).filter((k) => k !== 'step' && k !== 'eval')).concat(['eval/acc1', 'eval/n']))].sort());
  expect(JSON.parse(out.text[0])).toEqual(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')));
}, 60_000);
