/**
 * torchvision's AlexNet (torchvision/models/alexnet.py), registered as `torchvision/alexnet`: 64-192-384-256-256
 * channels, an adaptive 6x6 average pool (any input from 63 px), dropout before each hidden layer, and its module
 * names (`features.*`, `classifier.*`), so that its state dicts — ImageNet's weights — load by name.
 */
import { AdaptiveAvgPool2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@convnets/nn';
import { TORCHVISION_WEIGHTS } from './torchvision-weights.js';
import { type ModelInfo, type ModelOptions, checked, linearHead, resolveOptions } from './options.js';

/** ImageNet's 1000 classes unless told otherwise. */
export function torchvisionAlexnet(options: ModelOptions = {}): Sequential {
  const opts = resolveOptions('torchvision/alexnet', options, 224, 1000);
  const features = new Sequential(
    new Conv2d(opts.inChannels, 64, 11, { stride: 4, padding: 2 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Conv2d(64, 192, 5, { padding: 2 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Conv2d(192, 384, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(384, 256, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(256, 256, 3, { padding: 1 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
  );
  const classifier = new Sequential(
    new Dropout(0.5),
    new Linear(256 * 6 * 6, 4096),
    new ReLU(),
    new Dropout(0.5),
    new Linear(4096, 4096),
    new ReLU(),
    new Linear(4096, opts.numClasses),
  );
  const net = Sequential.named({
    features,
    avgpool: new AdaptiveAvgPool2d(6),
    flatten: new Flatten(), // torch.flatten in torchvision's forward: no parameters, no state-dict key
    classifier,
  });
  return checked('torchvision/alexnet', net, opts);
}

export const torchvisionAlexnetInfo: ModelInfo = {
  name: 'torchvision/alexnet',
  description: "torchvision's AlexNet (ImageNet layout and module names)",
  defaultInputSize: 224,
  build: (o) => torchvisionAlexnet(o),
  pretrained: TORCHVISION_WEIGHTS.alexnet,
  head: linearHead(1, 'classifier.6'), // avgpool, flatten and the classifier
};
