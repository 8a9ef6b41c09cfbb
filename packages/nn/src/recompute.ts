/**
 * Activation checkpointing, as `torch.utils.checkpoint`: a forward whose blocks keep only their input for the
 * backward pass and run again, on the tape, when their gradient is needed. A training step then holds one block's
 * activations at a time instead of the whole net's, for one more forward of each block. The blocks are the
 * innermost modules made of others (a residual block, a DenseNet conv block, a stem): small enough that one block's
 * activations fit, big enough that only a few tensors between them are kept.
 *
 * The second run is the first's exactly: Dropout draws the same masks (its generator is set back), and what the
 * forward changes in the block's buffers (BatchNorm's running statistics) is set back to what the first run left.
 */
import * as tf from '@tensorflow/tfjs-core';
import { restoreGeneratorStates, generatorStates } from './generators.js';
import { gradients } from './backward.js';
import { BatchNorm2d } from './layers/batchnorm.js';
import type { Module } from './module.js';
import { traceForward } from './trace.js';

/** The innermost modules made of others: a module with children, none of which has children of its own. */
export function innermostBlocks(model: Module): Module[] {
  return [...model.namedModules()]
    .map(([, m]) => m)
    .filter((m) => m.children().length > 0 && m.children().every((c) => c.children().length === 0));
}

/**
 * `model.forward(x)` with each of `blocks` (default: `innermostBlocks(model)`) checkpointed. Call it where the
 * forward's gradient is taken (inside `gradients` or `tf.variableGrads`); elsewhere it is `leanForward`.
 */
export function recomputingForward(model: Module, x: tf.Tensor, blocks = innermostBlocks(model)): tf.Tensor {
  return forwardByBlocks(model, x, blocks, checkpoint);
}

/**
 * `model.forward(x)` for inference, holding one block's activations at a time: each block runs in a `tf.tidy` of its
 * own (a plain forward inside one tidy keeps every layer's output until it returns: at 224 px and a batch of 128,
 * more than wasm's heap holds). Not for a forward whose gradient is taken.
 */
export function leanForward(model: Module, x: tf.Tensor): tf.Tensor {
  return forwardByBlocks(model, x, innermostBlocks(model), (block, input, run) => tf.tidy(() => run(block, input)));
}

/** The model's forward, each of `blocks` run by `stand` (given the block's own forward) instead of directly. */
function forwardByBlocks(
  model: Module,
  x: tf.Tensor,
  blocks: Module[],
  stand: (block: Module, input: tf.Tensor, run: Run) => tf.Tensor,
): tf.Tensor {
  const chosen = new Set(blocks);
  let inside = false;
  // The block's own forward: inside a stand-in, the trace's wrapper of it runs the real one.
  const run = (block: Module, input: tf.Tensor) => {
    inside = true;
    try {
      return block.forward(input);
    } finally {
      inside = false;
    }
  };
  return traceForward(model, x, {
    enter: (block, _path, input) => (inside || !chosen.has(block) ? undefined : stand(block, input, run)),
  });
}

type Run = (block: Module, input: tf.Tensor) => tf.Tensor;

/** One block's output with a gradient that runs the block again on its kept input. */
function checkpoint(block: Module, x: tf.Tensor, run: Run): tf.Tensor {
  const params = block.trainableParameters();
  const buffers = [...block.namedBuffers()].map(([, b]) => b);
  const draws = generatorStates(block);
  const f = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor;
    // Not on the tape: a customGrad's forward runs as one kernel, its intermediates freed when it returns.
    const value = run(block, input);
    (args.at(-1) as tf.GradSaveFunc)([input]);
    return {
      value,
      gradFunc: (dy, saved) => {
        const after = buffers.map((b) => tf.clone(b));
        restoreGeneratorStates(block, draws);
        const { value: again, grads } = gradients(() => run(block, saved[0]!), [saved[0]!, ...params], {
          dy: dy as tf.Tensor,
        });
        again.dispose();
        for (const [i, b] of buffers.entries()) b.assign(after[i]!);
        tf.dispose(after);
        return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? saved[0]! : params[i - 1]!));
      },
    };
  });
  return f(x, ...params);
}

/**
 * `layers` (a chain, as a Sequential runs them) applied to `x` in passes of `chunk` images, checkpointed: the forward
 * keeps only the passes' outputs, and the backward runs each pass again on the tape with its share of the gradient,
 * summing the parameters' gradients as it makes them. A batch whose activations through `layers` would not fit goes
 * through them a pass at a time while what follows them sees the whole batch: a net's classifier then makes its
 * (large) weight gradients once per batch, and its Dropout draws the batch's masks, as in one pass. Refused where a
 * BatchNorm among `layers` trains: its statistics would be each pass's.
 */
export function chunkedForward(layers: Module[], x: tf.Tensor, chunk: number): tf.Tensor {
  refuseTrainingBatchNorm(
    layers.flatMap((layer) => [...layer.namedModules()]),
    `chunkedForward in passes of ${chunk}`,
  );
  const run = (input: tf.Tensor) => layers.reduce((h, layer) => layer.forward(h), input);
  const params = [...new Set(layers.flatMap((layer) => layer.trainableParameters()))];
  const size = x.shape[0]!;
  const passes = Array.from({ length: Math.ceil(size / chunk) }, (_, i) => [
    i * chunk,
    Math.min(chunk, size - i * chunk),
  ]);
  const f = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor;
    // Each pass's Dropout generators as they were before it: its run in the backward pass draws the same masks.
    const draws: Array<Array<Record<string, number>>> = [];
    const outputs = passes.map(([start, n]) => {
      draws.push(layers.map((layer) => generatorStates(layer)));
      return tf.tidy(() => run(tf.slice(input, start, n)));
    });
    const value = tf.concat(outputs, 0);
    tf.dispose(outputs);
    (args.at(-1) as tf.GradSaveFunc)([input]);
    return {
      value,
      gradFunc: (dy, saved) => {
        const after = layers.map((layer) => generatorStates(layer));
        let sums: Array<tf.Tensor | null> = params.map(() => null);
        const dxs = passes.map(([start, n], i) => {
          for (const [j, layer] of layers.entries()) restoreGeneratorStates(layer, draws[i]![j]!);
          const [xc, dyc] = [tf.slice(saved[0]!, start, n), tf.slice(dy as tf.Tensor, start, n)];
          const { value: again, grads } = gradients(() => run(xc), [xc, ...params], {
            dy: dyc,
            addTo: [null, ...sums],
          });
          sums = grads.slice(1);
          const dx = grads[0] ?? tf.zerosLike(xc);
          tf.dispose([again, xc, dyc]);
          return dx;
        });
        for (const [j, layer] of layers.entries()) restoreGeneratorStates(layer, after[j]!);
        const dx = tf.concat(dxs, 0);
        tf.dispose(dxs);
        return [dx, ...sums.map((g, i) => g ?? tf.zerosLike(params[i]!))];
      },
    };
  });
  return f(x, ...params);
}

/**
 * Throws where one of `modules` (path and module, as `namedModules` gives them) is a BatchNorm that trains: a step
 * that splits the batch (`what`) would give it each part's statistics, not the batch's.
 */
export function refuseTrainingBatchNorm(modules: Iterable<[string, Module]>, what: string): void {
  for (const [path, m] of modules)
    if (m instanceof BatchNorm2d && m.training)
      throw new RangeError(
        `${what}: ${path || 'the net'} is a BatchNorm layer in training mode, whose statistics would be each ` +
          "chunk's, not the batch's: train with a smaller batch instead",
      );
}
