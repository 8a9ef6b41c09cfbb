export { toOnnx, ONNX_OPSETS, CARD_METADATA_KEY, type OnnxOptions } from './onnx/index.js';
export { ONNX_LAYERS } from './onnx/layers.js';
export { UnsupportedLayerError } from './errors.js';
