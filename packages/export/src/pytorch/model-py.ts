/**
 * model.py: the net as readable PyTorch code, generated from the module tree. Each layer type has one Python
 * constructor; the notebook's blocks keep the notebook's class names (Residual, Inception, DenseBlock) and are
 * defined once at the top of the file when used. Any other module becomes a class of its own, read from a trace of
 * its `forward` (as torch.fx writes code): its children called by name, the kernels between them as torch
 * operations. Children keep their names, so the state dict loads strictly.
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
  isBuffer,
  type Module,
  ReLU,
  Sequential,
  type Shape,
  type TraceEntry,
  traceForward,
} from '@convnets/nn';
import { DenseBlock, Inception, Residual } from '@convnets/blocks';
import type { ModelCard } from '@convnets/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { childPath, type ModuleClass, nchwAxis, UnsupportedKernelError } from '../errors.js';

const py = {
  bool: (b: boolean) => (b ? 'True' : 'False'),
  /** A pair as PyTorch takes it: one int when both agree. */
  pair: ([a, b]: readonly [number, number]) => (a === b ? String(a) : `(${a}, ${b})`),
  args: (parts: Array<string | false>) => parts.filter(Boolean).join(', '),
};

/** A block class the net uses, defined once at the top of model.py (the notebook's code, with explicit inputs). */
const BLOCK_SOURCES = {
  Residual: `class Residual(nn.Module):
    """ResNet's basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)`,
  Inception: `class Inception(nn.Module):
    """GoogLeNet's four parallel paths, concatenated along channels: c1 + c2[1] + c3[1] + c4 of them."""

    def __init__(self, in_channels, c1, c2, c3, c4):
        super().__init__()
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)`,
  DenseBlock: `def conv_block(input_channels, num_channels):
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(), nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    """num_convs conv blocks, each fed the concatenation of the input and every earlier block's output."""

    def __init__(self, num_convs, input_channels, num_channels):
        super().__init__()
        self.net = nn.Sequential(*[conv_block(num_channels * i + input_channels, num_channels) for i in range(num_convs)])

    def forward(self, X):
        for blk in self.net:
            Y = blk(X)
            X = torch.cat((X, Y), dim=1)
        return X`,
} as const;

type BlockName = keyof typeof BLOCK_SOURCES;

/** What a writer gets: the indentation of its line, and how to write a child (and note a block class used). */
interface Write {
  module: (module: Module, path: string, indent: string) => string;
  uses: (block: BlockName) => void;
  /** A class read from the trace of `module`'s forward; returns the class's name. */
  traced: (module: Module, path: string) => string;
}
type Writer<M extends Module> = (module: M, path: string, indent: string, write: Write) => string;

const sequential: Writer<Sequential> = (m, path, indent, write) => {
  const inner = `${indent}    `;
  const children = [...m.namedChildren()];
  // Layers with names (torchvision's `conv1`, `layer1`...) keep them, as nn.Sequential(OrderedDict(...)) does.
  const named = children.some(([name], i) => name !== String(i));
  const items = children.map(([name, c]) => {
    const module = write.module(c, childPath(path, name), named ? `${inner}    ` : inner);
    return named ? `${inner}(${JSON.stringify(name)}, ${module}),` : `${inner}${module},`;
  });
  if (!items.length) return 'nn.Sequential()';
  return named
    ? `nn.Sequential(OrderedDict([\n${items.join('\n')}\n${indent}]))`
    : `nn.Sequential(\n${items.join('\n')}\n${indent})`;
};

const conv2d: Writer<Conv2d> = (m) =>
  `nn.Conv2d(${py.args([
    `${m.inChannels}, ${m.outChannels}`,
    `kernel_size=${py.pair(m.kernelSize)}`,
    m.stride.some((s) => s !== 1) && `stride=${py.pair(m.stride)}`,
    m.padding.some((p) => p !== 0) && `padding=${py.pair(m.padding)}`,
    m.dilation.some((d) => d !== 1) && `dilation=${py.pair(m.dilation)}`,
    m.groups !== 1 && `groups=${m.groups}`,
    !m.bias && 'bias=False',
  ])})`;

