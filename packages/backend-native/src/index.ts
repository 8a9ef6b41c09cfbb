export {
  loadNativeKernels,
  type NativeKernels,
  type NativeLoad,
  type ConvGeometry,
  type MaxPoolGeometry,
  type ElementwiseOp,
} from './load.js';
