/**
 * Tracing a forward, as torch.fx does: the net's own `forward` runs, every module call on the way is seen (with its
 * dotted path, input and output), a hook may stand in for a module instead of running it, and the kernels run
 * between module calls (the `tf.add` and `tf.concat` that wire a block) are seen with their inputs and attributes.
 * Shapes, summaries, ONNX and model.py all come from this one reading of `forward`, so a block's wiring is written
 * once, in its `forward`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './module.js';

/** One kernel run by a traced forward: tfjs's kernel name, its named inputs and attributes, and its outputs. */
export interface KernelCall {
  kernel: string;
  inputs: Record<string, tf.Tensor>;
  attrs: Record<string, unknown>;
  outputs: tf.Tensor[];
}

export interface TraceHooks {
  /**
   * Before each module call, outermost first: a tensor to stand in for the module's output (its forward is not run,
   * nor anything below it), or undefined to run its forward.
   */
  enter?: (module: Module, path: string, x: tf.Tensor) => tf.Tensor | undefined;
  /** After each module call (run or stood in for): the output the net goes on with (`y`, or a tensor in its place). */
  exit?: (module: Module, path: string, x: tf.Tensor, y: tf.Tensor) => tf.Tensor;
  /** Each kernel run by a module's own `forward` (`path`: the innermost module running), not by a hook. */
  kernel?: (call: KernelCall, path: string) => void;
}

/**
 * `model.forward(x)` with `hooks` on every module call (`model` itself included, path '') and kernel. Call it inside
 * `tf.tidy`. The model is left exactly as it was: the wrappers are own properties over the class's method, deleted
 * after.
 */
export function traceForward(model: Module, x: tf.Tensor, hooks: TraceHooks): tf.Tensor {
  const stack: string[] = [];
  let inHook = 0;
  const hook = <T>(run: () => T): T => {
    inHook++;
    try {
      return run();
    } finally {
      inHook--;
    }
  };
  const modules = [...model.namedModules()];
  // A forward already wrapped (a trace inside a hook of another) is restored as it was found.
  const found = modules.map(([, module]) => Object.getOwnPropertyDescriptor(module, 'forward'));
  for (const [path, module] of modules) {
    const forward = module.forward;
    module.forward = (input: tf.Tensor) => {
      let y = hooks.enter && hook(() => hooks.enter!(module, path, input));
      if (!y) {
        stack.push(path);
        try {
          y = forward.call(module, input);
        } finally {
          stack.pop();
        }
      }
      return hooks.exit ? hook(() => hooks.exit!(module, path, input, y!)) : y;
    };
  }
  const engine = tf.engine();
  const ownRunKernel = Object.getOwnPropertyDescriptor(engine, 'runKernel');
  const runKernel = engine.runKernel;
  if (hooks.kernel) {
    engine.runKernel = function (this: typeof engine, kernel, inputs, attrs) {
      const out = runKernel.call(this, kernel, inputs, attrs) as tf.Tensor | tf.Tensor[];
      if (inHook === 0 && stack.length > 0) {
        const call = {
          kernel,
          inputs: inputs as unknown as Record<string, tf.Tensor>,
          attrs: (attrs ?? {}) as Record<string, unknown>,
          outputs: Array.isArray(out) ? out : [out],
        };
        hooks.kernel!(call, stack.at(-1)!);
      }
      return out as never;
    };
  }
  try {
    return model.forward(x);
  } finally {
    if (ownRunKernel) Object.defineProperty(engine, 'runKernel', ownRunKernel);
    else delete (engine as { runKernel?: unknown }).runKernel;
    modules.forEach(([, module], i) => {
      if (found[i]) Object.defineProperty(module, 'forward', found[i]);
      else delete (module as { forward?: unknown }).forward;
    });
  }
}
