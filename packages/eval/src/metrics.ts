import * as tf from '@tensorflow/tfjs-core';

/** A row-major [rows, cols] float matrix in any of the forms callers have at hand. */
export type Matrix = tf.Tensor2D | Float32Array[] | number[][] | { data: Float32Array; shape: [number, number] };

/** Reads a Matrix into a flat row-major Float32Array (one copy; tensors are read, not disposed). */
export function toFlat(m: Matrix): { data: Float32Array; rows: number; cols: number } {
  if (m instanceof tf.Tensor) {
    if (m.rank !== 2) throw new Error(`expected a 2-D tensor, got shape [${m.shape}]`);
    return { data: m.dataSync() as Float32Array, rows: m.shape[0], cols: m.shape[1] };
  }
  if (Array.isArray(m)) {
    const rows = m.length;
    const cols = rows ? m[0].length : 0;
    const data = new Float32Array(rows * cols);
    m.forEach((r, i) => {
      if (r.length !== cols) throw new Error(`row ${i} has ${r.length} values, row 0 has ${cols}`);
      data.set(r as ArrayLike<number>, i * cols);
    });
    return { data, rows, cols };
  }
  const [rows, cols] = m.shape;
  if (m.data.length !== rows * cols) throw new Error(`data length ${m.data.length} != ${rows}x${cols}`);
  return { data: m.data, rows, cols };
}

/** Rows scaled to unit L2 norm (F.normalize: divide by max(norm, 1e-12)), computed in float64, stored float32. */
export function normalizeRows(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += data[r * cols + c] ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let c = 0; c < cols; c++) out[r * cols + c] = data[r * cols + c] * inv;
  }
  return out;
}

/**
 * 0-based rank of column `target` in `row` under the tie convention used throughout this package: a descending
 * sort in which equal scores keep the lower index first (a stable sort; argmax picks the first maximum).
 * rank = #(scores strictly greater) + #(equal scores at a lower index).
 */
export function rankOf(row: ArrayLike<number>, offset: number, length: number, target: number): number {
  const v = row[offset + target];
  let rank = 0;
  for (let j = 0; j < length; j++) {
    const x = row[offset + j];
    if (x > v || (x === v && j < target)) rank++;
  }
  return rank;
}

export interface ZeroShotMetrics {
  acc1: number;
  /** NaN with fewer than 5 classes (as CLIP_benchmark). */
  acc5: number;
  /** sklearn balanced_accuracy_score: mean recall over the classes present in labels. */
  meanPerClassRecall: number;
}

/**
 * CLIP_benchmark's single-label metrics from [N, C] logits. acc@k: the label is among the k highest logits
 * (ties: lower class index first, deterministic; CLIP_benchmark's torch.topk order for exact ties is
 * unspecified). meanPerClassRecall: argmax (first maximum) per image, recall per class present in labels, mean.
 */
export function zeroShotMetrics(logits: Matrix, labels: Int32Array | number[]): ZeroShotMetrics {
  const { data, rows: n, cols: c } = toFlat(logits);
  if (labels.length !== n) throw new Error(`zeroShotMetrics: ${n} logit rows but ${labels.length} labels`);
  if (n === 0) throw new Error('zeroShotMetrics: no samples');
  let top1 = 0;
  let top5 = 0;
  const count = new Float64Array(c);
  const hit = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < c)) throw new Error(`zeroShotMetrics: label ${y} at row ${i} is outside [0, ${c})`);
    const rank = rankOf(data, i * c, c, y);
    if (rank < 1) top1++;
    if (rank < 5) top5++;
    count[y]++;
    if (rank === 0) hit[y]++; // rank 0 under lower-index-first ties == argmax (first maximum) == y
  }
  let sum = 0;
  let present = 0;
  for (let k = 0; k < c; k++) {
    if (count[k] > 0) {
      sum += hit[k] / count[k];
      present++;
    }
  }
  return { acc1: top1 / n, acc5: c >= 5 ? top5 / n : NaN, meanPerClassRecall: sum / present };
}

export interface RetrievalMetrics {
  /** Text -> image: mean over texts of [its image is in the top k]. */
  imageRetrievalRecall: Record<number, number>;
  /** Image -> text: mean over images of [at least one of its captions is in the top k]. */
  textRetrievalRecall: Record<number, number>;
  /** MR: mean of all the recalls above (the AltCLIP paper's MR / 100). */
  meanRecall: number;
  /** 0-based rank of each text's image among all images, and of each image's best caption among all texts. */
  rankT2I: Int32Array;
  rankI2T: Int32Array;
}

