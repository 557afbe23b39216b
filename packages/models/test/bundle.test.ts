import { setupBackend } from '@altclip/backend';
import { fixture } from '@altclip/test-utils';
import { loadModelBundle } from '@altclip/models';

beforeAll(() => setupBackend({ backend: 'cpu' }));

test('an AltCLIP folder without tokenizer files fails at load, saying what is missing', async () => {
  // altclip-tiny ships config + weights only; CLIP ids used to be guessed and failed later as "token id 49406 outside the vocabulary"
  await expect(loadModelBundle(fixture('altclip-tiny'))).rejects.toThrow(
    /altclip-tiny: cannot load the tokenizer .*no tokenizer \(looked for sentencepiece\.bpe\.model.*AltCLIP model needs .*--tokenizer/,
  );
});

test('neither a folder nor a hub id', async () => {
  await expect(loadModelBundle('./no/such/model')).rejects.toThrow(/no such model folder, and not a Hugging Face hub id/);
});

test('a relative path under a folder that exists here is a missing folder, not a hub id to download', async () => {
  const fs = await import('fs');
  const { tmpDir } = await import('@altclip/test-utils');
  const dir = tmpDir('altclip-bundle-');
  const cwd = process.cwd();
  fs.mkdirSync(`${dir}/runs`);
  process.chdir(dir);
  try {
    await expect(loadModelBundle('runs/nonexistent')).rejects.toThrow('runs/nonexistent: no such folder (runs/ exists here, so this is a local path, not a Hugging Face hub id)');
  } finally {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
