/**
 * Seeing inside a net: the outputs of its modules by dotted path (PyTorch's forward hooks), and Grad-CAM (which
 * parts of the image a layer's evidence for a class comes from). Both run the model in eval mode and leave its mode
 * as it was.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './module.js';
import { traceForward } from './trace.js';

/** The module at a dotted path (`1.0.conv1`, as `summary` and state dicts name it). */
export function getModule(model: Module, path: string): Module {
  const found = [...model.namedModules()].find(([p]) => p === path);
  if (!found) {
    const top = [...model.namedChildren()].map(([name]) => name);
    throw new RangeError(`no module at '${path}': expected a dotted path such as ${top.slice(0, 6).join(', ')}`);
  }
  return found[1];
}

/**
 * Puts `module` at the dotted `path` in place of the module there (PyTorch's `model[5] = nn.Linear(...)` or
 * `setattr`); returns the one it replaced, which the caller disposes.
 */
export function setModule(model: Module, path: string, module: Module): Module {
  const old = getModule(model, path);
  if (path === '') throw new RangeError('setModule: the path names the net itself; give a module inside it');
  const cut = path.lastIndexOf('.');
  const parent = getModule(model, path.slice(0, Math.max(0, cut)));
  const name = path.slice(cut + 1);
  const descriptor = Object.getOwnPropertyDescriptor(parent, name)!;
  Object.defineProperty(parent, name, { ...descriptor, value: module });
  return old;
}

/**
 * `model.forward(x)` in eval mode with the modules at `paths` seen by a forward hook (`traceForward`): `seen` gets
 * each output and returns what the net goes on with (the output itself, or with Grad-CAM's probe added).
 */
function forwardWithHooks(
  model: Module,
  x: tf.Tensor,
  paths: readonly string[],
  seen: (path: string, y: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  for (const path of paths) getModule(model, path);
  const wasTraining = model.training;
  model.eval();
  try {
    return traceForward(model, x, { exit: (_m, path, _x, y) => (paths.includes(path) ? seen(path, y) : y) });
  } finally {
    model.train(wasTraining);
  }
}

/** The logits and the outputs (NHWC) of the modules at `paths` for `x`, in eval mode; the caller disposes them. */
export function forwardWithOutputs(
  model: Module,
  x: tf.Tensor,
  paths: readonly string[],
): { logits: tf.Tensor; outputs: Map<string, tf.Tensor> } {
  const outputs = new Map<string, tf.Tensor>();
  const logits = tf.tidy(() =>
    forwardWithHooks(model, x, paths, (path, y) => {
      outputs.get(path)?.dispose();
      outputs.set(path, tf.keep(y.clone()));
      return y;
    }),
  );
  return { logits, outputs };
}

/**
 * The top-level modules whose output for `inputShape` is still a feature map (rank 4, more than one pixel), in
 * order, with those output shapes: the layers worth drawing.
 */
export function featureMapLayers(
  model: Module,
  inputShape: readonly number[],
): Array<{ path: string; shape: number[] }> {
  const maps: Array<{ path: string; shape: number[] }> = [];
  let shape: readonly number[] = inputShape;
  for (const [path, child] of model.namedChildren()) {
    shape = child.inferShape(shape);
    if (shape.length === 4 && shape[1]! * shape[2]! > 1) maps.push({ path, shape: [...shape] });
  }
  return maps;
}

/** The layer Grad-CAM looks at by default: the last of `featureMapLayers` (every notebook net's last stage). */
export function lastFeatureMap(model: Module, inputShape: readonly number[]): string {
  const last = featureMapLayers(model, inputShape).at(-1);
  if (!last) throw new RangeError('the model has no top-level module whose output is a feature map');
  return last.path;
}

export interface GradCam {
  /** [H, W] of the input: the class-activation map upsampled to the image and scaled to [0, 1]. */
  map: tf.Tensor2D;
  /** The class it explains (the predicted one unless asked) and its softmax probability. */
  classIndex: number;
  probability: number;
  /** The predicted class and its probability. */
  predicted: number;
  predictedProbability: number;
  layer: string;
}

/**
 * Grad-CAM (Selvaraju et al. 2017) for one image `x` [1, H, W, C]: the layer's channels weighted by the mean gradient
 * of the class's logit over each channel, summed, ReLU'd, upsampled bilinearly to H x W (half-pixel centres, as
 * PyTorch's `F.interpolate(..., align_corners=False)`), then scaled to [0, 1] by its min and max (all zeros when
 * flat). Default layer: `lastFeatureMap`; default class: the predicted one.
 */
export async function gradCam(
  model: Module,
  x: tf.Tensor,
  { layer, classIndex }: { layer?: string; classIndex?: number } = {},
): Promise<GradCam> {
  if (x.rank !== 4 || x.shape[0] !== 1)
    throw new RangeError(`gradCam: expected one image [1, H, W, C], got [${x.shape}]`);
  const path = layer ?? lastFeatureMap(model, x.shape);
  const { logits, outputs } = forwardWithOutputs(model, x, [path]);
  const activation = outputs.get(path)!;
  try {
    if (activation.rank !== 4)
      throw new RangeError(`gradCam: '${path}' outputs [${activation.shape}], not a feature map`);
    const softmax = tf.tidy(() => tf.softmax(tf.reshape(logits, [-1])));
    const probabilities = Array.from(await softmax.data().finally(() => softmax.dispose()));
    const predicted = probabilities.indexOf(Math.max(...probabilities));
    const target = classIndex ?? predicted;
    if (!Number.isInteger(target) || target < 0 || target >= probabilities.length)
      throw new RangeError(`gradCam: class ${target} is not one of the ${probabilities.length} logits`);
    // d(logit)/d(activation): a zero probe added to the layer's output carries the gradient out.
    // (The class's logit is picked by a one-hot product: gather's gradient is missing on some backends.)
    const [probe, pick] = [
      tf.zerosLike(activation),
      tf.tidy(() => tf.cast(tf.oneHot([target], probabilities.length), 'float32')),
    ];
    const gradient = tf.grad((probe: tf.Tensor) =>
      tf.sum(
        tf.mul(
          forwardWithHooks(model, x, [path], (_, y) => tf.add(y, probe)),
          pick,
        ),
      ),
    )(probe);
    tf.dispose([probe, pick]);
    const map = tf.tidy(() => {
      const weights = tf.mean(gradient, [1, 2], true);
      const cam = tf.relu(tf.sum(tf.mul(activation, weights), 3, true)) as tf.Tensor4D;
      const [, h, w] = x.shape as number[];
      const up = tf.reshape(tf.image.resizeBilinear(cam, [h!, w!], false, true), [h!, w!]);
      const [low, high] = [tf.min(up), tf.max(up)];
      const range = tf.sub(high, low);
      const scaled = tf.div(tf.sub(up, low), tf.maximum(range, 1e-30));
      return tf.where(tf.greater(range, 0), scaled, tf.zerosLike(up)) as tf.Tensor2D;
    });
    gradient.dispose();
    return {
      map,
      classIndex: target,
      probability: probabilities[target]!,
      predicted,
      predictedProbability: probabilities[predicted]!,
      layer: path,
    };
  } finally {
    tf.dispose([logits, activation]);
  }
}
