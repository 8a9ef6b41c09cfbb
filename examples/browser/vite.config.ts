import { defineConfig } from 'vite';

// Relative asset URLs, so the built app works from any folder or static server. keepNames: the summary table
// and module printing show class names (Conv2d, BatchNorm2d, ...), which minification would mangle.
export default defineConfig({
  base: './',
  esbuild: { keepNames: true },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
});
