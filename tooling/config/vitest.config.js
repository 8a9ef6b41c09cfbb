// Shared Vitest settings: tests import sibling packages from their TypeScript sources
// (the "@convnets/source" export condition), so a change is tested without a rebuild.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { defineConfig } from 'vitest/config';

// WebGPU tests run on a real adapter: with no Vulkan driver chosen, Chromium's SwiftShader (Debian's `chromium`
// ships its Vulkan ICD) is given to Dawn. Set before the test processes start, as the dynamic linker reads it then.
// A machine whose VK_ICD_FILENAMES is set already keeps its own.
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(swiftshader)) {
  process.env.VK_ICD_FILENAMES = swiftshader;
  process.env.LD_LIBRARY_PATH = ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}

// oneDNN's OpenMP threads spin after each parallel region by default: fine for one training run, but with every
// package's tests on 2 cores the spinning threads take the cores from the work (a 10 s native test took 124 s beside
// the others). Sleeping at once costs a native test nothing measurable alone. A machine's own setting is kept.
process.env.OMP_WAIT_POLICY ??= 'passive';

// CONVNETS_TEST_TIMINGS=DIR: each package also writes its tests' durations to DIR/<package>.json (Vitest's JSON
// reporter), which `node tooling/scripts/slowest-tests.mjs DIR` ranks; .ci/run prints the top ten.
const timings = process.env.CONVNETS_TEST_TIMINGS;
export const reporters = timings
  ? ['default', ['json', { outputFile: join(timings, `${basename(process.cwd())}.json`) }]]
  : ['default'];

const conditions = ['@convnets/source', 'module', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['node', 'import', 'default'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // A guard against hangs, never a speed check: turborepo runs every package's tests at once on CI's 2 cores.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters,
  },
});
