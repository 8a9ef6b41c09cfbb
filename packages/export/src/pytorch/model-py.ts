/**
 * model.py: the net as readable PyTorch code, generated from the module tree. Each layer type has one Python
 * constructor; the notebook's blocks keep the notebook's class names (Residual, Inception, DenseBlock) and are
 * defined once at the top of the file when used. Children keep their names, so the state dict loads strictly.
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
} from '@convnets/nn';
import { DenseBlock, Inception, Residual } from '@convnets/blocks';
import type { ModelCard } from '@convnets/trainer';
import { childPath, converterFor, type ModuleClass } from '../errors.js';

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
}
type Writer<M extends Module> = (module: M, path: string, indent: string, write: Write) => string;

const sequential: Writer<Sequential> = (m, path, indent, write) => {
  const inner = `${indent}    `;
  const items = [...m.namedChildren()].map(([name, c]) => `${inner}${write.module(c, childPath(path, name), inner)},`);
  return items.length ? `nn.Sequential(\n${items.join('\n')}\n${indent})` : 'nn.Sequential()';
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

/**
 * The text of model.py for `model` (as `card` describes it): the shared helpers (safetensors I/O), the notebook
 * block classes it uses, `build_model()`, `CARD`, `CLASSIFIER_START` (where the classifier's top-level modules begin,
 * when known: train.py's `--freeze features` and `--head-lr`), and `load_model(path)` returning the net with its
 * weights loaded.
 */
export function pytorchModelSource(model: Module, card: ModelCard, prelude: string, classifierStart?: number): string {
  const used = new Set<BlockName>();
  const write: Write = {
    uses: (block) => used.add(block),
    module: (m, path, indent) =>
      (converterFor(WRITERS, m, path, 'PyTorch', PYTORCH_LAYERS) as Writer<Module>)(m, path, indent, write),
  };
  const body = write.module(model, '', '    ');
  const blocks = (Object.keys(BLOCK_SOURCES) as BlockName[]).filter((b) => used.has(b)).map((b) => BLOCK_SOURCES[b]);
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
