/**
 * The IDX format of MNIST and Fashion-MNIST: a big-endian header — two zero bytes, a type code, the number
 * of dimensions, one uint32 per dimension — then the data. Only unsigned bytes (type 0x08) occur in these sets.
 */
import { DatasetError } from './errors.js';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;
/** Beyond any real IDX file; a corrupt header must not make us allocate gigabytes. */
const MAX_ELEMENTS = 1 << 30;

export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4)
    throw new DatasetError(file, `truncated: ${bytes.length} bytes, an IDX header needs at least 4`, 0);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b)
    throw new DatasetError(file, 'is gzip-compressed: decompress it first (loaders do this for .gz files)', 0);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DatasetError(file, `bad magic number 0x${hex(bytes, 0, 4)}: an IDX file starts with two zero bytes`, 0);
  }
  if (bytes[2] !== UBYTE)
    throw new DatasetError(file, `type code 0x${hex(bytes, 2, 1)} is not supported (expected 0x08, unsigned bytes)`, 2);
  const rank = bytes[3]!;
  if (rank < 1 || rank > 4) throw new DatasetError(file, `${rank} dimensions: expected 1 to 4`, 3);
  const headerSize = 4 + 4 * rank;
  if (bytes.length < headerSize)
    throw new DatasetError(file, `truncated header: ${bytes.length} bytes, expected ${headerSize}`, bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > MAX_ELEMENTS) throw new DatasetError(file, `dimensions [${shape.join(', ')}] are implausibly large`, 4);
  const expected = headerSize + size;
  if (bytes.length !== expected) {
    throw new DatasetError(
      file,
      `${bytes.length < expected ? 'truncated' : 'trailing data'}: ${bytes.length} ` +
        `bytes, expected ${expected} for dimensions [${shape.join(', ')}]`,
      Math.min(bytes.length, expected),
    );
  }
  return { shape, data: bytes.subarray(headerSize) };
}

/** The header and data of an IDX file of unsigned bytes (the writer used by tests and tools). */
export function encodeIdx({ shape, data }: IdxArray): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + data.length);
  out[2] = UBYTE;
  out[3] = shape.length;
  const view = new DataView(out.buffer);
  shape.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  out.set(data, 4 + 4 * shape.length);
  return out;
}

function hex(bytes: Uint8Array, start: number, length: number): string {
  return Array.from(bytes.subarray(start, start + length), (b) => b.toString(16).padStart(2, '0')).join('');
}
