// Trains ResNet-18 for a few steps on CUDA. Add the GPU backend first (it is not in the workspace install,
// because its install step downloads libtensorflow); see README.md.
import '@tensorflow/tfjs-node-gpu';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@convnets/backend';
import { createModel } from '@convnets/architectures';

const info = await initBackend('tensorflow');
console.log(`backend: ${info.backend} (${info.details.package})`);

const net = createModel('resnet18', { inputSize: 32, numClasses: 10, seed: 0 }).train();
const optimizer = tf.train.sgd(0.05);
const x = tf.randomNormal([64, 32, 32, 3]);
const y = tf.oneHot(
  tf.tensor1d(
    Array.from({ length: 64 }, (_, i) => i % 10),
    'int32',
  ),
  10,
);
for (let step = 1; step <= 20; step++) {
  const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, net.forward(x)), true, net.parameters());
  console.log(`step ${step}: loss ${loss.dataSync()[0].toFixed(4)}`);
  loss.dispose();
}
