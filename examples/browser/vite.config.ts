import { defineConfig } from 'vite';

// Cross-origin isolation lets the page share memory with workers: tfjs-wasm then loads its threaded build and
// convnets' wasm kernels run on every core (one thread without these headers).
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// Relative asset URLs, so the built app works from any folder or static server. (No esbuild `keepNames`: it puts
// a helper call into every function, tfjs-wasm's module factory too, whose source its threads' workers re-run
// without the helper. nn's layers name themselves.)
export default defineConfig({
  base: './',
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
});
