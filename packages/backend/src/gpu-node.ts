/**
 * WebGPU in Node: Dawn's bindings (the optional npm package `webgpu`) installed as `navigator.gpu`, with WebGPU's
 * globals (GPUBufferUsage, ...) that tfjs-backend-webgpu reads when it is imported. The one place that mends
 * tfjs 4.22's device request for Dawn. Browsers use `gpu-browser` instead (the package's `browser` field).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
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
    throw new Error(dawnMissing(err));
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

const dawnMissing = (err: unknown) =>
  `${describeImportFailure('webgpu', err)}: Dawn's WebGPU for Node, which runs tfjs's webgpu here`;

/**
 * What `probeAdapter` learnt: the adapter Dawn offers (null: Dawn found none; absent: `reason` says why Dawn could not
 * be asked) and what Dawn printed meanwhile.
 */
export interface AdapterProbe {
  adapter?: Adapter | null;
  reason?: string;
  /** Dawn's and Vulkan's messages (stdout and stderr of the probe), never printed here: for `--verbose`. */
  output: string;
}

/** Asks Dawn for an adapter and prints what it found as JSON; run in a child process by `probeAdapter`. */
const PROBE = `
const dawn = await import(process.argv[1]);
Object.assign(globalThis, dawn.globals);
const adapter = await dawn.create([]).requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
const i = adapter?.info ?? {};
const info = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
  isFallbackAdapter: i.isFallbackAdapter };
console.log('\\n@adapter ' + JSON.stringify(adapter && { info, isFallbackAdapter: adapter.isFallbackAdapter }));
process.exit(0);
`;

/**
 * For 'auto': the adapter Dawn would give, found without a word from Dawn on this process's stderr. Dawn is not
 * started at all where no GPU device exists (Linux without /dev/dri render nodes, /dev/nvidia0 or WSL's /dev/dxg,
 * and no Vulkan driver named in VK_ICD_FILENAMES: Mesa's drivers then offer at most a software adapter, and print
 * warnings on the way); elsewhere Dawn is asked in a child process whose output is captured.
 */
export function probeAdapter(): Promise<AdapterProbe> {
  probed ??= probe(); // the adapters a process can have do not change while it runs
  return probed;
}
let probed: Promise<AdapterProbe> | undefined;

async function probe(): Promise<AdapterProbe> {
  // A Vulkan driver named by the user is probed whatever the devices (a software one, or a GPU in a container).
  const named = process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES;
  const device = (named ? undefined : gpuDeviceMissing()) ?? vulkanLoaderMissing();
  if (device) return { reason: device, output: '' };
  let dawn: string;
  try {
    dawn = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch (err) {
    return { reason: dawnMissing(err), output: '' };
  }
  const run = promisify(execFile)(process.execPath, ['--input-type=module', '-e', PROBE, dawn], { timeout: 60_000 });
  const { stdout, stderr } = await run.catch((err: { stdout?: string; stderr?: string; message: string }) => ({
    stdout: err.stdout ?? '',
    stderr: `${err.stderr ?? ''}${err.message}`,
  }));
  const line = stdout.split('\n').find((l) => l.startsWith('@adapter '));
  const output = [stdout.replace(/^@adapter .*$/m, ''), stderr].join('').trim();
  if (!line) return { reason: `Dawn's adapter probe failed: ${output.split('\n').pop()}`, output };
  return { adapter: JSON.parse(line.slice('@adapter '.length)) as Adapter | null, output };
}

/** Why no GPU can be here (Linux: no device node a GPU driver makes), or undefined where one may be. */
function gpuDeviceMissing(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const dri = (() => {
    try {
      return readdirSync('/dev/dri').some((name) => name.startsWith('renderD'));
    } catch {
      return false;
    }
  })();
  if (dri || existsSync('/dev/nvidia0') || existsSync('/dev/dxg')) return undefined;
  return 'no GPU device here (no /dev/dri render node, /dev/nvidia0 or /dev/dxg), so Dawn was not started';
}