const linear: Writer<Linear> = (m) =>
  `nn.Linear(${py.args([`${m.inFeatures}, ${m.outFeatures}`, !m.bias && 'bias=False'])})`;

const batchNorm: Writer<BatchNorm2d> = (m) =>
  `nn.BatchNorm2d(${py.args([
    String(m.numFeatures),
    m.eps !== 1e-5 && `eps=${m.eps}`,
    m.momentum !== 0.1 && `momentum=${m.momentum}`,
    !m.weight && 'affine=False',
  ])})`;

const pool =
  (name: 'MaxPool2d' | 'AvgPool2d'): Writer<MaxPool2d | AvgPool2d> =>
  (m) =>
    `nn.${name}(${py.args([
      `kernel_size=${py.pair(m.kernelSize)}`,
      `stride=${py.pair(m.stride)}`,
      m.padding.some((p) => p !== 0) && `padding=${py.pair(m.padding)}`,
      m.ceilMode && 'ceil_mode=True',
    ])})`;

const residual: Writer<Residual> = (m, _path, _indent, write) => {
  write.uses('Residual');
  const strides = m.conv1.stride[0];
  return `Residual(${py.args([
    `${m.conv1.inChannels}, ${m.conv1.outChannels}`,
    m.conv3 !== null && 'use_1x1conv=True',
    strides !== 1 && `strides=${strides}`,
  ])})`;
};

const inception: Writer<Inception> = (m, _path, _indent, write) => {
  write.uses('Inception');
  const { p1_1, p2_1, p2_2, p3_1, p3_2, p4_2 } = m;
  return (
    `Inception(${p1_1.inChannels}, ${p1_1.outChannels}, (${p2_1.outChannels}, ${p2_2.outChannels}), ` +
    `(${p3_1.outChannels}, ${p3_2.outChannels}), ${p4_2.outChannels})`
  );
};

const denseBlock: Writer<DenseBlock> = (m, _path, _indent, write) => {
  write.uses('DenseBlock');
  const first = m.net.layers[0] as Sequential;
  const [bn, , conv] = first.layers as [BatchNorm2d, ReLU, Conv2d];
  return `DenseBlock(${m.net.length}, ${bn.numFeatures}, ${conv.outChannels})`;
};

/** Every layer type with a PyTorch form, by exact class. */
const WRITERS = new Map<ModuleClass, Writer<never>>([
  [Sequential, sequential],
  [Conv2d, conv2d],
  [Linear, linear],
  [BatchNorm2d, batchNorm],
  [MaxPool2d, pool('MaxPool2d')],
  [AvgPool2d, pool('AvgPool2d')],
  [AdaptiveAvgPool2d, (m: AdaptiveAvgPool2d) => `nn.AdaptiveAvgPool2d(${py.pair(m.outputSize)})`],
  [ReLU, () => 'nn.ReLU()'],
  [Flatten, () => 'nn.Flatten()'],
  [Dropout, (m: Dropout) => `nn.Dropout(${m.p})`],
  [Identity, () => 'nn.Identity()'],
  [Residual, residual],
  [Inception, inception],
  [DenseBlock, denseBlock],
]);

export const PYTORCH_LAYERS: readonly string[] = [...WRITERS.keys()].map((c) => (c as { typeName?: string }).typeName!);

/** A kernel a forward runs between its children, as a torch expression of its operands' expressions. */
type KernelWriter = (operands: string[], attrs: Record<string, unknown>, rank: number) => string;

const KERNELS: Record<string, KernelWriter> = {
  Add: ([a, b]) => `${a} + ${b}`,
  Sub: ([a, b]) => `${a} - ${b}`,
  Multiply: ([a, b]) => `${a} * ${b}`,
  RealDiv: ([a, b]) => `${a} / ${b}`,
  Maximum: ([a, b]) => `torch.maximum(${a}, ${b})`,
  Minimum: ([a, b]) => `torch.minimum(${a}, ${b})`,
  Relu: ([a]) => `F.relu(${a})`,
  Sigmoid: ([a]) => `torch.sigmoid(${a})`,
  Tanh: ([a]) => `torch.tanh(${a})`,
  Neg: ([a]) => `-${a}`,
  Identity: ([a]) => a!,
  Concat: (parts, attrs, rank) => `torch.cat((${parts.join(', ')}), dim=${nchwAxis(attrs.axis as number, rank)})`,
};

