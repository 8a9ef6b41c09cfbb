/** A small builder of ONNX graphs over the official schema (onnx-proto's protobufjs classes). */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export { onnx };

type AttributeValue = number | readonly number[] | string;

/** The attributes we write whose numbers are floats (every other number is an integer). */
const FLOAT_ATTRIBUTES = new Set(['epsilon']);

/** One attribute as ONNX stores it. */
function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return !FLOAT_ATTRIBUTES.has(name)
      ? { name, type: AttributeType.INT, i: value }
      : { name, type: AttributeType.FLOAT, f: value };
  }
  return { name, type: AttributeType.INTS, ints: [...value] };
}

/** Nodes and initializers in the order they are added; every output name is unique. */
export class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();

  /** A fresh name based on `hint` (the dotted path of the module that makes it). */
  private unique(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Adds `op(inputs)` named after `path`; returns its output's name. */
  node(op: string, inputs: readonly string[], path: string, attributes: Record<string, AttributeValue> = {}): string {
    const name = this.unique(path ? `${path}/${op}` : op);
    const output = this.unique(`${name}:0`);
    this.nodes.push({
      opType: op,
      name,
      input: [...inputs],
      output: [output],
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  /** A float32 constant (a weight, or a normalisation vector); returns its name. */
  float(name: string, dims: readonly number[], values: Float32Array): string {
    const unique = this.unique(name);
    const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.initializers.push({ name: unique, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw });
    return unique;
  }

  /** An int64 constant (Pad's pads); returns its name. */
  int64(name: string, values: readonly number[]): string {
    const unique = this.unique(name);
    this.initializers.push({
      name: unique,
      dims: [values.length],
      dataType: onnx.TensorProto.DataType.INT64,
      int64Data: [...values],
    });
    return unique;
  }

  /** Renames the output `from` (made by the last node that produced it) to `to`, for the graph's output. */
  rename(from: string, to: string): void {
    for (const node of this.nodes) {
      node.output = node.output!.map((o) => (o === from ? to : o));
      node.input = node.input!.map((i) => (i === from ? to : i));
    }
  }
}

/** A float32 tensor value with a symbolic batch dimension and fixed others. */
export function floatValue(name: string, dims: ReadonlyArray<number | string>): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}
