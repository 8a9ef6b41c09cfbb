// Trains ResNet-18 on real MNIST on CUDA, with the trainer every other backend uses. Add the GPU backend first (it
// is not in the workspace install, because its install step downloads libtensorflow); see README.md.
import '@tensorflow/tfjs-node-gpu';
import { initBackend } from '@convnets/backend';
import { createModel } from '@convnets/architectures';
import { DataLoader, compose, normalize, toTensor } from '@convnets/datasets';
import { loadMnist } from '@convnets/datasets/node';
import { Sgd, fit } from '@convnets/trainer';

const info = await initBackend('tensorflow');
console.log(`backend: ${info.backend} (${info.details.package})`);

const { train, test } = await loadMnist();
const { mean, std } = train.channelStats();
const transform = compose(toTensor(), normalize(mean, std));
const net = createModel('resnet18', { inputSize: 28, inChannels: 1, numClasses: 10, seed: 0 });
const { evaluation } = await fit(net, {
  train: new DataLoader(train, { batchSize: 128, shuffle: true, seed: 0, transform }),
  valid: new DataLoader(test, { batchSize: 500, transform }),
  epochs: 1,
  optimizer: new Sgd({ momentum: 0.9, weightDecay: 5e-4 }),
  lr: 0.05,
  onEpoch: (e) => console.log(`epoch ${e.epoch}: train loss ${e.trainLoss}, test accuracy ${e.validAcc}`),
});
console.log(`test accuracy ${(evaluation.accuracy * 100).toFixed(2)}%`);
net.dispose();
