/**
 * Writing safetensors files (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header of {name: {dtype, shape, data_offsets}}, then the raw little-endian data.
 * int32 tensors are written as I64, as PyTorch stores integer buffers such as num_batches_tracked.
 */
import type * as tf from '@tensorflow/tfjs-core';

export function encodeSafetensors(tensors: Map<string, tf.Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = Object.keys(metadata).length ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    let bytes: Uint8Array;
    let dtype: string;
    if (t.dtype === 'float32') {
      const values = t.dataSync() as Float32Array;
      bytes = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
      dtype = 'F32';
    } else if (t.dtype === 'int32') {
      const values = t.dataSync() as Int32Array;
      const wide = new BigInt64Array(values.length);
      values.forEach((v, i) => (wide[i] = BigInt(v)));
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
