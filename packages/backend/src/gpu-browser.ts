/** The browser's stand-in for `gpu-node` (swapped in by the package's `browser` field): the page's own WebGPU. */
import type { AdapterProbe } from './gpu-node.js';
import type { Gpu } from './webgpu.js';

export async function platformGpu(): Promise<Gpu> {
  const gpu = (globalThis.navigator as { gpu?: Gpu } | undefined)?.gpu;
  if (!gpu) throw new Error('WebGPU is not available here: this browser has no navigator.gpu');
  return gpu;
}

/** The page's adapter (a browser prints nothing to hide, so it is asked directly). */
export async function probeAdapter(): Promise<AdapterProbe> {
  const gpu = await platformGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  return { adapter, output: '' };
}
