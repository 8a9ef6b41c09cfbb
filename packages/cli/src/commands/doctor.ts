/**
 * `convnets doctor`: for each backend, whether it runs on this machine, exactly why not, and the command that fixes
 * it; then which one `auto` picks. Each backend is started for real (a check of prerequisites could pass where the
 * backend still fails).
 */
import { availableParallelism } from 'node:os';
import { BackendUnavailableError, initBackend, type BackendInfo, type BackendName } from '@convnets/backend';
import { Command } from 'commander';
import type { Io } from '../io.js';

export interface BackendCheck {
  backend: BackendName;
  /** ready: runs here; limited: runs, but `auto` passes it over; missing: cannot run here. */
  status: 'ready' | 'limited' | 'missing';
  /** What runs (the backend's label), or why it cannot. */
  detail: string;
  /** The command or step that makes it run (or run better), when there is one. */
  fix?: string;
}

/** The backends doctor checks, in `auto`'s order in Node. */
const CHECKED: readonly BackendName[] = ['tensorflow', 'webgpu', 'native', 'wasm', 'cpu'];

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** What fixes a backend that cannot start, from its reason. */
function fixFor(backend: BackendName, reason: string): string | undefined {
  switch (backend) {
    case 'native':
      if (/turned off/.test(reason)) return 'unset CONVNETS_NATIVE';
      return (
        'apt-get install -y --no-install-recommends libdnnl-dev g++, then rebuild the addon: ' +
        'npm rebuild @convnets/backend-native (pnpm: pnpm rebuild @convnets/backend-native)'
      );
    case 'webgpu':
      if (/webgpu is not installed/.test(reason)) return 'npm install webgpu @tensorflow/tfjs-backend-webgpu';
      if (/tfjs-backend-webgpu is not installed/.test(reason)) return 'npm install @tensorflow/tfjs-backend-webgpu';
      if (/Vulkan loader/.test(reason)) return "apt-get install -y libvulkan1, plus your GPU's Vulkan driver";
      if (/no adapter/.test(reason))
        return "install your GPU's driver with Vulkan support (NVIDIA's, or apt-get install -y mesa-vulkan-drivers)";
      return undefined;
    case 'tensorflow':
      if (NODE_MAJOR >= 23) return 'use Node 22 or earlier for tfjs-node, or the webgpu backend (no CUDA needed)';
      if (/CUDA|cuDNN/.test(reason))
        return 'install CUDA 11.2 and cuDNN 8.1 (libcudart.so.11.0, libcudnn.so.8), or use webgpu (no CUDA needed)';
      if (/not installed/.test(reason))
        return (
          'npm install @tensorflow/tfjs-node-gpu (needs CUDA 11.2 + cuDNN 8.1 and network access at install) ' +
          'or @tensorflow/tfjs-node; without CUDA, webgpu runs on any Vulkan/Metal/D3D12 GPU'
        );
      return undefined;
    default:
      return undefined;
  }
}

function readyCheck(backend: BackendName, info: BackendInfo): BackendCheck {
  if (backend === 'webgpu' && info.details.softwareAdapter)
    return {
      backend,
      status: 'limited',
      detail: `${info.label}: a CPU implementation of WebGPU, slower than native; 'auto' skips it`,
      fix: 'on a machine with a GPU, install its Vulkan driver (this one runs only when asked for: --backend webgpu)',
    };
  if (backend === 'wasm' && Number(info.details.threads) < availableParallelism())
    return {
      backend,
      status: 'limited',
      detail: `${info.label}: fewer threads than the ${availableParallelism()} cores`,
    };
  return { backend, status: 'ready', detail: info.label };
}

/** Starts each backend in turn and reports; then starts `auto`, which is left running. */
export async function checkBackends(): Promise<{ checks: BackendCheck[]; auto: BackendInfo }> {
  const checks: BackendCheck[] = [];
  for (const backend of CHECKED) {
    try {
      checks.push(readyCheck(backend, await initBackend(backend)));
    } catch (err) {
      if (!(err instanceof BackendUnavailableError)) throw err;
      let reason = err.skipped.map((s) => s.reason).join('; ');
      if (backend === 'tensorflow' && NODE_MAJOR >= 23)
        reason = `tfjs-node's native binding does not load on Node ${NODE_MAJOR} (23 and later); ${reason}`;
      checks.push({ backend, status: 'missing', detail: reason, fix: fixFor(backend, reason) });
    }
  }
  return { checks, auto: await initBackend('auto') };
}

export function doctorCommand(io: Io): Command {
  return new Command('doctor')
    .description('say which backends run here, why the others do not, and the command that fixes each')
    .option('--json', 'print {backends: [{backend, status, detail, fix}], auto: {backend, label, skipped}}')
    .action(async (flags: { json?: boolean }) => {
      const { checks, auto } = await checkBackends();
      if (flags.json) {
        const picked = { backend: auto.name, label: auto.label, skipped: auto.skipped };
        io.out(JSON.stringify({ backends: checks, auto: picked }));
        return;
      }
      for (const c of checks) {
        io.out(`${c.backend.padEnd(11)}${c.status.padEnd(9)}${c.detail}`);
        if (c.fix) io.out(`${' '.repeat(20)}fix: ${c.fix}`);
      }
      io.out(`auto picks: ${auto.label}`);
    });
}
