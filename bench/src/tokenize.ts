/**
 * Tokenizer throughput on synthetic EN/ZH captions: XLM-R (SentencePiece unigram) and CLIP BPE, captions/s.
 * Reference in the same run, when available: the C++ sentencepiece (Debian python3-sentencepiece) encoding the
 * same captions with the same model.
 *
 *   npm run bench -- tokenize [--n 100000] [--spm path/to/sentencepiece.bpe.model] [--python /usr/bin/python3]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLIPTokenizer, XLMRobertaTokenizer } from '@altclip/tokenizers';

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

const EN_SUBJECTS = ['a dog', 'two cats', 'a young boy', 'an old man', 'a red car', 'three horses', 'a chef', 'a surfer', 'a little girl', 'a white bird'];
const EN_ACTIONS = ['running on', 'sleeping on', 'standing near', 'jumping over', 'looking at', 'walking along', 'playing in', 'waiting at'];
const EN_PLACES = ['the grass', 'a couch', 'the beach', 'a fence', 'the window', 'the river', 'the park', 'the bus stop', 'a snowy slope'];
const ZH_SUBJECTS = ['一只狗', '两只猫', '一个小男孩', '一位老人', '一辆红色的汽车', '三匹马', '一名厨师', '一个小女孩'];
const ZH_ACTIONS = ['在草地上奔跑', '在沙发上睡觉', '在海边散步', '在公园里玩耍', '在窗台上晒太阳', '在河边钓鱼'];

function captions(n: number): string[] {
  let s = 12345;
  const r = (k: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % k;
  };
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      const t = `${EN_SUBJECTS[r(10)]} ${EN_ACTIONS[r(8)]} ${EN_PLACES[r(9)]}`;
      out.push(r(3) === 0 ? `A photo of ${t}.` : t);
    } else out.push(`${ZH_SUBJECTS[r(8)]}${ZH_ACTIONS[r(6)]}${r(2) ? '。' : ''}`);
  }
  return out;
}

function time(label: string, n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  const rate = n / sec;
  console.log(`${label.padEnd(44)} ${sec.toFixed(2).padStart(7)} s  ${Math.round(rate).toLocaleString('en-US').padStart(10)} captions/s`);
  return rate;
}

async function main(): Promise<void> {
  const n = Number(arg('n', '100000'));
  const repo = path.resolve(__dirname, '..', '..');
  const candidates = [arg('spm'), path.join(repo, '..', 'shared', 'fixtures', 'xlmr', 'spm.model'), path.join(repo, 'datasets', 'demo-spm', 'sentencepiece.bpe.model')];
  const spmPath = candidates.find((p) => p && fs.existsSync(p));
  if (!spmPath) throw new Error('no SentencePiece model found; pass --spm');
  const texts = captions(n);
  console.log(`${n.toLocaleString('en-US')} captions (half English, half Chinese); SentencePiece model ${spmPath}`);

  const xlmr = await XLMRobertaTokenizer.fromFile(spmPath);
  const batch = 256;
  const ours = time('XLM-R encode (ours, batches of 256, max 77)', n, () => {
    for (let i = 0; i < n; i += batch) xlmr.encode(texts.slice(i, i + batch), { maxLength: 77, padding: 'longest' });
  });

  const clip = await CLIPTokenizer.load();
  time('CLIP BPE encode (ours, cold cache)', n, () => {
    for (let i = 0; i < n; i += batch) clip.encode(texts.slice(i, i + batch), { truncate: true });
  });
  time('CLIP BPE encode (ours, warm cache)', n, () => {
    for (let i = 0; i < n; i += batch) clip.encode(texts.slice(i, i + batch), { truncate: true });
  });

  const python = arg('python', '/usr/bin/python3')!;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tok-bench-'));
  try {
    const file = path.join(tmp, 'captions.txt');
    fs.writeFileSync(file, texts.join('\n'));
    const script = [
      'import sys, time, sentencepiece as spm',
      'sp = spm.SentencePieceProcessor(model_file=sys.argv[1])',
      'texts = open(sys.argv[2], encoding="utf-8").read().split("\\n")',
      't = time.perf_counter()',
      'for i in range(0, len(texts), 256): sp.encode(texts[i:i + 256])',
      'print(time.perf_counter() - t)',
    ].join('\n');
    const res = spawnSync(python, ['-c', script, spmPath, file], { encoding: 'utf8' });
    if (res.status !== 0) {
      console.log(`reference skipped: ${python} with sentencepiece not available (${(res.stderr || String(res.error)).trim().split('\n').pop()})`);
      return;
    }
    const sec = Number(res.stdout.trim());
    const ref = n / sec;
    console.log(`${'sentencepiece C++ encode (reference)'.padEnd(44)} ${sec.toFixed(2).padStart(7)} s  ${Math.round(ref).toLocaleString('en-US').padStart(10)} captions/s`);
    console.log(`ratio ours / reference (XLM-R): ${(ours / ref).toFixed(2)}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
