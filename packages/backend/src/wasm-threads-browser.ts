/**
 * The browser's stand-in for `wasm-threads-node` (swapped in by the package's `browser` field): browsers keep
 * tfjs's own loader, whose threads need cross-origin isolation. Nothing here touches Node's modules.
 */
export function installedWasmThreads(): number {
  return 0;
}

export function installThreadedWasm(): void {
  throw new Error('threaded wasm is set up by tfjs itself in browsers');
}

export function defaultWasmThreads(): number {
  return globalThis.navigator?.hardwareConcurrency ?? 1;
}
