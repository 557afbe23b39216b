/**
 * The training losses, by name (`--loss`). A contrastive loss scores text and image features with the model's
 * logit_scale; a distillation loss compares the student's features with the teacher's. Adding one (SigLIP, a cosine
 * distillation) is one entry here plus its function.
 */
import * as tf from '@tensorflow/tfjs-core';
import { clipHead, clipLossTerms, distillationLoss } from '@altclip/models';
import type { RowRange } from './grads';

export interface LossOutput {
  loss: tf.Scalar;
  /** Logged beside the loss. */
  terms: Record<string, tf.Scalar>;
}

/** Features of a whole (accumulated) batch -> its mean loss. */
export type ContrastiveLoss = (text: tf.Tensor2D, image: tf.Tensor2D, logitScale: tf.Tensor) => LossOutput;
export type DistillationLoss = (student: tf.Tensor2D, teacher: tf.Tensor2D) => LossOutput;

/** In-batch retrieval accuracy of logits [n, n] (text->image rows and image->text columns, averaged). */
export function inBatchAccuracy(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const n = logits.shape[0];
    const diag = tf.range(0, n, 1, 'int32');
    const t2i = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), diag), 'float32'));
    const i2t = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 0), diag), 'float32'));
    return tf.div(tf.add(t2i, i2t), 2) as tf.Scalar;
  });
}

export const CONTRASTIVE_LOSSES = {
  /** HF clip_loss: symmetric cross-entropy of the scaled cosine similarities, diagonal targets. */
  clip: (text, image, logitScale) => {
    const { logitsPerText } = clipHead(text, image, logitScale);
    const terms = clipLossTerms(logitsPerText);
    return { loss: terms.loss, terms: { text_loss: terms.textLoss, image_loss: terms.imageLoss, acc: inBatchAccuracy(logitsPerText) } };
  },
} satisfies Record<string, ContrastiveLoss>;

/**
 * open_clip's local loss (--local-loss) for rows [start, start + count) of the global batch: their texts against every
 * image and their images against every text ([count, B] logits each). Over all row ranges, weighted by count / B, it
 * sums to the CLIP loss of the batch (and `acc` to inBatchAccuracy), so data-parallel ranks get the same gradient
 * without each computing the B x B logits.
 */
export function clipLocalLoss(text: tf.Tensor2D, image: tf.Tensor2D, rows: RowRange, logitScale: tf.Tensor): LossOutput {
  return tf.tidy(() => {
    const mine = (x: tf.Tensor2D) => tf.slice(x, rows.start, rows.count);
    const t2i = clipHead(mine(text), image, logitScale).logitsPerText as tf.Tensor2D; // [count, B]
    const i2t = clipHead(mine(image), text, logitScale).logitsPerText as tf.Tensor2D; // [count, B]
    const target = tf.range(rows.start, rows.start + rows.count, 1, 'int32'); // [count]
    const ce = (l: tf.Tensor2D) => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(l, -1), tf.oneHot(target, l.shape[1])), -1))) as tf.Scalar;
    const hit = (l: tf.Tensor2D) => tf.mean(tf.cast(tf.equal(tf.argMax(l, 1), target), 'float32')) as tf.Scalar;
    const textLoss = ce(t2i);
    const imageLoss = ce(i2t);
    return { loss: tf.div(tf.add(textLoss, imageLoss), 2) as tf.Scalar, terms: { text_loss: textLoss, image_loss: imageLoss, acc: tf.div(tf.add(hit(t2i), hit(i2t)), 2) as tf.Scalar } };
  });
}

/** The contrastive losses that have a local form (--local-loss). */
export const CONTRASTIVE_LOCAL_LOSSES: Partial<Record<keyof typeof CONTRASTIVE_LOSSES, typeof clipLocalLoss>> = { clip: clipLocalLoss };

export const DISTILLATION_LOSSES = {
  /** The paper's stage 1: MSE between the student's feature and the teacher's (cosine logged). */
  mse: (s, t) => {
    const loss = distillationLoss(s, t);
    const cos = tf.tidy(() => tf.mean(tf.sum(tf.mul(tf.div(s, tf.norm(s, 2, 1, true)), tf.div(t, tf.norm(t, 2, 1, true))), 1)) as tf.Scalar);
    return { loss, terms: { mse: loss, cosine: cos } };
  },
} satisfies Record<string, DistillationLoss>;

export type ContrastiveLossName = keyof typeof CONTRASTIVE_LOSSES;
export type DistillationLossName = keyof typeof DISTILLATION_LOSSES;
export const CONTRASTIVE_LOSS_NAMES = Object.keys(CONTRASTIVE_LOSSES) as ContrastiveLossName[];
export const DISTILLATION_LOSS_NAMES = Object.keys(DISTILLATION_LOSSES) as DistillationLossName[];
