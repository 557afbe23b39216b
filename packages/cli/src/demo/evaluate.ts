import * as tf from '@tensorflow/tfjs-core';
import { ClassificationDataset, datasetLoader } from '@altclip/data';
import { evaluateZeroShot, retrievalMetrics, textFeatures, zeroShotClassifier, zeroShotMetrics } from '@altclip/eval';
import { loadModelBundle } from '@altclip/models';
import { CaptionSpec, Lang, LANGS, templates } from './captions';
import { DemoData, galleryCaptions } from './data';
import type { RetrievalRow, StageScores } from './report';

/** A view of some items of a dataset (the demo's class-balanced test cut). */
export function subsetDataset(ds: ClassificationDataset, indices: number[], name = `${ds.name}[${indices.length}]`): ClassificationDataset {
  return {
    name,
    size: indices.length,
    classNames: ds.classNames,
    labels: Int32Array.from(indices, (i) => ds.labels[i]),
    getImage: (i) => ds.getImage(indices[i]),
  };
}

export interface EvalDetails {
  zeroShot: Record<Lang, { acc1: number; acc5: number; meanPerClassRecall: number; n: number; imagesPerSecond: number }>;
  retrieval: Record<Lang, RetrievalRow & { galleries: number; imagesPerGallery: number; captionsPerImage: number }>;
  seconds: number;
}

/**
 * Scores a model folder the way the paper's Table 1 does, on the demo's held-out templates: zero-shot top-1 on the
 * test images in EN and ZH (@altclip/eval's evaluateZeroShot), and text<->image retrieval on galleries of one test
 * image per (class, tone), each image with every held-out caption; recalls are averaged over the galleries.
 */
export async function evaluateModelDir(dir: string, label: string, data: DemoData, spec: CaptionSpec, log: (l: string) => void): Promise<{ scores: StageScores; details: EvalDetails }> {
  const t0 = Date.now();
  const bundle = await loadModelBundle(dir);
  try {
    const { model, tokenizer, processor } = bundle;
    const test = subsetDataset(data.test, data.testIndices);
    // One pass over the images for both languages: the EN and ZH classifiers side by side, W [D, 2C].
    const C = spec.classes.en.length;
    const W = tf.tidy(() =>
      tf.concat(LANGS.map((lang) => zeroShotClassifier(model as any, tokenizer as any, spec.classes[lang], templates(spec, lang, true))), 1),
    ) as tf.Tensor2D;
    let last = 0;
    let r;
    try {
      r = await evaluateZeroShot({
        model: model as any,
        dataset: test,
        classifier: W,
        processor,
        batchSize: 250,
        keepLogits: true,
        onProgress: (p) => {
          if (p.phase === 'images' && (p.done === p.total || Date.now() - last > 10000)) {
            last = Date.now();
            log(`  ${label} zero-shot: ${p.done}/${p.total} test images (${p.rate.toFixed(0)}/s)`);
          }
        },
      });
    } finally {
      W.dispose();
    }
    const zs = {} as EvalDetails['zeroShot'];
    LANGS.forEach((lang, j) => {
      const logits = new Float32Array(r.n * C);
      for (let i = 0; i < r.n; i++) logits.set(r.logits!.subarray(i * 2 * C + j * C, i * 2 * C + (j + 1) * C), i * C);
      const m = zeroShotMetrics({ data: logits, shape: [r.n, C] }, r.labels!);
      zs[lang] = { acc1: m.acc1, acc5: m.acc5, meanPerClassRecall: m.meanPerClassRecall, n: r.n, imagesPerSecond: r.imagesPerSecond };
    });

    // Retrieval: image features of every gallery image once, then per gallery and language.
    const all = [...new Set(data.galleries.flatMap((g) => g.indices))];
    const row = new Map(all.map((i, k) => [i, k]));
    const loader = datasetLoader(data.test, processor);
    let d = 0;
    const feats: Float32Array[] = [];
    for (let s = 0; s < all.length; s += 250) {
      const batch = await loader(all.slice(s, s + 250));
      const f = tf.tidy(() => model.getImageFeatures(tf.tensor4d(batch.data, batch.shape)));
      d = f.shape[1];
      const flat = f.dataSync() as Float32Array;
      f.dispose();
      for (let r = 0; r < batch.indices.length; r++) feats.push(flat.slice(r * d, (r + 1) * d));
    }
    const ret = {} as EvalDetails['retrieval'];
    for (const lang of LANGS) {
      const sums = { t2i: [0, 0, 0], i2t: [0, 0, 0], mr: 0 };
      let perImage = 0;
      for (const g of data.galleries) {
        const texts: string[] = [];
        const t2i: number[] = [];
        for (const [k, idx] of g.indices.entries()) {
          const caps = await galleryCaptions(spec, data, lang, idx);
          perImage = caps.length;
          texts.push(...caps);
          t2i.push(...caps.map(() => k));
        }
        const textEmb = textFeatures(model as any, tokenizer as any, texts, { batchSize: 128 });
        const imageEmb = g.indices.map((i) => feats[row.get(i)!]);
        const m = retrievalMetrics(textEmb, imageEmb, Int32Array.from(t2i), [1, 5, 10]);
        [1, 5, 10].forEach((k, j) => {
          sums.t2i[j] += m.imageRetrievalRecall[k];
          sums.i2t[j] += m.textRetrievalRecall[k];
        });
        sums.mr += m.meanRecall;
      }
      const n = data.galleries.length;
      ret[lang] = {
        t2i: sums.t2i.map((v) => v / n) as [number, number, number],
        i2t: sums.i2t.map((v) => v / n) as [number, number, number],
        mr: sums.mr / n,
        galleries: n,
        imagesPerGallery: data.galleries[0]?.indices.length ?? 0,
        captionsPerImage: perImage,
      };
    }
    const seconds = (Date.now() - t0) / 1000;
    const scores: StageScores = {
      model: label,
      zeroShot: { en: zs.en.acc1, zh: zs.zh.acc1 },
      retrieval: { en: pickRow(ret.en), zh: pickRow(ret.zh) },
    };
    log(`  ${label}: zero-shot top-1 EN ${(100 * zs.en.acc1).toFixed(1)}%  ZH ${(100 * zs.zh.acc1).toFixed(1)}%; retrieval MR EN ${(100 * ret.en.mr).toFixed(1)}  ZH ${(100 * ret.zh.mr).toFixed(1)} (${seconds.toFixed(0)} s)`);
    return { scores, details: { zeroShot: zs, retrieval: ret, seconds } };
  } finally {
    bundle.dispose();
  }
}

function pickRow(r: RetrievalRow): RetrievalRow {
  return { t2i: r.t2i, i2t: r.i2t, mr: r.mr };
}
