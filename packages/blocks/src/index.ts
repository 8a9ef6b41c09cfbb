export { vggBlock } from './vgg.js';
export { ninBlock } from './nin.js';
export { Inception } from './inception.js';
export { Residual, type ResidualOptions } from './residual.js';
export { convBlock, DenseBlock, transitionBlock } from './densenet.js';
export { stem, classifier4096 } from './heads.js';
export { BasicBlock, Bottleneck } from './torchvision-resnet.js';
export { BasicConv2d, TorchvisionInception } from './torchvision-googlenet.js';
export { denseLayer, denseTransition, TorchvisionDenseBlock } from './torchvision-densenet.js';
