/**
 * Reading PyTorch's `.pth` state dicts (torch.save) without running anything from the file. A `.pth` is a pickle:
 * a program for Python's pickle machine, which can call any importable function. This reader is a small pickle
 * machine of its own that knows only what a state dict needs — dicts, lists, tuples, numbers, strings, storages and
 * torch's tensor-rebuilding functions — and refuses every other global by name before anything is made.
 *
 * Both of torch.save's formats: the zip (PyTorch >= 1.6: `<name>/data.pkl`, each storage in `<name>/data/<key>`,
 * stored uncompressed) and the legacy stream (before 1.6, torchvision's older files: four pickles, then each
 * storage's element count and bytes). Tensors come out as PyTorch holds them (its names and layouts, float16 and
 * bfloat16 widened to float32, integers as int32 where they fit), ready for `loadStateDict`.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A `.pth` file this reader cannot or will not read: names the file and what is wrong. */
export class PthError extends Error {
  override name = 'PthError';
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** The element types of torch's storages, by the storage class's name, and their size in bytes. */
const STORAGES: Record<string, { bytes: number; read: (view: DataView, at: number) => number; dtype: 'f' | 'i' }> = {
  FloatStorage: { bytes: 4, read: (v, at) => v.getFloat32(at, true), dtype: 'f' },
  DoubleStorage: { bytes: 8, read: (v, at) => v.getFloat64(at, true), dtype: 'f' },
  HalfStorage: { bytes: 2, read: (v, at) => half(v.getUint16(at, true)), dtype: 'f' },
  BFloat16Storage: { bytes: 2, read: (v, at) => bfloat16(v.getUint16(at, true)), dtype: 'f' },
  LongStorage: { bytes: 8, read: (v, at) => Number(v.getBigInt64(at, true)), dtype: 'i' },
  IntStorage: { bytes: 4, read: (v, at) => v.getInt32(at, true), dtype: 'i' },
  ShortStorage: { bytes: 2, read: (v, at) => v.getInt16(at, true), dtype: 'i' },
  CharStorage: { bytes: 1, read: (v, at) => v.getInt8(at), dtype: 'i' },
  ByteStorage: { bytes: 1, read: (v, at) => v.getUint8(at), dtype: 'i' },
  BoolStorage: { bytes: 1, read: (v, at) => v.getUint8(at), dtype: 'i' },
};

function half(bits: number): number {
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function bfloat16(bits: number): number {
  return new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;
}

/** A storage: its element type and where its bytes are (filled in later for the legacy format). */
interface Storage {
  kind: string;
  count: number;
  bytes?: Uint8Array;
}

interface RebuiltTensor {
  tensor: true;
  storage: Storage;
  offset: number;
  shape: number[];
  stride: number[];
}

/** The globals a state dict's pickle may name, and nothing else. */
type Global = { global: string };
const ALLOWED = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
]);

const isGlobal = (v: unknown): v is Global => typeof v === 'object' && v !== null && 'global' in v;

