import { reporters } from '@convnets/tooling/vitest';
import { defineConfig } from 'vitest/config';

// End-to-end: the built app in Debian's Chromium (WebGL2 on SwiftShader). Slow by nature: one file, long timeouts.
export default defineConfig({
  test: { include: ['e2e/**/*.e2e.test.ts'], reporters, testTimeout: 15 * 60_000, hookTimeout: 5 * 60_000 },
});
