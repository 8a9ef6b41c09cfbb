export { loadNativeKernels, type NativeKernel, type NativeKernels, type NativeLoad } from './load.js';
