// Builds native/*.cc into build/convnets_native.node against the system's oneDNN (Debian: libdnnl-dev)
// and Node's own Node-API headers (they ship with Node: nothing is downloaded). Runs on install and on build.
//
// The addon is optional: without oneDNN's headers, Node's headers or a C++ compiler this prints one line,
// records why in build/skipped.txt (the loader reports it) and exits 0, and @convnets/backend keeps its wasm
// kernels. CONVNETS_NATIVE_REQUIRED=1 (CI) makes a skip or a failed compile an error instead.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// One file per operation family plus addon.cc; the headers (kernels.h, the interface the wasm build shares) count too.
const nativeDir = path.join(root, 'native');
const files = readdirSync(nativeDir).sort();
const sources = files.filter((f) => f.endsWith('.cc')).map((f) => path.join(nativeDir, f));
const headers = files.filter((f) => f.endsWith('.h')).map((f) => path.join(nativeDir, f));
const outDir = path.join(root, 'build');
const target = path.join(outDir, 'convnets_native.node');
const stamp = path.join(outDir, 'stamp.txt');
const skipped = path.join(outDir, 'skipped.txt');
const required = process.env.CONVNETS_NATIVE_REQUIRED === '1';
const sourcesHash = createHash('sha256');
for (const file of [...sources, ...headers]) sourcesHash.update(`${path.basename(file)}\n`).update(readFileSync(file));
const sourcesDigest = sourcesHash.digest('hex');
const NAME = '@convnets/backend-native';

/** Stops without building; an addon built from these same sources stays (a compiler may be gone since). */
function skip(reason) {
  mkdirSync(outDir, { recursive: true });
  const current =
    existsSync(target) && existsSync(stamp) && readFileSync(stamp, 'utf8').startsWith(`${sourcesDigest}\n`);
  if (current) {
    console.log(`${NAME}: ${reason}; keeping the addon already built from these sources`);
    process.exit(0);
  }
  rmSync(target, { force: true });
  rmSync(stamp, { force: true });
  writeFileSync(skipped, `${reason}\n`);
  const line = `${NAME}: not built: ${reason}; @convnets/backend uses its wasm kernels`;
  if (required) {
    console.error(`${line} (CONVNETS_NATIVE_REQUIRED=1)`);
    process.exit(1);
  }
  console.log(line);
  process.exit(0);
}

/** A command's `--version` line, or '' where it does not run. */
const version = (cmd) => {
  try {
    return execFileSync(cmd, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch {
    return '';
  }
};

const nodeInclude = path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node');
const dnnlRoots = [process.env.DNNL_ROOT, '/usr', '/usr/local'].filter(Boolean);
const dnnlRoot = dnnlRoots.find((r) => existsSync(path.join(r, 'include/oneapi/dnnl/dnnl.hpp')));
const compiler = [process.env.CXX, 'g++', 'c++', 'clang++'].filter(Boolean).find((cmd) => version(cmd));
// g++ threads the plain loops with OpenMP's libgomp, the runtime oneDNN uses; Debian's clang has no libgomp
// front end (only LLVM's libomp, not installed with it), so with clang the loops run on one thread.
const openmp = compiler && !version(compiler).includes('clang') ? ['-fopenmp'] : ['-Wno-unknown-pragmas'];

if (!dnnlRoot) skip("oneDNN's headers are missing (apt-get install --no-install-recommends libdnnl-dev g++)");
if (!existsSync(path.join(nodeInclude, 'node_api.h')))
  skip(`Node's headers are missing (no ${nodeInclude}/node_api.h)`);
if (!compiler) skip('no C++ compiler (apt-get install --no-install-recommends g++, or set CXX)');

const args = [
  '-O3',
  // Built where it runs (on install), so it may use this CPU's vector width; no FMA contraction, so the
  // float operations round as tfjs's do.
  '-march=native',
  '-std=c++17',
  '-shared',
  '-fPIC',
  '-Wall',
  '-Werror',
  '-ffp-contract=off',
  ...openmp,
  '-DNODE_GYP_MODULE_NAME=convnets_native',
  `-I${nodeInclude}`,
  `-I${path.join(dnnlRoot, 'include')}`,
  ...sources,
  `-L${path.join(dnnlRoot, 'lib')}`,
  '-ldnnl',
];
const key = `${sourcesDigest}\n${createHash('sha256')
  .update(JSON.stringify([compiler, args, process.versions.napi]))
  .digest('hex')}`;
if (existsSync(target) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) process.exit(0);

mkdirSync(outDir, { recursive: true });
const partial = `${target}.${process.pid}.tmp`;
try {
  execFileSync(compiler, [...args, '-o', partial], { stdio: ['ignore', 'ignore', 'pipe'] });
} catch (err) {
  rmSync(partial, { force: true });
  const detail =
    String(err.stderr ?? err.message)
      .split('\n')
      .find((l) => l.includes('error')) ?? String(err.message);
  skip(`${compiler} failed: ${detail.trim()}`);
}
renameSync(partial, target);
writeFileSync(stamp, key);
rmSync(skipped, { force: true });
console.log(
  `${NAME}: built build/convnets_native.node ` +
    `(${version(compiler)}${openmp[0] === '-fopenmp' ? ', OpenMP' : ', one thread for its own loops'})`,
);
