/**
 * `toOnnx`: a net as an ONNX model, following torch.onnx's conventions — one float32 NCHW input `input` with a
 * dynamic batch dimension, one output `logits`, initializers named as the PyTorch state dict — with the model card in
 * `metadata_props` and, optionally, the input normalisation baked in.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Module, stateDict } from '@convnets/nn';
import type { ModelCard } from '@convnets/trainer';
import type onnxProto from 'onnx-proto';
import { GraphBuilder, floatValue, onnx } from './graph.js';
import { convert, type Emit, type Value } from './layers.js';

/** The opsets whose operators we write identically (Conv, Gemm, BatchNormalization, pools, Pad, Concat...). */
export const ONNX_OPSETS = { min: 13, max: 18, default: 17 } as const;
/** IR version 8 (ONNX 1.10-1.13) reads every opset above. */
const IR_VERSION = 8;
/** The metadata key holding the card as JSON: the same key as in the weights file. */
export const CARD_METADATA_KEY = 'convnets';

export interface OnnxOptions {
  /** The input's [channels, height, width] (the ONNX input is [batch, C, H, W]); default: the card's. */
  inputShape?: readonly [number, number, number];
  /** ONNX opset, 13 to 18 (default 17). */
  opset?: number;
  /** How to use the net (classes, input size, mean/std...): written to `metadata_props`. */
  card?: ModelCard;
  /**
   * Bake `(x - mean) / std` into the graph, so the model takes raw [0, 1] pixels: `true` takes the card's mean/std,
   * or give them.
   */
  normalize?: boolean | { mean: readonly number[]; std: readonly number[] };
  /** Where the net came from (a file name, a run), for `metadata_props` `source`. */
  source?: string;
  /** The `producer_version` field (e.g. the CLI's version). */
  producerVersion?: string;
}

/** The net as ONNX model bytes (the eval-mode forward: batch norm's running statistics, no dropout). */
export async function toOnnx(model: Module, options: OnnxOptions = {}): Promise<Uint8Array> {
  const { card, source, producerVersion = '' } = options;
  const opset = options.opset ?? ONNX_OPSETS.default;
  if (!Number.isInteger(opset) || opset < ONNX_OPSETS.min || opset > ONNX_OPSETS.max) {
    throw new RangeError(
      `toOnnx: opset must be an integer from ${ONNX_OPSETS.min} to ${ONNX_OPSETS.max}, got ${opset}`,
    );
  }
  const inputShape = options.inputShape ?? (card ? [card.inChannels, card.inputSize, card.inputSize] : undefined);
  if (inputShape?.length !== 3 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RangeError(
      `toOnnx: inputShape must be [channels, height, width] (positive integers; or give a card), got ${JSON.stringify(inputShape)}`,
    );
  }
  const [c, h, w] = inputShape;
  const normalize = options.normalize === true ? card : options.normalize || undefined;
  if (options.normalize === true && !card) throw new TypeError('toOnnx: normalize: true takes mean/std from a card');
  if (normalize && (normalize.mean.length !== c || normalize.std.length !== c)) {
    throw new RangeError(`toOnnx: normalize needs one mean and one std per input channel (${c})`);
  }
  // Shapes first: a net that cannot take this input fails here, naming the layer, before anything is read.
  model.inferShape([1, h, w, c]);

  const graph = new GraphBuilder();
  const state = stateDict(model);
  try {
    // Each state-dict tensor used, with the initializer that will hold its bytes (read once, after the graph).
    const used = new Map<string, onnxProto.onnx.ITensorProto>();
    const emit: Emit = {
      graph,
      weight: (name) => {
        if (!used.has(name)) {
          graph.float(name, state.get(name)!.shape, new Float32Array(0));
          used.set(name, graph.initializers.at(-1)!);
        }
        return used.get(name)!.name!;
      },
    };
    let x: Value = { name: 'input', shape: [1, h, w, c] };
    if (normalize) {
      const vector = (name: string, v: readonly number[]) => graph.float(name, [1, c, 1, 1], Float32Array.from(v));
      const centred = graph.node('Sub', [x.name, vector('normalize.mean', normalize.mean)], 'normalize');
      x = { name: graph.node('Div', [centred, vector('normalize.std', normalize.std)], 'normalize'), shape: x.shape };
    }
    const out = convert(model, x, emit);
    if (out.shape.length !== 2) {
      throw new RangeError(`toOnnx: the net's output is [${out.shape.join(', ')}], not [batch, classes] logits`);
    }
    if (out.name === 'input') throw new RangeError('toOnnx: the net computes nothing (its output is its input)');
    graph.rename(out.name, 'logits');
    // The weights' bytes, read once each (asynchronously: the net may live on a GPU).
    for (const [name, initializer] of used) {
      const values = (await state.get(name)!.data()) as Float32Array;
      initializer.rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    }
    const metadata = metadataProps(card, normalize !== undefined, source);
    const message = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: opset }],
      producerName: 'convnets',
      producerVersion,
      docString: card ? `${card.model} for ${c}x${h}x${w} input, ${card.classes.length} classes` : '',
      graph: {
        name: card?.model ?? model.typeName,
        node: graph.nodes,
        initializer: graph.initializers,
        input: [floatValue('input', ['batch', c, h, w])],
        output: [floatValue('logits', ['batch', out.shape[1]!])],
      },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(message).finish();
  } finally {
    tf.dispose([...state.values()]);
  }
}

/** The card as one JSON entry (what convnets reads) and as plain entries for any ONNX tool's eyes. */
function metadataProps(card: ModelCard | undefined, normalized: boolean, source: string | undefined) {
  const props: Record<string, string> = {};
  if (card) {
    props[CARD_METADATA_KEY] = JSON.stringify(card);
    props.model = card.model;
    props.classes = JSON.stringify(card.classes);
    props.input_size = String(card.inputSize);
    props.mean = JSON.stringify(card.mean);
    props.std = JSON.stringify(card.std);
  }
  // What the input is: raw pixels, or pixels the caller has normalised with mean/std.
  props.input = normalized ? 'pixels in [0, 1], NCHW' : 'pixels normalised as (x - mean) / std, NCHW';
  if (source) props.source = source;
  return props;
}
