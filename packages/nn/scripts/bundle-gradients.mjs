// Builds dist/gradients.node.js: tfjs-core's gradient registration bundled into one file that plain
// Node ESM can load. The bundled copies of tfjs-core internals register into tfjs-core's global
// registries and engine (tfjs keeps those on globalThis), so they serve the app's single tfjs-core.
import { build } from 'esbuild';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');

await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'esm',
  minify: true,
  legalComments: 'inline',
  outfile: new URL('../dist/gradients.node.js', import.meta.url).pathname,
  logLevel: 'warning',
});
