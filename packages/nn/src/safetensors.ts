/**
 * Reading and writing safetensors files (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header of {name: {dtype, shape, data_offsets}}, then the raw little-endian data.
 * int32 tensors are written as I64, as PyTorch stores integer buffers such as num_batches_tracked.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The tensors as safetensors bytes; their values are read asynchronously (GPU backends cannot read synchronously). */
export async function encodeSafetensors(
  tensors: Map<string, tf.Tensor>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array> {
  const header: Record<string, unknown> = Object.keys(metadata).length ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    let bytes: Uint8Array;
    let dtype: string;
    if (t.dtype === 'float32') {
      const values = (await t.data()) as Float32Array;
      bytes = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
      dtype = 'F32';
    } else if (t.dtype === 'int32') {
      const values = (await t.data()) as Int32Array;
      const wide = new BigInt64Array(values.length);
      values.forEach((v, i) => {
        wide[i] = BigInt(v);
      });
      bytes = new Uint8Array(wide.buffer);
      dtype = 'I64';
    } else {
      throw new TypeError(`encodeSafetensors: ${name} has dtype ${t.dtype}; only float32 and int32 are written`);
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // data starts 8-byte aligned
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A safetensors file that breaks the format: names the file and what is wrong. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };
/** Headers are JSON of a few KB per hundred tensors; refuse absurd lengths before allocating. */
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsFile {
  tensors: Map<string, tf.Tensor>;
  metadata: Record<string, string>;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Reads a safetensors file. Everything is validated before any tensor is made: header length, JSON,
 * dtypes, shapes, offsets inside the data, byte counts, no overlaps, no duplicate names. F16 and BF16 become
 * float32; I64 and I32 become int32 (I64 values must fit).
 */
export function decodeSafetensors(bytes: Uint8Array, file = 'safetensors'): SafetensorsFile {
  const entries = readHeader(bytes, file);
  const dataStart = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const tensors = new Map<string, tf.Tensor>();
  for (const e of entries.list) {
    // A copy on its own buffer (Node's Buffer.slice would give a view into a shared pool).
    const raw = new Uint8Array(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, toTensor(raw, e, file));
  }
  return { tensors, metadata: entries.metadata };
}

function readHeader(bytes: Uint8Array, file: string): { list: Entry[]; metadata: Record<string, string> } {
  if (bytes.length < 8)
    throw new SafetensorsError(file, `${bytes.length} bytes: too short for the 8-byte header length`);
  const length = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) {
    throw new SafetensorsError(
      file,
      `header length ${length} exceeds the file (${bytes.length - 8} bytes after the length)`,
    );
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(8, 8 + Number(length)));
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(file, `header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new SafetensorsError(file, 'header is not a JSON object');
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) throw new SafetensorsError(file, `tensor name '${duplicate}' appears twice`);
  const dataLength = bytes.length - 8 - Number(length);
  const metadata: Record<string, string> = {};
  const list: Entry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null)
        throw new SafetensorsError(file, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw new SafetensorsError(file, `__metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const {
      dtype,
      shape,
      data_offsets: offsets,
    } = (value ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES))
      throw new SafetensorsError(
        file,
        `${name}: dtype ${JSON.stringify(dtype)} is not supported (${Object.keys(DTYPE_BYTES).join(', ')})`,
      );
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new SafetensorsError(
        file,
        `${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`,
      );
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw new SafetensorsError(
        file,
        `${name}: data_offsets ${JSON.stringify(offsets)} are not [begin, end] with 0 <= begin <= end`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength)
      throw new SafetensorsError(
        file,
        `${name}: data_offsets [${begin}, ${end}] run past the data section (${dataLength} bytes)`,
      );
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype]!;
    if (end - begin !== expected)
      throw new SafetensorsError(
        file,
        `${name}: ${end - begin} bytes for ${dtype} [${shape.join(', ')}], expected ${expected}`,
      );
    list.push({ name, dtype, shape: shape as number[], begin, end });
  }
  const sorted = [...list].sort((a, b) => a.begin - b.begin);
  sorted.forEach((e, i) => {
    const next = sorted[i + 1];
    if (next && next.begin < e.end)
      throw new SafetensorsError(file, `${e.name} and ${next.name} overlap in the data section`);
  });
  return { list, metadata };
}

/** The first top-level key of a JSON object text that occurs twice (JSON.parse silently keeps the last). */
function duplicateKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const after = text.slice(j + 1).trimStart();
      if (depth === 1 && after.startsWith(':')) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
      i = j;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return undefined;
}

function toTensor(raw: Uint8Array, e: Entry, file: string): tf.Tensor {
  const view = new DataView(raw.buffer);
  const n = e.shape.reduce((a, b) => a * b, 1);
  switch (e.dtype) {
    case 'F32':
      return tfTensor(new Float32Array(raw.buffer), e.shape, 'float32');
    case 'F16':
      return tfTensor(
        Float32Array.from({ length: n }, (_, i) => halfToFloat(view.getUint16(2 * i, true))),
        e.shape,
        'float32',
      );
    case 'BF16':
      return tfTensor(
        Float32Array.from({ length: n }, (_, i) => bf16ToFloat(view.getUint16(2 * i, true))),
        e.shape,
        'float32',
      );
    case 'I32':
      return tfTensor(new Int32Array(raw.buffer), e.shape, 'int32');
    case 'U8':
      return tfTensor(Int32Array.from(raw), e.shape, 'int32');
    default: {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n)
          throw new SafetensorsError(file, `${e.name}: I64 value ${v} does not fit int32`);
        out[i] = Number(v);
      }
      return tfTensor(out, e.shape, 'int32');
    }
  }
}

function tfTensor(values: Float32Array | Int32Array, shape: number[], dtype: 'float32' | 'int32'): tf.Tensor {
  return tf.tensor(values, shape, dtype);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function bf16ToFloat(b: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, b << 16);
  return view.getFloat32(0);
}
