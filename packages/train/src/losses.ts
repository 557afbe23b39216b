/**
 * The training losses, by name (`--loss`). A contrastive loss scores text and image features with the model's
 * logit_scale; a distillation loss compares the student's features with the teacher's. Adding one (SigLIP, a cosine
 * distillation) is one entry here plus its function.
 */
import * as tf from '@tensorflow/tfjs-core';
import { clipHead, clipLossTerms, distillationLoss } from '@altclip/models';

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
