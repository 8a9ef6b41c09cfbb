/**
 * WebGPU in Node: Dawn's bindings (the optional npm package `webgpu`) installed as `navigator.gpu`, with WebGPU's
 * globals (GPUBufferUsage, ...) that tfjs-backend-webgpu reads when it is imported. The one place that mends
 * tfjs 4.22's device request for Dawn. Browsers use `gpu-browser` instead (the package's `browser` field).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describeImportFailure, importOptional } from './optional.js';
import type { Adapter, Gpu } from './webgpu.js';

/** tfjs drops its adapter once it has a device; Dawn's node bindings then lose the device when it is collected. */
const keptAdapters: Adapter[] = [];
let installed: Promise<Gpu> | undefined;

/** `navigator.gpu` from Dawn, installed once; throws saying what is missing. */
export function platformGpu(): Promise<Gpu> {
  installed ??= install();
  return installed.catch((err) => {
    installed = undefined;
    throw err;
  });
}

async function install(): Promise<Gpu> {
  const loader = vulkanLoaderMissing();
  if (loader) throw new Error(loader);
  let dawn: { create(options: string[]): Gpu; globals: Record<string, unknown> };
  try {
    dawn = (await importOptional('webgpu')) as typeof dawn;
  } catch (err) {
    throw new Error(`${describeImportFailure('webgpu', err)}: Dawn's WebGPU for Node, which runs tfjs's webgpu here`);
  }
  Object.assign(globalThis, dawn.globals);
  const gpu = mendDeviceRequest(dawn.create([]));
  const host = globalThis as { navigator?: object };
  host.navigator ??= {}; // Node 20 has no navigator; 21+ has one without gpu
  Object.defineProperty(host.navigator, 'gpu', { value: gpu, configurable: true });
  return gpu;
}

/**
 * tfjs 4.22 asks for `requiredFeatures: ['timestamp-query', ['bgra8unorm-storage']]` (an array inside the list,
 * which browsers stringify and Dawn's node bindings reject): the list is flattened. Adapters are also kept alive.
 */
function mendDeviceRequest(gpu: Gpu): Gpu {
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = async (options) => {
    const adapter = await requestAdapter(options);
    if (!adapter) return adapter;
    keptAdapters.push(adapter);
    const requestDevice = adapter.requestDevice.bind(adapter);
    adapter.requestDevice = (descriptor = {}) =>
      requestDevice({ ...descriptor, requiredFeatures: [...(descriptor.requiredFeatures ?? [])].flat() });
    return adapter;
  };
  return gpu;
}

/**
 * On Linux Dawn reaches GPUs through the Vulkan loader (libvulkan.so.1); without it Dawn prints a warning and finds
 * nothing. Looked for where the dynamic linker would (LD_LIBRARY_PATH, ld.so.conf's folders, the usual ones), so
 * that a machine without Vulkan gets a reason instead of the warning.
 */
function vulkanLoaderMissing(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const folders = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    ...ldConfFolders(),
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    '/usr/lib64',
    '/usr/lib',
    '/lib64',
    '/usr/local/lib',
  ];
  if (folders.some((folder) => existsSync(path.join(folder, 'libvulkan.so.1')))) return undefined;
  return (
    'the Vulkan loader (libvulkan.so.1) is not installed, so Dawn can reach no GPU: install it and your GPU ' +
    "driver's Vulkan support (Debian/Ubuntu: apt-get install libvulkan1 mesa-vulkan-drivers, or the NVIDIA driver)"
  );
}

function ldConfFolders(): string[] {
  const dir = '/etc/ld.so.conf.d';
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.conf'))
      .flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n'))
      .map((line) => line.trim())
      .filter((line) => line.startsWith('/'));
  } catch {
    return [];
  }
}
