import type { CommandModule } from 'yargs';
import * as fs from 'fs';
import { assertOutput, convertToSafetensors, ConvertResult, isHubId, MODEL_PARTS, resolvePretrained, WriteProgress } from '@altclip/checkpoint';
import { addHfTokenizerFiles } from '@altclip/tokenizers';
import { optionsFromArgv, withOptions } from '../options';

export interface ConvertArgs {
  in: string;
  out: string;
  dtype: 'f32' | 'f16' | 'bf16';
}

const gb = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`);

/** Prints "tensors done / bytes" at most every 2 s, and always for the last tensor. */
function progressPrinter(log: (s: string) => void, everyMs = 2000): (p: WriteProgress) => void {
  let last = Date.now();
  return (p) => {
    const now = Date.now();
    if (p.tensorsDone < p.tensorsTotal && now - last < everyMs) return;
    last = now;
    const pct = p.bytesTotal ? ((100 * p.bytesDone) / p.bytesTotal).toFixed(0) : '100';
    log(`convert: ${p.tensorsDone}/${p.tensorsTotal} tensors, ${gb(p.bytesDone)} / ${gb(p.bytesTotal)} (${pct}%)`);
  };
}

/** The command's work, callable from tests; progress goes to stderr. */
export async function runConvert(args: ConvertArgs, log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<ConvertResult> {
  const dtype = args.dtype.toUpperCase() as 'F32' | 'F16' | 'BF16';
  // A folder (or hub id) converts into a folder; a file into a file, or into an existing folder.
  const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
  assertOutput(args.out, isHubId(args.in) || isDir(args.in) || /[\\/]$/.test(args.out) || isDir(args.out) ? 'folder' : 'file', '--out');
  // A hub id converts its snapshot folder (weights plus the config/tokenizer files copied along).
  const input = await resolvePretrained(args.in, { parts: MODEL_PARTS });
  const r = await convertToSafetensors(input, args.out, { dtype, onProgress: progressPrinter(log) });
  // A folder whose tokenizer is only sentencepiece.bpe.model or the openai .gz gains the files transformers reads.
  if (isDir(input)) r.copied.push(...(await addHfTokenizerFiles(args.out)));
  console.log(`wrote ${r.output}: ${r.tensors} tensors, ${gb(r.bytes)} (${dtype} floats) from ${r.input}`);
  if (r.copied.length) console.log(`copied ${r.copied.join(', ')}`);
  return r;
}

export const convertCommand: CommandModule = {
  command: 'convert',
  describe: 'Convert a pytorch_model.bin (or sharded / safetensors) checkpoint or model folder to model.safetensors',
  builder: (y) => withOptions(y, 'convert').example('$0 convert --in ./AltCLIP --out ./AltCLIP-st', 'convert a downloaded HF folder'),
  handler: async (argv) => {
    const a = optionsFromArgv('convert', argv);
    await runConvert({ in: a.in!, out: a.out!, dtype: a.dtype ?? 'f32' });
  },
};
