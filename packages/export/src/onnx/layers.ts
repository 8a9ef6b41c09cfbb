/**
 * A net's eval-mode forward as ONNX nodes, as torch.onnx.export makes them: the forward is traced (nn's
 * `traceForward`), each layer of nn (Conv2d, BatchNorm2d, pools...) becomes its ONNX operator, and every kernel the
 * forward runs between layers (a block's `tf.add`, `tf.concat`, `tf.relu`) is mapped op by op, NHWC to NCHW. So
 * blocks — the notebook's or anyone's — need no converter: their wiring is read from their `forward`. Weights are the
 * PyTorch-layout state dict's tensors (the one place layouts change), so initializers carry PyTorch's names.
 */
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Identity,
  Linear,
  MaxPool2d,
  type KernelCall,
  type Module,
  ReLU,
  type Shape,
  traceForward,
} from '@convnets/nn';
import * as tf from '@tensorflow/tfjs-core';
import { type ModuleClass, nchwAxis, UnsupportedKernelError } from '../errors.js';
import type { GraphBuilder } from './graph.js';

/** A value in the graph: its name, and its shape as our modules see it (NHWC, batch 1) for shape-dependent sizes. */
export interface Value {
  name: string;
  shape: Shape;
}

/** What a converter gets: the graph, the path of the module, and the name of a state-dict tensor by its path. */
export interface Emit {
  graph: GraphBuilder;
  /** The initializer of the state-dict entry `name` (e.g. `1.0.conv1.weight`), added once, on first use. */
  weight: (name: string) => string;
}

type Converter<M extends Module> = (module: M, x: Value, path: string, emit: Emit) => Value;

const to = (x: Value, m: Module, name: string): Value => ({ name, shape: m.inferShape(x.shape) });
const pads = ([h, w]: readonly [number, number]) => [h, w, h, w];

/** The ONNX MaxPool/AveragePool window of a pool module at input `shape`: PyTorch's output size, explicitly padded. */
function window(m: MaxPool2d | AvgPool2d, shape: Shape, padding = m.explicitPadding(shape)) {
  const [, [top, bottom], [left, right]] = padding;
  return { kernel_shape: m.kernelSize, strides: m.stride, pads: [top, left, bottom, right] };
}

const conv2d: Converter<Conv2d> = (m, x, path, { graph, weight }) => {
  const inputs = [x.name, weight(`${path}.weight`), ...(m.bias ? [weight(`${path}.bias`)] : [])];
  const attributes = {
    kernel_shape: m.kernelSize,
    strides: m.stride,
    pads: pads(m.padding),
    dilations: m.dilation,
    group: m.groups,
  };
  return to(x, m, graph.node('Conv', inputs, path, attributes));
};

const linear: Converter<Linear> = (m, x, path, { graph, weight }) => {
  const inputs = [x.name, weight(`${path}.weight`), ...(m.bias ? [weight(`${path}.bias`)] : [])];
  return to(x, m, graph.node('Gemm', inputs, path, { transB: 1 })); // PyTorch's weight is [out, in]
};

const batchNorm: Converter<BatchNorm2d> = (m, x, path, { graph, weight }) => {
  const n = m.numFeatures;
  const scale = m.weight ? weight(`${path}.weight`) : graph.float(`${path}.weight`, [n], new Float32Array(n).fill(1));
  const bias = m.bias ? weight(`${path}.bias`) : graph.float(`${path}.bias`, [n], new Float32Array(n));
  const inputs = [x.name, scale, bias, weight(`${path}.running_mean`), weight(`${path}.running_var`)];
  // Eval mode, as exported nets run: the running statistics.
  return to(x, m, graph.node('BatchNormalization', inputs, path, { epsilon: m.eps }));
};

const maxPool: Converter<MaxPool2d> = (m, x, path, { graph }) =>
  to(x, m, graph.node('MaxPool', [x.name], path, window(m, x.shape)));

/**
 * PyTorch counts the zero padding in each window's divisor (count_include_pad) but not the cells past it that ceil
 * mode adds, so: pad with zeros, then average with the ceil-mode cells left out, as AvgPool2d's forward does.
 */
const avgPool: Converter<AvgPool2d> = (m, x, path, { graph }) => {
  const [ph, pw] = m.padding;
  const [, [, bottom], [, right]] = m.explicitPadding(x.shape);
  let input = x.name;
  if (ph || pw) input = graph.node('Pad', [x.name, graph.int64(`${path}.pads`, [0, 0, ph, pw, 0, 0, ph, pw])], path);
  const padded: Shape = [x.shape[0]!, x.shape[1]! + 2 * ph, x.shape[2]! + 2 * pw, x.shape[3]!];
  const extra = [
    [0, 0],
    [0, bottom - ph],
    [0, right - pw],
    [0, 0],
  ] as ReturnType<AvgPool2d['explicitPadding']>;
  return to(x, m, graph.node('AveragePool', [input], path, { ...window(m, padded, extra), count_include_pad: 0 }));
};

const adaptiveAvgPool: Converter<AdaptiveAvgPool2d> = (m, x, path, { graph }) => {
  const [, h, w] = x.shape as number[];
  const [oh, ow] = m.outputSize;
  if (oh === 1 && ow === 1) return to(x, m, graph.node('GlobalAveragePool', [x.name], path));
  if (h! % oh !== 0 || w! % ow !== 0) {
    throw new Error(
      `ONNX export: AdaptiveAvgPool2d at '${path}' pools ${h}x${w} to ${oh}x${ow}, which is not a whole number of ` +
        'cells per output (ONNX has no adaptive pool): export at an input size whose maps divide evenly',
    );
  }
  const kernel = [h! / oh, w! / ow];
  return to(x, m, graph.node('AveragePool', [x.name], path, { kernel_shape: kernel, strides: kernel }));
};

