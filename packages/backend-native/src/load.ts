/**
 * Loads the oneDNN addon that scripts/build-native.mjs built, or says why it cannot. Its kernels work in
 * place on a Float32Array over a heap (tfjs-wasm's memory), each with its argument struct (native/kernels.h).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * One kernel of the addon: the heap, then its argument struct (native/kernels.h) packed into 4-byte words, operands
 * as byte offsets into the heap (checked against it: an operand outside is a RangeError naming it).
 */
export type NativeKernel = (heap: Float32Array, args: Int32Array) => void;

export interface NativeKernels {
  /** oneDNN's version and threading runtime. */
  readonly version: string;
  readonly runtime: string;
  /** The kernels native/kernels.h's CONVNETS_NATIVE_KERNELS lists, by the names the wasm build exports them under. */
  readonly kernels: Readonly<Record<string, NativeKernel>>;
}

export type NativeLoad = { kernels: NativeKernels } | { missing: string };

const buildDir = new URL('../build/', import.meta.url);

let result: NativeLoad | undefined;

/**
 * The addon, loaded once per process. `threads` caps oneDNN's OpenMP threads (default: every core) and
 * takes effect only on the first call: OpenMP reads OMP_NUM_THREADS when the library loads.
 * CONVNETS_NATIVE=off in the environment turns the addon off; CONVNETS_NATIVE_REQUIRED=1 makes its
 * absence an error (thrown) instead of a reason to fall back (CI, where oneDNN is installed).
 */
export function loadNativeKernels(options: { threads?: number } = {}): NativeLoad {
  result ??= load(options);
  if ('missing' in result && process.env.CONVNETS_NATIVE_REQUIRED === '1') {
    throw new Error(`CONVNETS_NATIVE_REQUIRED=1, but ${result.missing}`);
  }
  return result;
}

function load({ threads }: { threads?: number }): NativeLoad {
  if (process.env.CONVNETS_NATIVE === 'off') return { missing: 'turned off by CONVNETS_NATIVE=off' };
  const file = fileURLToPath(new URL('convnets_native.node', buildDir));
  if (!existsSync(file)) {
    const why = fileURLToPath(new URL('skipped.txt', buildDir));
    const script = fileURLToPath(new URL('../scripts/build-native.mjs', import.meta.url));
    // No record at all: the install script never ran (pnpm 10 runs a dependency's only once approved).
    const reason = existsSync(why)
      ? readFileSync(why, 'utf8').trim()
      : `its build never ran (pnpm approve-builds, or node ${script})`;
    return { missing: `@convnets/backend-native is not built: ${reason}` };
  }
  if (threads !== undefined && process.env.OMP_NUM_THREADS === undefined)
    process.env.OMP_NUM_THREADS = String(Math.max(1, threads));
  try {
    const { info, ...kernels } = createRequire(import.meta.url)(file) as Record<string, NativeKernel> & {
      info(): { version: string; runtime: string };
    };
    const { version, runtime } = info();
    return { kernels: { version, runtime, kernels } };
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
    if (/libdnnl/.test(message))
      return {
        missing: `oneDNN's library is missing (apt-get install --no-install-recommends libdnnl-dev): ${message}`,
      };
    return { missing: `@convnets/backend-native failed to load: ${message}` };
  }
}
