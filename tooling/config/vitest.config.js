// Shared Vitest settings: tests import sibling packages from their TypeScript sources
// (the "@convnets/source" export condition), so a change is tested without a rebuild.
import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// WebGPU tests run on a real adapter: with no Vulkan driver chosen, Chromium's SwiftShader (Debian's `chromium`
// ships its Vulkan ICD) is given to Dawn. Set before the test processes start, as the dynamic linker reads it then.
// A machine whose VK_ICD_FILENAMES is set already keeps its own.
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(swiftshader)) {
  process.env.VK_ICD_FILENAMES = swiftshader;
  process.env.LD_LIBRARY_PATH = ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}

const conditions = ['@convnets/source', 'module', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['node', 'import', 'default'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
