// Zero-shot image classification from a TypeScript project (docs/use-from-another-project.md). The same source
// compiles to CommonJS (index.ts, or a package without "type": "module") and to an ES module (index.mts, or
// "type": "module") with "module": "nodenext"; "module": "commonjs" works too.
//
//   npx tsc && node dist/index.js MODEL_DIR IMAGE [LABEL ...]
import { zeroShotImageClassification, LabelScore } from '@altclip/eval';

async function main(): Promise<void> {
  const [modelDir, image, ...rest] = process.argv.slice(2);
  if (!modelDir || !image) throw new Error('usage: node dist/index.js MODEL_DIR IMAGE [LABEL ...]');
  const labels = rest.length > 0 ? rest : ['cat', 'dog', 'car'];
  const classify = await zeroShotImageClassification(modelDir); // sets up the best backend, opens the folder
  try {
    const ranked: LabelScore[] = await classify(image, labels); // best first, scores sum to 1
    console.log(JSON.stringify(ranked));
  } finally {
    classify.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
