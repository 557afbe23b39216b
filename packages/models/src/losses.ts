/** Training losses (HF clip_loss; stage-1 MSE distillation). All return scalar tensors (mean reduction). */
import * as tf from '@tensorflow/tfjs-core';

/** Mean cross-entropy of logits [N, C] against targets arange(N) (the diagonal). */
function diagonalCrossEntropy(logits: tf.Tensor2D): tf.Scalar {
  const n = logits.shape[0];
  const logp = tf.logSoftmax(logits, -1);
  const diag = tf.sum(tf.mul(logp, tf.eye(n, logits.shape[1])), -1);
  return tf.neg(tf.mean(diag)) as tf.Scalar;
}

export interface ClipLossTerms {
  loss: tf.Scalar;
  /** CE over rows of logits_per_text (text -> image). */
  textLoss: tf.Scalar;
  /** CE over rows of logits_per_image (image -> text). */
  imageLoss: tf.Scalar;
}

/** HF clip_loss: (CE(logits_per_text, arange) + CE(logits_per_text^T, arange)) / 2. */
export function clipLoss(logitsPerText: tf.Tensor2D): tf.Scalar {
  return clipLossTerms(logitsPerText).loss;
}

export function clipLossTerms(logitsPerText: tf.Tensor2D): ClipLossTerms {
  return tf.tidy(() => {
    const textLoss = diagonalCrossEntropy(logitsPerText);
    const imageLoss = diagonalCrossEntropy(tf.transpose(logitsPerText) as tf.Tensor2D);
    return { loss: tf.div(tf.add(textLoss, imageLoss), 2) as tf.Scalar, textLoss, imageLoss };
  });
}

/** F.mse_loss(student, target), mean over all elements. The target is treated as a constant. */
export function distillationLoss(student: tf.Tensor, target: tf.Tensor): tf.Scalar {
  if (student.shape.join() !== target.shape.join())
    throw new Error(`distillationLoss: student shape [${student.shape}] and target shape [${target.shape}] differ`);
  return tf.tidy(() => tf.mean(tf.squaredDifference(student, target)) as tf.Scalar);
}
