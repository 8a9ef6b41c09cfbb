/**
 * The CLI's one way to start a backend: initBackend, and with `--verbose` what its probes printed (Dawn's and
 * Vulkan's messages, captured by @convnets/backend so that they stay off a plain run's stderr).
 */
import { BackendUnavailableError, initBackend, type BackendInfo, type BackendRequest } from '@convnets/backend';
import type { Io } from './io.js';

export async function startBackend(io: Io, request: BackendRequest): Promise<BackendInfo> {
  try {
    const info = await initBackend(request);
    showProbes(io, info.skipped);
    return info;
  } catch (err) {
    if (err instanceof BackendUnavailableError) showProbes(io, err.skipped);
    throw err;
  }
}

function showProbes(io: Io, skipped: BackendInfo['skipped']): void {
  if (!io.verbose) return;
  for (const { backend, reason, output } of skipped) {
    io.err(`${backend} skipped: ${reason}`);
    if (output) io.err(output.replace(/^/gm, `  ${backend} probe: `));
  }
}