const relu: Converter<ReLU> = (m, x, path, { graph }) => to(x, m, graph.node('Relu', [x.name], path));
/** Eval mode: dropout and identity are no operation at all. */
const passThrough: Converter<Module> = (_m, x) => x;
/** ONNX's Flatten of NCHW gives PyTorch's (C, H, W) feature order, which our Flatten keeps too. */
const flatten: Converter<Flatten> = (m, x, path, { graph }) =>
  to(x, m, graph.node('Flatten', [x.name], path, { axis: 1 }));

/** Every layer of nn with an ONNX operator, by exact class (a subclass may compute something else: it is traced). */
const CONVERTERS = new Map<ModuleClass, Converter<never>>([
  [Conv2d, conv2d],
  [Linear, linear],
  [BatchNorm2d, batchNorm],
  [MaxPool2d, maxPool],
  [AvgPool2d, avgPool],
  [AdaptiveAvgPool2d, adaptiveAvgPool],
  [ReLU, relu],
  [Flatten, flatten],
  [Dropout, passThrough],
  [Identity, passThrough],
]);

/** A kernel a forward may run between layers, and its ONNX operator (inputs in order, NCHW attributes). */
type KernelConverter = (inputs: string[], call: KernelCall) => { op: string; attributes?: Record<string, number> };

const elementwise =
  (op: string): KernelConverter =>
  () => ({ op });

const KERNELS: Record<string, KernelConverter> = {
  Add: elementwise('Add'),
  Sub: elementwise('Sub'),
  Multiply: elementwise('Mul'),
  RealDiv: elementwise('Div'),
  Maximum: elementwise('Max'),
  Minimum: elementwise('Min'),
  Relu: elementwise('Relu'),
  Sigmoid: elementwise('Sigmoid'),
  Tanh: elementwise('Tanh'),
  Neg: elementwise('Neg'),
  Identity: elementwise('Identity'),
  Concat: (_inputs, { attrs, outputs }) => ({
    op: 'Concat',
    attributes: { axis: nchwAxis(attrs.axis as number, outputs[0]!.rank) },
  }),
};

export const ONNX_LAYERS: readonly string[] = [...CONVERTERS.keys()].map((c) => (c as { typeName?: string }).typeName!);
export const ONNX_KERNELS: readonly string[] = Object.keys(KERNELS);

/**
 * `model`'s forward from `input` as ONNX nodes (traced on zeros at `input`'s shape; no convolution runs), returning
 * the output's value. Tensors a forward makes itself (a scale factor, a parameter of its own) become initializers.
 */
export function convert(model: Module, input: Value, emit: Emit): Value {
  const values = new Map<number, Value>();
  const types = new Map([...model.namedModules()].map(([path, m]) => [path, m.typeName]));
  const states = new Map([...model.namedState()].map(([name, v]) => [v.id, name]));
  /** The value of tensor `t`: traced, or a constant laid out for NCHW beside `other` (the operand it meets). */
  const nameOf = (t: tf.Tensor, path: string, other?: tf.Tensor): string => {
    const traced = values.get(t.id);
    if (traced) return traced.name;
    const name = states.get(t.id) ?? `${path || 'model'}.constant`;
    if (t.rank === 4) {
      const nchw = tf.tidy(() => tf.transpose(t, [0, 3, 1, 2]));
      const constant = emit.graph.float(name, nchw.shape, nchw.dataSync() as Float32Array);
      nchw.dispose();
      return constant;
    }
    // A per-channel vector meets a feature map on its channels: NCHW broadcasts it as [C, 1, 1].
    const dims = t.rank === 1 && other?.rank === 4 ? [t.size, 1, 1] : t.shape;
    return emit.graph.float(name, dims, Float32Array.from(t.dataSync()));
  };
  let out: Value | undefined;
  tf.tidy(() => {
    const x = tf.zeros([...input.shape]);
    values.set(x.id, input);
    const y = traceForward(model, x, {
      enter: (m, path, t) => {
        const converter = CONVERTERS.get(m.constructor as ModuleClass) as Converter<Module> | undefined;
        if (!converter) return undefined;
        const out = converter(m, values.get(t.id) ?? { name: nameOf(t, path), shape: t.shape }, path, emit);
        const standIn = tf.zeros([...out.shape]);
        values.set(standIn.id, out);
        return standIn;
      },
      kernel: (call, path) => {
        const kernel = KERNELS[call.kernel];
        if (!kernel) throw new UnsupportedKernelError('ONNX', path, types.get(path)!, call.kernel, ONNX_KERNELS);
        const operands = Object.values(call.inputs);
        const names = operands.map((t, i) => nameOf(t, path, operands[1 - i] ?? operands[0]));
        const { op, attributes } = kernel(names, call);
        const output = emit.graph.node(op, names, path, attributes);
        values.set(call.outputs[0]!.id, { name: output, shape: call.outputs[0]!.shape });
      },
    });
    out = values.get(y.id);
  });
  if (!out) throw new RangeError('ONNX export: the net computes nothing from its input');
  return out;
}