/** Runs one pickle from `at`; returns the object and where the pickle ended. `persistent` resolves storages. */
function unpickle(
  bytes: Uint8Array,
  at: number,
  file: string,
  persistent: (id: unknown[]) => Storage,
): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder();
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const fail = (problem: string): never => {
    throw new PthError(file, problem);
  };
  const need = (n: number) => {
    if (at + n > bytes.length) fail('the pickle ends in the middle of an instruction (a truncated file?)');
  };
  const u8 = () => {
    need(1);
    return bytes[at++]!;
  };
  const u32 = () => {
    need(4);
    at += 4;
    return view.getUint32(at - 4, true);
  };
  const str = (n: number) => {
    need(n);
    at += n;
    return text.decode(bytes.subarray(at - n, at));
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail('a GLOBAL instruction has no end of line');
    const s = text.decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const pop = () => (stack.length ? stack.pop() : fail('the pickle pops an empty stack'));
  const popMark = () => {
    const mark = marks.pop() ?? fail('the pickle closes a MARK it never opened');
    return stack.splice(mark);
  };
  const global = (module: string, name: string): Global => {
    const full = `${module}.${name}`;
    if (!ALLOWED.has(full))
      fail(`it names the global ${full}, which a state dict does not need; refused (nothing from the file was run)`);
    return { global: full };
  };
  const call = (fn: unknown, args: unknown[]): unknown => {
    if (!isGlobal(fn)) return fail('the pickle calls something that is not a global');
    switch (fn.global) {
      case 'collections.OrderedDict':
        return new Map();
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor': {
        const [storage, offset, shape, stride] = args as [Storage, number, number[], number[]];
        if (!storage || typeof storage.kind !== 'string') fail('a tensor is rebuilt from something not a storage');
        return { tensor: true, storage, offset, shape: [...shape], stride: [...stride] } satisfies RebuiltTensor;
      }
      case 'torch._utils._rebuild_parameter':
        return args[0];
      default:
        return fail(`the pickle calls ${fn.global}, which makes no value here`);
    }
  };
  const setItem = (target: unknown, key: unknown, value: unknown) => {
    if (target instanceof Map) target.set(key, value);
    else fail('the pickle sets an item of something that is not a dict');
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        need(8);
        at += 8;
        break;
      case 0x2e: // STOP
        return { value: pop(), end: at };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x63: // GLOBAL
        stack.push(global(line(), line()));
        break;
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        stack.push(global(String(module), String(name)));
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), stack.at(-1));
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), stack.at(-1));
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack.at(-1));
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) fail(`the pickle reads memo ${key}, never written`);
        stack.push(memo.get(key));
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(at, true));
        at += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(view.getUint16(at, true));
        at += 2;
        break;
      case 0x8a: {
        // LONG1: a little-endian two's-complement integer of n bytes
        const n = u8();
        need(n);
        let value = 0n;
        for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i]!);
        if (n && bytes[at + n - 1]! & 0x80) value -= 1n << BigInt(8 * n);
        at += n;
        stack.push(Number(value));
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x58: // BINUNICODE
      case 0x54: // BINSTRING
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
      case 0x55: // SHORT_BINSTRING
        stack.push(str(u8()));
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItem(stack.at(-1), key, value);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(stack.at(-1), items[i], items[i + 1]);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        (stack.at(-1) as unknown[]).push(value);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        (stack.at(-1) as unknown[]).push(...items);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args as unknown[]));
        break;
      }
      case 0x62: // BUILD: an OrderedDict's attributes (a state dict's _metadata), not needed
        pop();
        break;
      case 0x51: // BINPERSID
        stack.push(persistent(pop() as unknown[]));
        break;
      default:
        fail(`pickle instruction 0x${op.toString(16)} is not one a state dict uses; refused`);
    }
  }
}

interface ZipEntry {
  name: string;
  data: Uint8Array;
}

/** The entries of a zip archive whose entries are stored (torch.save's), by name. */
function readZip(bytes: Uint8Array, file: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--)
    if (view.getUint32(i, true) === 0x06054b50) {
      end = i;
      break;
    }
  if (end < 0) throw new PthError(file, 'it is not a zip archive (no end of central directory)');
  let count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  if (at === 0xffffffff || count === 0xffff) {
    // Zip64: the end-of-central-directory locator sits just before.
    const record = Number(view.getBigUint64(end - 20 + 8, true));
    count = Number(view.getBigUint64(record + 32, true));
    at = Number(view.getBigUint64(record + 48, true));
  }
  const text = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  for (let k = 0; k < count; k++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50)
      throw new PthError(file, 'its zip central directory is damaged');
    const method = view.getUint16(at + 10, true);
    let size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let local = view.getUint32(at + 42, true);
    const name = text.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // Zip64 sizes and offsets live in extra field 0x0001, in this order, for the fields that overflowed.
    for (let e = at + 46 + nameLength; e + 4 <= at + 46 + nameLength + extraLength; ) {
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let f = e + 4;
        if (view.getUint32(at + 24, true) === 0xffffffff) f += 8; // uncompressed size
        if (size === 0xffffffff) {
          size = Number(view.getBigUint64(f, true));
          f += 8;
        }
        if (local === 0xffffffff) local = Number(view.getBigUint64(f, true));
      }
      e += 4 + length;
    }
    if (method !== 0) throw new PthError(file, `${name} is compressed (method ${method}); torch.save stores entries`);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50)
      throw new PthError(file, `${name}: its local zip header is damaged`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + size > bytes.length) throw new PthError(file, `${name} runs past the end of the file (truncated?)`);
    entries.set(name, { name, data: bytes.subarray(start, start + size) });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

