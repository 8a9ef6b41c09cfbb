// Makes dist/gradients.js loadable by plain Node: tfjs-core's gradient registration bundled into one file.
// tsc's output (a bare import, right for bundlers) is kept as dist/gradients-browser.js. The bundled copies of
// tfjs-core internals register into tfjs-core's global registries and engine (tfjs keeps those on globalThis),
// so they serve the app's single tfjs-core.
import { rename } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
const dist = new URL('../dist/', import.meta.url);
await rename(new URL('gradients.js', dist), new URL('gradients-browser.js', dist));
await build({
  entryPoints: [require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  minify: true,
  legalComments: 'inline',
  outfile: new URL('gradients.js', dist).pathname,
  logLevel: 'warning',
});