export const PYTORCH_KERNELS: readonly string[] = Object.keys(KERNELS);

/** `self.a.b[0]` for the dotted path `a.b.0` of a module below `self`. */
const attribute = (path: string) =>
  `self${path
    .split('.')
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('')}`;

/**
 * The class of a module no writer knows, read from a trace of its forward at its input shape `input`: `__init__`
 * makes its children (each as `write` writes it) and its own tensors; `forward` calls its children and runs the
 * kernels between them, NCHW. Returns the class's source, named `name`.
 */
function tracedClass(module: Module, path: string, name: string, input: Shape, write: Write): string {
  const init: string[] = [];
  for (const [child, m] of module.namedChildren()) {
    const expression = write.module(m, childPath(path, child), '        ');
    init.push(/^\d+$/.test(child) ? `self.add_module('${child}', ${expression})` : `self.${child} = ${expression}`);
  }
  for (const [own, v] of module.ownVariables()) {
    const zeros = `torch.zeros(${JSON.stringify(v.shape)})`;
    init.push(isBuffer(v) ? `self.register_buffer('${own}', ${zeros})` : `self.${own} = nn.Parameter(${zeros})`);
  }
  const owned = new Map([...module.ownVariables()].map(([own, v]) => [v.id, `self.${own}`]));
  const names = new Map<number, string>();
  const lines: string[] = [];
  const fresh = (t: tf.Tensor, expression: string) => {
    const v = `y${names.size}`;
    names.set(t.id, v);
    lines.push(`${v} = ${expression}`);
  };
  /**
   * A tensor's expression: traced, owned (a per-channel vector broadcast as [C, 1, 1] beside a map), a constant
   * per-channel vector beside a map (its values written out: GoogLeNet's input transform), or a scalar.
   */
  const operand = (t: tf.Tensor, other: tf.Tensor | undefined) => {
    const known = names.get(t.id);
    if (known) return known;
    const vector = t.rank === 1 && other?.rank === 4;
    const own = owned.get(t.id);
    if (own && (t.rank === 0 || vector)) return vector ? `${own}.view(-1, 1, 1)` : own;
    if (t.rank === 0) return String(t.dataSync()[0]);
    if (vector) return `torch.tensor([${Array.from(t.dataSync()).join(', ')}]).view(-1, 1, 1)`;
    throw new RangeError(
      `PyTorch export: the module at '${path}' (${module.typeName}) computes with a tensor of shape ` +
        `[${t.shape.join(', ')}] of its own making: only scalars and per-channel vectors have a PyTorch form here`,
    );
  };
  // Each child's output shape, from one shape trace of the whole module first (a child's own shape inference may
  // trace its forward, which cannot run inside this trace).
  const shapes: TraceEntry[] = [];
  module.inferShape(input, shapes);
  const outputShape = (m: Module, x: readonly number[]) =>
    shapes.find((e) => e.module === m && e.input.join() === x.join())?.output ?? m.inferShape(x);
  tf.tidy(() => {
    const x = tf.zeros([...input]);
    names.set(x.id, 'x');
    const y = traceForward(module, x, {
      enter: (m, below, t) => {
        if (m === module) return undefined;
        const standIn = tf.zeros([...outputShape(m, t.shape)]);
        fresh(standIn, `${attribute(below)}(${operand(t, undefined)})`);
        return standIn;
      },
      kernel: ({ kernel, inputs, attrs, outputs }, below) => {
        const writer = KERNELS[kernel];
        if (!writer) {
          throw new UnsupportedKernelError('PyTorch', childPath(path, below), module.typeName, kernel, PYTORCH_KERNELS);
        }
        const operands = Object.values(inputs);
        const expressions = operands.map((t, i) => operand(t, operands[1 - i] ?? operands[0]));
        fresh(outputs[0]!, writer(expressions, attrs, outputs[0]!.rank));
      },
    });
    lines.push(`return ${operand(y, undefined)}`);
  });
  return [
    `class ${name}(nn.Module):`,
    `    """${module.typeName}, as convnets traced its forward."""`,
    '',
    '    def __init__(self):',
    '        super().__init__()',
    ...init.map((l) => `        ${l}`),
    '',
    '    def forward(self, x):',
    ...lines.map((l) => `        ${l}`),
  ].join('\n');
}