const storageKind = (file: string, type: unknown): string => {
  const name = isGlobal(type) ? type.global.replace(/^torch\./, '') : '';
  if (!(name in STORAGES)) throw new PthError(file, `a storage of unknown type ${JSON.stringify(type)}`);
  return name;
};

/** The zip format: data.pkl's persistent ids are ('storage', type, key, location, numel); data/<key> holds it. */
function readZipFormat(bytes: Uint8Array, file: string): unknown {
  const entries = readZip(bytes, file);
  const pickle = [...entries.keys()].find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (!pickle) throw new PthError(file, 'the zip holds no <name>/data.pkl: not a torch.save file');
  const folder = pickle.slice(0, -'data.pkl'.length);
  return unpickle(entries.get(pickle)!.data, 0, file, (id) => {
    const [tag, type, key, , count] = id as [string, unknown, string, string, number];
    if (tag !== 'storage')
      throw new PthError(file, `a persistent object of kind ${JSON.stringify(tag)}, not a storage`);
    const kind = storageKind(file, type);
    const entry = entries.get(`${folder}data/${key}`);
    if (!entry) throw new PthError(file, `storage ${key} is missing from the archive (${folder}data/${key})`);
    if (entry.data.length < count * STORAGES[kind]!.bytes)
      throw new PthError(file, `storage ${key} holds ${entry.data.length} bytes, not ${count} ${kind} elements`);
    return { kind, count, bytes: entry.data };
  }).value;
}

/** The legacy format: magic number, protocol, system info, the object, the storage keys, then the storages. */
function readLegacyFormat(bytes: Uint8Array, file: string): unknown {
  const noStorage = () => {
    throw new PthError(file, 'a header pickle refers to a storage');
  };
  let at = 0;
  for (let i = 0; i < 3; i++) at = unpickle(bytes, at, file, noStorage).end; // magic, protocol 1001, sys_info
  const storages = new Map<string, Storage>();
  const object = unpickle(bytes, at, file, (id) => {
    const [tag, type, key, , count, view] = id as [string, unknown, string, string, number, unknown];
    if (tag !== 'storage')
      throw new PthError(file, `a persistent object of kind ${JSON.stringify(tag)}, not a storage`);
    if (view !== null && view !== undefined)
      throw new PthError(file, 'storage views (PyTorch < 1.0 files) are not read');
    if (!storages.has(key)) storages.set(key, { kind: storageKind(file, type), count });
    return storages.get(key)!;
  });
  const keys = unpickle(bytes, object.end, file, noStorage);
  at = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys.value as string[]) {
    const storage = storages.get(key) ?? fail(file, `the storage list names ${key}, which no tensor uses`);
    if (at + 8 > bytes.length) fail(file, `storage ${key} is missing at the end of the file (truncated?)`);
    const count = Number(view.getBigInt64(at, true));
    const length = count * STORAGES[storage.kind]!.bytes;
    if (count !== storage.count || at + 8 + length > bytes.length)
      fail(file, `storage ${key}: ${count} elements where ${storage.count} were expected, or the file is truncated`);
    storage.bytes = bytes.subarray(at + 8, at + 8 + length);
    at += 8 + length;
  }
  return object.value;
}

