// Zero-shot image classification from an ES module (docs/use-from-another-project.md). The packages are
// CommonJS; Node reads their named exports (cjs-module-lexer), so a named import works. An .mjs file may also
// use top-level await; an async main() keeps it the same as index.cjs.
//
//   node index.mjs MODEL_DIR IMAGE [LABEL ...]
import { zeroShotImageClassification } from '@altclip/eval';

async function main() {
  const [modelDir, image, ...rest] = process.argv.slice(2);
  if (!modelDir || !image) throw new Error('usage: node index.mjs MODEL_DIR IMAGE [LABEL ...]');
  const labels = rest.length > 0 ? rest : ['cat', 'dog', 'car'];
  const classify = await zeroShotImageClassification(modelDir); // sets up the best backend, opens the folder
  try {
    const ranked = await classify(image, labels); // [{ label, score }], best first, scores sum to 1
    console.log(JSON.stringify(ranked));
  } finally {
    classify.dispose();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
