import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BACKEND_NAMES, BackendUnavailableError, initBackend, type BackendRequest } from '@convnets/backend';
import { createModel, getModelInfo } from '@convnets/architectures';
import { pytorchModel } from '@convnets/export/pytorch';
import { Command, InvalidArgumentError } from 'commander';
import { benchmark, forwardFlops, type BenchResult } from '../benchmark.js';
import { nonNegativeInt, positiveInt, positiveNumber, type Io } from '../io.js';
import { imageSizeOption, modelOption } from '../options.js';

interface BenchFlags {
  model: string;
  imageSize: number;
  batchSize: number;
  inChannels: number;
  backends: string[];
  seconds: number;
  warmup: number;
  torch?: boolean;
  torchScript: string;
  python: string;
  json?: boolean;
}

/** The PyTorch side, shipped in this package's python/ (seen from src/commands or dist/commands). */
const DEFAULT_TORCH_SCRIPT = fileURLToPath(new URL('../../python/torch_bench.py', import.meta.url));

function backendList(value: string): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !BACKEND_NAMES.includes(n as BackendRequest));
  if (names.length === 0 || bad.length)
    throw new InvalidArgumentError(`Expected a comma-separated list of ${BACKEND_NAMES.join(', ')}; got '${value}'.`);
  return names;
}

/**
 * The same net in PyTorch: its model.py (what `convnets export --format pytorch` writes) in a temporary folder, run
 * by the PyTorch script. Both sides then train exactly the same layers at the same sizes.
 */
async function torchResult(flags: BenchFlags, flops: number): Promise<BenchResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-bench-'));
  try {
    const modelPy = path.join(dir, 'model.py');
    writeFileSync(modelPy, await benchModelSource(flags));
    return await runTorch(flags, modelPy, flops);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchModelSource({ model, imageSize, inChannels }: BenchFlags): Promise<string> {
  const classes = Array.from({ length: 10 }, (_, i) => String(i));
  const net = createModel(model, { numClasses: classes.length, inChannels, inputSize: imageSize });
  try {
    const [mean, std] = [new Array(inChannels).fill(0), new Array(inChannels).fill(1)];
    const card = { model, inputSize: imageSize, inChannels, classes, mean, std };
    return await pytorchModel(net, card);
  } finally {
    net.dispose();
  }
}

async function runTorch(flags: BenchFlags, modelPy: string, flops: number): Promise<BenchResult> {
  const args = [
    flags.torchScript,
    '--model-py',
    modelPy,
    '--batch-size',
    String(flags.batchSize),
    '--seconds',
    String(flags.seconds),
    '--warmup',
    String(flags.warmup),
  ];
  // PyTorch at its best: glibc would hand its large buffers back to the OS after every step of a short
  // run (2-2.5x slower per step here); a long run stops doing so on its own, raising these thresholds.
  const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: String(1 << 30), MALLOC_TRIM_THRESHOLD_: String(1 << 30) };
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(flags.python, args, { maxBuffer: 1 << 20, env }));
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `--torch: ${flags.python} could not run the PyTorch benchmark (apt-get ` +
        `install -y python3-torch): ${(e.stderr || e.message).trim().split('\n').pop()}`,
    );
  }
  const r = JSON.parse(stdout) as { trainImagesPerSec: number; inferImagesPerSec: number };
  return {
    backend: 'torch',
    trainImagesPerSec: r.trainImagesPerSec,
    inferImagesPerSec: r.inferImagesPerSec,
    gflops: (r.trainImagesPerSec * 3 * flops) / 1e9,
    inferGflops: (r.inferImagesPerSec * flops) / 1e9,
  };
}