/**
 * CLIP_benchmark zero-shot retrieval metrics. Embeddings are L2-normalised here (raw features are fine);
 * scores = text . image (cosine). Scores are computed in float32 blocks with tf.matMul so memory stays at
 * block x N. Ties: lower index first (see rankOf).
 */
export function retrievalMetrics(textEmb: Matrix, imageEmb: Matrix, textToImage: Int32Array | number[], ks: number[] = [1, 5, 10]): RetrievalMetrics {
  const t = toFlat(textEmb);
  const im = toFlat(imageEmb);
  if (t.cols !== im.cols) throw new Error(`retrievalMetrics: text dim ${t.cols} != image dim ${im.cols}`);
  if (textToImage.length !== t.rows) throw new Error(`retrievalMetrics: ${t.rows} texts but ${textToImage.length} textToImage entries`);
  const nT = t.rows;
  const nI = im.rows;
  const d = t.cols;
  const captionsOf: number[][] = Array.from({ length: nI }, () => []);
  for (let j = 0; j < nT; j++) {
    const i = textToImage[j];
    if (!(i >= 0 && i < nI)) throw new Error(`retrievalMetrics: textToImage[${j}] = ${i} is outside [0, ${nI})`);
    captionsOf[i].push(j);
  }
  captionsOf.forEach((c, i) => {
    if (c.length === 0) throw new Error(`retrievalMetrics: image ${i} has no caption`);
  });
  const T = tf.tensor2d(normalizeRows(t.data, nT, d), [nT, d]);
  const I = tf.tensor2d(normalizeRows(im.data, nI, d), [nI, d]);
  const block = 512;
  const rankT2I = new Int32Array(nT);
  const rankI2T = new Int32Array(nI);
  try {
    for (let s = 0; s < nT; s += block) {
      const b = Math.min(block, nT - s);
      const scores = tf.tidy(() => tf.matMul(tf.slice(T, [s, 0], [b, d]), I, false, true)); // [b, nI]
      const data = scores.dataSync();
      scores.dispose();
      for (let r = 0; r < b; r++) rankT2I[s + r] = rankOf(data, r * nI, nI, textToImage[s + r]);
    }
    for (let s = 0; s < nI; s += block) {
      const b = Math.min(block, nI - s);
      const scores = tf.tidy(() => tf.matMul(tf.slice(I, [s, 0], [b, d]), T, false, true)); // [b, nT]
      const data = scores.dataSync();
      scores.dispose();
      for (let r = 0; r < b; r++) {
        let best = Infinity;
        for (const j of captionsOf[s + r]) best = Math.min(best, rankOf(data, r * nT, nT, j));
        rankI2T[s + r] = best;
      }
    }
  } finally {
    T.dispose();
    I.dispose();
  }
  const recall = (ranks: Int32Array, k: number) => {
    let h = 0;
    for (const r of ranks) if (r < k) h++;
    return h / ranks.length;
  };
  const imageRetrievalRecall: Record<number, number> = {};
  const textRetrievalRecall: Record<number, number> = {};
  let sum = 0;
  for (const k of ks) {
    imageRetrievalRecall[k] = recall(rankT2I, k);
    textRetrievalRecall[k] = recall(rankI2T, k);
    sum += imageRetrievalRecall[k] + textRetrievalRecall[k];
  }
  return { imageRetrievalRecall, textRetrievalRecall, meanRecall: sum / (2 * ks.length), rankT2I, rankI2T };
}

/** The seed / CLIP_benchmark JSON naming: image_retrieval_recall@k, text_retrieval_recall@k, MR. */
export function retrievalMetricsJson(m: RetrievalMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(m.imageRetrievalRecall)) {
    out[`image_retrieval_recall@${k}`] = m.imageRetrievalRecall[+k];
    out[`text_retrieval_recall@${k}`] = m.textRetrievalRecall[+k];
  }
  out.MR = m.meanRecall;
  return out;
}

/** CLIP_benchmark's zero-shot JSON naming (as FlagAI's AltCLIP evaluation writes it): acc1, acc5, mean_per_class_recall. */
export function zeroShotMetricsJson(m: ZeroShotMetrics): { acc1: number; acc5: number | null; mean_per_class_recall: number } {
  return { acc1: m.acc1, acc5: Number.isNaN(m.acc5) ? null : m.acc5, mean_per_class_recall: m.meanPerClassRecall };
}
