import * as tf from '@tensorflow/tfjs-core';
import { Command, CommanderError } from 'commander';
import { benchCommand } from './commands/bench.js';
import { compareCommand } from './commands/compare.js';
import { dataCommand } from './commands/data.js';
import { doctorCommand } from './commands/doctor.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand, predictCommand } from './commands/interop.js';
import { VERSION } from './version.js';
import { plotCommand } from './commands/plot.js';
import { notebookCommand } from './commands/notebook.js';
import { weightsCommand } from './commands/pretrained.js';
import { trainCommand } from './commands/train.js';
import { modelsCommand, summaryCommand } from './commands/summary.js';
import { processIo, type Io } from './io.js';

// Production mode: no debug checks, and no tfjs banners on the user's terminal.
tf.env().set('PROD', true);

export function createProgram(processOrTestIo: Io = processIo): Command {
  // This program's own view of io, so that --verbose (read before each command runs) stays with it.
  const io: Io = { ...processOrTestIo, verbose: false };
  const program = new Command('convnets')
    .description('Build, train, inspect and share the modern convnets (AlexNet ... DenseNet) on tfjs.')
    .version(VERSION, '-V, --version', 'print the version')
    .option(
      '--verbose',
      "also print what backend probes said (Dawn's and Vulkan's messages) and why backends were skipped",
    )
    .hook('preAction', () => {
      io.verbose = program.opts().verbose === true;
    })
    .showHelpAfterError()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  for (const command of [
    trainCommand(io),
    notebookCommand(io),
    evalCommand(io),
    predictCommand(io),
    exportCommand(io),
    summaryCommand(io),
    modelsCommand(io),
    benchCommand(io),
    compareCommand(io),
    dataCommand(io),
    weightsCommand(io),
    plotCommand(io),
    doctorCommand(io),
  ])
    program.addCommand(command);
  // Every command, nested ones included, reports through `io` and returns instead of exiting.
  const configure = (command: Command): void => {
    command.configureOutput({ writeOut: io.out, writeErr: io.err }).showHelpAfterError().exitOverride();
    command.commands.forEach(configure);
  };
  program.commands.forEach(configure);
  return program;
}

/**
 * What a failure says. A WebAssembly trap (`memory access out of bounds`, `divide by zero`) in a kernel of native or
 * wasm names nothing a user can act on; the usual cause is tensors outgrowing wasm's 4 GB heap, where both keep them
 * (ResNet-18 training at 224 px, batch 128, does), so the message says that and what to change.
 */
export function errorMessage(err: unknown): string {
  if (err instanceof WebAssembly.RuntimeError)
    return (
      `${err.message} (a WebAssembly kernel failed; most often the step's tensors outgrew wasm's 4 GB heap, where ` +
      'the native and wasm backends keep them: try a smaller --batch-size or --image-size)'
    );
  return err instanceof Error ? err.message : String(err);
}

/** Runs the CLI and returns its exit code: 0 on success, 1 when the command fails, 2 on bad usage. */
export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    await createProgram(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    // Commander has already printed its own message (bad flag, missing argument, --help).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    // Anything else is a failure of the command itself: say what, without a stack unless asked.
    io.err(`error: ${errorMessage(err)}`);
    if (process.env.CONVNETS_DEBUG && err instanceof Error) io.err(err.stack ?? '');
    return 1;
  }
}