function table(results: BenchResult[], flags: BenchFlags, flops: number): string {
  const torch = results.find((r) => r.backend === 'torch');
  const header = [
    'backend',
    'train img/s',
    'infer img/s',
    'train GFLOP/s',
    'infer GFLOP/s',
    ...(torch ? ['train vs torch', 'infer vs torch'] : []),
  ];
  const rows = results.map((r) => [
    r.backend,
    r.trainImagesPerSec.toFixed(1),
    r.inferImagesPerSec.toFixed(1),
    r.gflops.toFixed(2),
    r.inferGflops.toFixed(2),
    ...(torch
      ? [
          `${(r.trainImagesPerSec / torch.trainImagesPerSec).toFixed(2)}x`,
          `${(r.inferImagesPerSec / torch.inferImagesPerSec).toFixed(2)}x`,
        ]
      : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `${flags.model} at ${flags.imageSize}x${flags.imageSize}x${flags.inChannels}, batch ` +
      `${flags.batchSize}; forward ${(flops / 1e9).toFixed(3)} GFLOP/image, a training step counted as 3x`,
    line(header),
    ...rows.map(line),
  ].join('\n');
}

export function benchCommand(io: Io): Command {
  return imageSizeOption(new Command('bench'), 'input height and width', 32)
    .description('measure training and inference images/s per backend (and PyTorch with --torch), side by side')
    .addOption(modelOption('resnet18'))
    .option('--batch-size <n>', 'images per step', positiveInt, 32)
    .option('--in-channels <n>', 'input channels (1: the main job, MNIST)', positiveInt, 3)
    .option('--backends <list>', 'comma-separated backends to measure', backendList, ['cpu', 'wasm'])
    .option('--seconds <s>', 'minimum measuring time per backend and mode', positiveNumber, 5)
    .option('--warmup <n>', 'untimed steps before measuring each mode (compiles, caches, tiers up)', nonNegativeInt, 3)
    .option('--torch', 'also run the same net in PyTorch (needs /usr/bin/python3 with torch)')
    .option('--torch-script <path>', 'the PyTorch benchmark script', DEFAULT_TORCH_SCRIPT)
    .option('--python <path>', 'Python with torch', '/usr/bin/python3')
    .option(
      '--json',
      'print {model, imageSize, batchSize, forwardFlops, results: [{backend, trainImagesPerSec, inferImagesPerSec, gflops, inferGflops}]}',
    )
    .action(async (flags: BenchFlags) => {
      // Bad input fails before any measuring.
      getModelInfo(flags.model);
      if (flags.torch && !existsSync(flags.torchScript)) {
        throw new Error(`--torch: the PyTorch script ${flags.torchScript} does not exist (pass --torch-script)`);
      }
      const results: BenchResult[] = [];
      let flops = 0;
      for (const backend of flags.backends) {
        // A backend this machine lacks (no GPU, say) is named with its reason; the others are still measured.
        const info = await initBackend(backend as BackendRequest).catch((err: unknown) => {
          if (!(err instanceof BackendUnavailableError) || flags.backends.length === 1) throw err;
          io.err(`skipping ${backend}: ${err.skipped.map((s) => s.reason).join('; ')}`);
        });
        if (!info) continue;
        flops ||= forwardFlops(flags.model, flags.imageSize, flags.inChannels);
        if (!flags.json) io.err(`measuring ${info.label} ...`);
        const result = await benchmark({
          model: flags.model,
          imageSize: flags.imageSize,
          batchSize: flags.batchSize,
          inChannels: flags.inChannels,
          seconds: flags.seconds,
          warmup: flags.warmup,
        });
        results.push({ ...result, backend: info.name });
      }
      if (flags.torch) {
        if (!flops) {
          await initBackend('cpu');
          flops = forwardFlops(flags.model, flags.imageSize, flags.inChannels);
        }
        if (!flags.json) io.err('measuring torch ...');
        results.push(await torchResult(flags, flops));
      }
      if (flags.json) {
        io.out(
          JSON.stringify({
            model: flags.model,
            imageSize: flags.imageSize,
            batchSize: flags.batchSize,
            inChannels: flags.inChannels,
            forwardFlops: flops,
            results,
          }),
        );
      } else {
        io.out(table(results, flags, flops));
      }
    });
}
