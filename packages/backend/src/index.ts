export {
  initBackend,
  BackendUnavailableError,
  BACKEND_NAMES,
  type BackendName,
  type BackendRequest,
  type BackendInfo,
  type InitBackendOptions,
} from './init.js';
export {
  registerTrainingKernels,
  loadWasmKernels,
  setWasmKernelThreads,
  attachNativeKernels,
  NATIVE_KERNELS,
  TRAINING_KERNELS,
  type TrainingKernel,
} from './kernels/register.js';
export { moveTensors } from './move.js';
export { WasmHeapError } from './wasm-setup.js';
export { DeviceLostError, findWebgpuAdapter, throwIfDeviceLost, type WebgpuAdapter } from './webgpu.js';
export { conv2dFilterGrad, conv2dInputGrad } from './kernels/conv-grads.js';
