import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean cross-entropy of logits [N, K] against integer labels [N], as `nn.CrossEntropyLoss`
 * (with `label_smoothing`: the target puts 1 - s on the label and s / K on every class).
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1]!;
    const logProbs = tf.logSoftmax(logits as tf.Tensor2D);
    let target: tf.Tensor = tf.oneHot(labels as tf.Tensor1D, k);
    if (labelSmoothing > 0) target = tf.add(tf.mul(target, 1 - labelSmoothing), labelSmoothing / k);
    return tf.neg(tf.mean(tf.sum(tf.mul(target, logProbs), 1))) as tf.Scalar;
  });
}

/** Number of rows whose arg-max equals the label. */
export function correctCount(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')) as tf.Scalar);
}
