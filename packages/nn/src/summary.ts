/**
 * The notebook's shape trace, from shape inference (no convolution runs: layers give their shapes and blocks' forward
 * is traced on zeros, so a 15-GFLOP VGG summarises instantly): per-layer output shapes, parameters and FLOPs, as a
 * table or JSON.
 */
import type { Module, ShapeTrace } from './module.js';
import { ShapeError, formatShape, type Shape } from './shape.js';

export interface LayerSummary {
  /** Dotted path, as in `namedModules()`. */
  path: string;
  type: string;
  /** NHWC. */
  outputShape: number[];
  params: number;
  /** Forward FLOPs (2 x multiply-adds of conv and linear layers) per sample, including descendants. */
  flops: number;
}

export interface ModelSummary {
  model: string;
  /** NHWC input shape. */
  input: number[];
  params: number;
  /** Forward FLOPs per sample. */
  flops: number;
  layers: LayerSummary[];
}

/** A shape a model cannot take, named by model, layer path and shapes. */
export class ModelShapeError extends Error {
  override name = 'ModelShapeError';
  constructor(
    message: string,
    readonly path: string,
    override readonly cause: ShapeError,
  ) {
    super(message);
  }
}

/** Shape inference over a whole model, with errors that name the model and the layer's path. */
export function traceShapes(
  model: Module,
  input: Shape,
  modelName = model.typeName,
): { output: Shape; trace: ShapeTrace } {
  const trace: ShapeTrace = [];
  try {
    return { output: model.inferShape(input, trace), trace };
  } catch (err) {
    if (!(err instanceof ShapeError)) throw err;
    const path = pathOf(model, err.module as Module);
    const layer = path === '' ? `the model` : `layer '${path}' (${(err.module as Module).toString().split('\n')[0]})`;
    throw new ModelShapeError(
      `${modelName}: ${layer} cannot take input ${formatShape(err.input)} (model input ${formatShape(input)}): ${err.message}`,
      path,
      err,
    );
  }
}

function pathOf(model: Module, target: Module): string {
  for (const [path, m] of model.namedModules()) if (m === target) return path;
  return '?';
}

export interface SummaryOptions {
  /** How deep to list: 1 (default) lists the top-level children, like the notebook's trace loops. */
  depth?: number;
  name?: string;
}

export function summary(
  model: Module,
  input: Shape,
  { depth = 1, name = model.typeName }: SummaryOptions = {},
): ModelSummary {
  const { trace } = traceShapes(model, input, name);
  const paths = new Map<Module, string>();
  for (const [path, m] of model.namedModules()) paths.set(m, path);

  const own = trace.map((e) => ({ path: paths.get(e.module) ?? '?', entry: e, flops: e.module.flops(e.input) }));
  const within = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}.`);
  const layers: LayerSummary[] = [];
  for (const { path, entry } of own) {
    if (path === '' || path === '?') continue;
    const level = path.split('.').length;
    const isLeaf = entry.module.children().length === 0;
    if (level !== depth && !(level < depth && isLeaf)) continue;
    layers.push({
      path,
      type: entry.module.typeName,
      outputShape: [...entry.output!],
      params: entry.module.numParameters(),
      flops: own.filter((o) => within(o.path, path)).reduce((sum, o) => sum + o.flops, 0),
    });
  }
  return {
    model: name,
    input: [...input],
    params: model.numParameters(),
    flops: own.reduce((sum, o) => sum + o.flops, 0),
    layers,
  };
}

/** The summary as an aligned text table with totals. */
export function formatSummary(s: ModelSummary): string {
  const header = ['Layer', 'Type', 'Output shape (NHWC)', 'Params', 'FLOPs'];
  const rows = s.layers.map((l) => [
    l.path,
    l.type,
    formatShape(l.outputShape),
    l.params.toLocaleString('en-US'),
    formatCount(l.flops),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const rule = '-'.repeat(line(header).length);
  return [
    `${s.model} — input ${formatShape(s.input)} (NHWC)`,
    rule,
    line(header),
    rule,
    ...rows.map(line),
    rule,
    `Total params: ${s.params.toLocaleString('en-US')}`,
    `Forward FLOPs per sample: ${formatCount(s.flops)} (${s.flops.toLocaleString('en-US')})`,
  ].join('\n');
}

function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)} K`;
  return String(n);
}
