/** The openings and endings several notebook nets share, built once. */
import { BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, type Module, ReLU, Sequential } from '@convnets/nn';

/** The stem of ResNet and DenseNet: a 7x7 stride-2 convolution, batch norm, ReLU, a 3x3 stride-2 max-pool. */
export function stem(inChannels: number, channels: number): Sequential {
  return new Sequential(
    new Conv2d(inChannels, channels, 7, { stride: 2, padding: 3 }),
    new BatchNorm2d(channels),
    new ReLU(),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
  );
}

/**
 * The classifier of AlexNet and VGG: two 4096-wide hidden layers with ReLU and dropout 0.5, then the output layer.
 * The layers themselves (no Sequential around them), so a net's PyTorch names run on through them.
 */
export function classifier4096(inFeatures: number, numClasses: number): Module[] {
  return [
    new Linear(inFeatures, 4096),
    new ReLU(),
    new Dropout(0.5),
    new Linear(4096, 4096),
    new ReLU(),
    new Dropout(0.5),
    new Linear(4096, numClasses),
  ];
}