function fail(file: string, problem: string): never {
  throw new PthError(file, problem);
}

/** A rebuilt tensor's elements in row-major order (its strides and offset applied), as a tfjs tensor. */
function toTensor(t: RebuiltTensor, name: string, file: string): tf.Tensor {
  const { storage, offset, shape, stride } = t;
  const { bytes, kind } = storage;
  if (!bytes) fail(file, `${name}: its storage's bytes were never found`);
  const type = STORAGES[kind]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = shape.reduce((a, b) => a * b, 1);
  const contiguous = shape.every(
    (_, d) => shape[d] === 1 || stride[d] === shape.slice(d + 1).reduce((a, b) => a * b, 1),
  );
  if (kind === 'FloatStorage' && contiguous) {
    if (offset < 0 || offset + size > storage.count) fail(file, `${name} reaches outside its storage`);
    const copy = bytes.slice(offset * 4, (offset + size) * 4); // its own, aligned buffer
    return tf.tensor(new Float32Array(copy.buffer), shape, 'float32');
  }
  const values = type.dtype === 'f' ? new Float32Array(size) : new Int32Array(size);
  const index = shape.map(() => 0);
  for (let i = 0; i < size; i++) {
    let element = offset;
    for (let d = 0; d < shape.length; d++) element += index[d]! * stride[d]!;
    if (element < 0 || element >= storage.count) fail(file, `${name} reaches outside its storage`);
    const v = type.read(view, element * type.bytes);
    if (type.dtype === 'i' && (v > 2 ** 31 - 1 || v < -(2 ** 31)))
      fail(file, `${name} holds ${v}, beyond int32 (what tfjs keeps integers in)`);
    values[i] = v;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
  return tf.tensor(values, shape, type.dtype === 'f' ? 'float32' : 'int32');
}

const startsWith = (bytes: Uint8Array, prefix: number[]) => prefix.every((b, i) => bytes[i] === b);

/**
 * Which of torch.save's formats `bytes` are in, from their first bytes (a zip's signature; the legacy format's pickled
 * magic number), or undefined: what tells a `.pth` from a safetensors file, whatever its name.
 */
export function pthFormat(bytes: Uint8Array): 'zip' | 'legacy' | undefined {
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return 'zip';
  // PROTO 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c, little-endian.
  if (startsWith(bytes, [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]))
    return 'legacy';
  return undefined;
}

/**
 * A `.pth` state dict (either of torch.save's formats) as tensors by name: only dicts of tensors are read, and the
 * file's pickle may name only collections.OrderedDict, torch's storage types and its tensor-rebuilding functions.
 */
export function decodePth(bytes: Uint8Array, file = '.pth'): Map<string, tf.Tensor> {
  const format = pthFormat(bytes);
  if (!format) throw new PthError(file, 'it is neither a zip archive nor a pickle: not a torch.save file');
  const object = format === 'zip' ? readZipFormat(bytes, file) : readLegacyFormat(bytes, file);
  if (!(object instanceof Map)) throw new PthError(file, 'it holds no dict: expected a state dict (name -> tensor)');
  const entries = [...object].map(([name, value]) => {
    if (typeof name !== 'string') fail(file, `a key ${JSON.stringify(name)} is not a name`);
    const t = value as RebuiltTensor | undefined;
    if (!t?.tensor)
      fail(
        file,
        `${name} is not a tensor: expected a state dict (name -> tensor)` +
          (value instanceof Map ? `; a checkpoint may hold one under a key such as ${name}` : ''),
      );
    return [name, t] as const;
  });
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const [name, t] of entries) tensors.set(name, toTensor(t, name, file));
  } catch (err) {
    tf.dispose([...tensors.values()]);
    throw err;
  }
  return tensors;
}
