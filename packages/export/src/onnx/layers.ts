/**
 * How each nn/blocks module becomes ONNX nodes: one converter per layer type, keyed by its class, each the data flow
 * of the module's `forward` in ONNX's NCHW operators. Weights are the PyTorch-layout state dict's tensors (the one
 * place layouts change), so the graph's initializers carry PyTorch's names and shapes.
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
  type Module,
  ReLU,
  Sequential,
  type Shape,
} from '@convnets/nn';
import { DenseBlock, Inception, Residual } from '@convnets/blocks';
import { childPath, converterFor, type ModuleClass } from '../errors.js';
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
  /** Converts a child module (any registered type) at `path`. */
  module: (module: Module, x: Value, path: string) => Value;
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

const sequential: Converter<Sequential> = (m, x, path, emit) =>
  [...m.namedChildren()].reduce((h, [name, child]) => emit.module(child, h, childPath(path, name)), x);

const relu1 = (x: Value, path: string, graph: GraphBuilder): Value => ({
  name: graph.node('Relu', [x.name], path),
  shape: x.shape,
});

const residual: Converter<Residual> = (m, x, path, emit) => {
  const child = (name: 'conv1' | 'conv2' | 'conv3' | 'bn1' | 'bn2', v: Value) =>
    emit.module(m[name]!, v, childPath(path, name));
  const y = child('bn2', child('conv2', relu1(child('bn1', child('conv1', x)), childPath(path, 'relu1'), emit.graph)));
  const shortcut = m.conv3 ? child('conv3', x) : x;
  const sum = { name: emit.graph.node('Add', [y.name, shortcut.name], path), shape: y.shape };
  return relu1(sum, path, emit.graph);
};

const concat = (parts: Value[], m: Module, x: Value, path: string, graph: GraphBuilder): Value =>
  to(
    x,
    m,
    graph.node(
      'Concat',
      parts.map((p) => p.name),
      path,
      { axis: 1 },
    ),
  );

const inception: Converter<Inception> = (m, x, path, emit) => {
  const run = (names: ReadonlyArray<keyof Inception & `p${string}`>) =>
    names.reduce((h, name) => {
      const y = emit.module(m[name] as Module, h, childPath(path, name));
      return m[name] instanceof Conv2d ? relu1(y, childPath(path, name), emit.graph) : y;
    }, x);
  const paths = [['p1_1'], ['p2_1', 'p2_2'], ['p3_1', 'p3_2'], ['p4_1', 'p4_2']] as const;
  return concat(
    paths.map((p) => run(p)),
    m,
    x,
    path,
    emit.graph,
  );
};

const denseBlock: Converter<DenseBlock> = (m, x, path, emit) =>
  [...m.net.namedChildren()].reduce((h, [name, blk]) => {
    const y = emit.module(blk, h, childPath(childPath(path, 'net'), name));
    const joined = emit.graph.node('Concat', [h.name, y.name], childPath(path, `net.${name}`), { axis: 1 });
    return { name: joined, shape: [h.shape[0]!, h.shape[1]!, h.shape[2]!, h.shape[3]! + y.shape[3]!] };
  }, x);

/** Every layer type with an ONNX form, by exact class. */
const CONVERTERS = new Map<ModuleClass, Converter<never>>([
  [Sequential, sequential],
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
  [Residual, residual],
  [Inception, inception],
  [DenseBlock, denseBlock],
]);

export const ONNX_LAYERS: readonly string[] = [...CONVERTERS.keys()].map((c) => (c as { typeName?: string }).typeName!);

/** Converts `module` at `path` (and, through `emit.module`, everything below it). */
export function convert(module: Module, x: Value, path: string, emit: Emit): Value {
  const converter = converterFor(CONVERTERS, module, path, 'ONNX', ONNX_LAYERS) as Converter<Module>;
  return converter(module, x, path, emit);
}
