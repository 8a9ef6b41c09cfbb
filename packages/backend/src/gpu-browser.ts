/** The browser's stand-in for `gpu-node` (swapped in by the package's `browser` field): the page's own WebGPU. */
import type { Gpu } from './webgpu.js';

export async function platformGpu(): Promise<Gpu> {
  const gpu = (globalThis.navigator as { gpu?: Gpu } | undefined)?.gpu;
  if (!gpu) throw new Error('WebGPU is not available here: this browser has no navigator.gpu');
  return gpu;
}
