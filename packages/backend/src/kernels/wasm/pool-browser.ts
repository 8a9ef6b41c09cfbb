/**
 * The browser's stand-in for `pool-node` (swapped in by the package's `browser` field): a page's main
 * thread may not block on Atomics.wait, so convnets' wasm kernels run on one thread there.
 */
import type { Pool, PoolOptions } from './pool-node.js';

export type { Pool, PoolOptions };

export async function startPool(_options: PoolOptions): Promise<Pool | null> {
  return null;
}
