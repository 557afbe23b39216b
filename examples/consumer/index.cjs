// Zero-shot image classification from a CommonJS project that installed the AltCLIP-TS packages
// (docs/use-from-another-project.md). CommonJS has no top-level await, so the work runs in an async main().
//
//   node index.cjs MODEL_DIR IMAGE [LABEL ...]
'use strict';
const { zeroShotImageClassification } = require('@altclip/eval');

async function main() {
  const [modelDir, image, ...rest] = process.argv.slice(2);
  if (!modelDir || !image) throw new Error('usage: node index.cjs MODEL_DIR IMAGE [LABEL ...]');
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
