import * as fs from 'fs';
import { resolvePretrained, SnapshotOptions } from '@altclip/checkpoint';

/** A tokenizer folder named by the user, or a hub id whose tokenizer files are fetched into the HF cache. */
export async function resolveTokenizerDir(spec: string, hub: SnapshotOptions = {}): Promise<string> {
  const dir = await resolvePretrained(spec, { parts: ['tokenizer'], ...hub });
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`tokenizer folder not found: ${spec} (nor a Hugging Face hub id org/name)`);
  return dir;
}
