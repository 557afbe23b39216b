/**
 * The README's library snippets as a program, so that they are known to compile and run (examples/test checks
 * that the README shows these lines, with './AltCLIP', 'cat.jpg' and './clip-vit-large-patch14' for the arguments).
 *
 *   node examples/dist/readme.js MODEL_DIR IMAGE [CLIP_TEXT_DIR] [OUT_DIR]
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@altclip/backend';
import { AltCLIPModel, CLIPTextModelWithProjection, clipLoss } from '@altclip/models';
import { XLMRobertaTokenizer } from '@altclip/tokenizers';
import { ImageProcessor, loadImage } from '@altclip/image';
import { zeroShotImageClassification, LabelScore } from '@altclip/eval';
import { parseArgs, runIfMain } from './args';

/** README "Models": load, tokenize, preprocess, features, forward, loss, save, teacher. */
export async function modelsSnippet(modelDir: string, imageFile: string, teacherDir: string | undefined, outDir: string) {
  // README:models:begin
  await setupBackend();                                                 // the best TensorFlow.js backend here
  const model = await AltCLIPModel.fromPretrained(modelDir);         // or new AltCLIPModel(getModelConfig('altclip-small'), { seed: 0 })
  const tokenizer = await XLMRobertaTokenizer.fromPretrained(modelDir);
  const processor = ImageProcessor.fromPretrained(modelDir);         // its preprocessor_config.json
  const enc = tokenizer.encode(['一只猫的照片', 'a photo of a dog'], { padding: 'longest' });
  const inputIds = tf.tensor2d(enc.inputIds, undefined, 'int32');       // [B, L]
  const attentionMask = tf.tensor2d(enc.attentionMask, undefined, 'int32');
  const px = processor.processBatch([await loadImage(imageFile)]);
  const pixelValues = tf.tensor4d(px.data, px.shape);                   // float32 NCHW [1, 3, 224, 224]
  const text = model.getTextFeatures(inputIds, attentionMask);          // [B, 768], not normalised
  const image = model.getImageFeatures(pixelValues);                    // [1, 768]
  const out = model.forward({ inputIds, attentionMask, pixelValues, outputHiddenStates: true });
  const probs = tf.softmax(out.logitsPerImage);                         // [1, B]: HF logits_per_image.softmax(-1)
  // out.logitsPerText / textEmbeds / imageEmbeds (normalised) / textModelOutput / visionModelOutput
  const loss = clipLoss(out.logitsPerText);                             // HF clip_loss; distillationLoss(student, target) = MSE
  await model.save(outDir);                                       // config.json + model.safetensors (AltCLIPModel.from_pretrained loads it; checked with transformers 5.18)
  // README:models:end
  const result = { probs: Array.from(probs.dataSync()), textShape: text.shape, imageShape: image.shape, loss: loss.dataSync()[0] };
  tf.dispose([inputIds, attentionMask, pixelValues, text, image, probs, loss, out.logitsPerImage, out.logitsPerText, out.textEmbeds, out.imageEmbeds]);
  model.dispose();
  if (teacherDir) {
    // README:teacher:begin
    const teacher = await CLIPTextModelWithProjection.fromPretrained(teacherDir); // also from a full CLIPModel folder
    // README:teacher:end
    teacher.dispose();
  }
  return result;
}

/** README "Evaluation and inference": the zero-shot one-liner. */
export async function pipelineSnippet(modelDir: string, imageFile: string): Promise<{ ranked: LabelScore[]; zh: LabelScore[] }> {
  // README:pipeline:begin
  const classify = await zeroShotImageClassification(modelDir);      // backend + model + tokenizer + preprocessor
  const ranked = await classify(imageFile, ['cat', 'dog', 'car']);      // [{ label: 'cat', score: 0.97 }, ...], best first
  const zh = await classify(imageFile, ['猫', '狗', '汽车'], { hypothesisTemplate: '一张{}的照片。' });
  // default template 'This is a photo of {}.'; an image is a path, a Buffer or a decoded image, or pass an array
  // README:pipeline:end
  classify.dispose();
  return { ranked, zh };
}

export async function main(argv: string[]) {
  const [modelDir, imageFile, teacherDir, outDir] = parseArgs(argv).positional;
  if (!modelDir || !imageFile) throw new Error('usage: node examples/dist/readme.js MODEL_DIR IMAGE [CLIP_TEXT_DIR] [OUT_DIR]');
  const models = await modelsSnippet(modelDir, imageFile, teacherDir, outDir ?? 'my-model');
  const pipeline = await pipelineSnippet(modelDir, imageFile);
  console.log(JSON.stringify({ models, pipeline }, null, 2));
  return { models, pipeline };
}

runIfMain(module, main);