/**
 * The text of model.py for `model` (as `card` describes it): the shared helpers (safetensors I/O), the notebook
 * block classes it uses, `build_model()`, `CARD`, `CLASSIFIER_START` (where the classifier's top-level modules begin,
 * when known: train.py's `--freeze features` and `--head-lr`), and `load_model(path)` returning the net with its
 * weights loaded.
 */
export function pytorchModelSource(model: Module, card: ModelCard, prelude: string, classifierStart?: number): string {
  const used = new Set<BlockName>();
  // Each module's input shape, from the shape trace: what a traced class's forward is traced at.
  const trace: TraceEntry[] = [];
  model.inferShape([1, card.inputSize, card.inputSize, card.inChannels], trace);
  const inputs = new Map<Module, Shape>();
  for (const { module, input } of trace) if (!inputs.has(module)) inputs.set(module, input);
  // Traced classes by name; two modules of one type but different code get numbered names.
  const classes = new Map<string, string>();
  const write: Write = {
    uses: (block) => used.add(block),
    module: (m, path, indent) => {
      const writer = WRITERS.get(m.constructor as ModuleClass) as Writer<Module> | undefined;
      return writer ? writer(m, path, indent, write) : `${write.traced(m, path)}()`;
    },
    traced: (m, path) => {
      const input = inputs.get(m);
      if (!input) throw new RangeError(`PyTorch export: the module at '${path}' (${m.typeName}) is never called`);
      for (let k = 1; ; k++) {
        const name = k === 1 ? m.typeName : `${m.typeName}_${k}`;
        const source = tracedClass(m, path, name, input, write);
        if (!classes.has(name)) classes.set(name, source);
        if (classes.get(name) === source) return name;
      }
    },
  };
  const body = write.module(model, '', '    ');
  const blocks: string[] = (Object.keys(BLOCK_SOURCES) as BlockName[])
    .filter((b) => used.has(b))
    .map((b) => BLOCK_SOURCES[b]);
  blocks.push(...classes.values());
  const shape = `${card.inChannels}x${card.inputSize}x${card.inputSize}`;
  return [
    `"""${card.model} for ${shape} input and ${card.classes.length} classes, as written by \`convnets export --format pytorch\`.`,
    '',
    'load_model() builds it and loads weights.safetensors (strictly: every name and shape must match).',
    'Inputs are NCHW float32, normalised per channel with CARD["mean"] and CARD["std"]; outputs are logits.',
    '"""',
    prelude.trimEnd(),
    ...blocks.map((source) => `\n\n${source}`),
    '',
    '',
    `# How to use the net (the weights file's card, also in its metadata under "convnets").`,
    `CARD = ${JSON.stringify(card)}`,
    '# The top-level modules before this index are the features, the rest the classifier (None: not known).',
    `CLASSIFIER_START = ${classifierStart ?? 'None'}`,
    '',
    '',
    'def build_model():',
    `    """The net's modules, with PyTorch's default initialisation."""`,
    `    return ${body}`,
    '',
    '',
    "def load_model(path='weights.safetensors'):",
    '    """The net with the weights at `path` loaded, in eval mode, and the card found in the file (else CARD)."""',
    '    tensors, metadata = load_safetensors(path)',
    '    model = build_model()',
    '    model.load_state_dict(tensors, strict=True)',
    "    card = json.loads(metadata['convnets']) if 'convnets' in metadata else CARD",
    '    return model.eval(), card',
    '',
  ].join('\n');
}
