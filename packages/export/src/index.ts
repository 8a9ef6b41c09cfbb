export { toOnnx, ONNX_OPSETS, CARD_METADATA_KEY, type OnnxOptions } from './onnx/index.js';
export { ONNX_LAYERS, ONNX_KERNELS } from './onnx/layers.js';
export { UnsupportedKernelError } from './errors.js';
