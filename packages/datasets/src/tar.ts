/**
 * A small reader for (ustar/GNU/pax) tar archives held in memory: enough for the CIFAR-10 release and image
 * folders, in Node and the browser. Entry names are checked so that no entry can escape the folder it is
 * extracted into (no absolute paths, no `..`, no links).
 */
import { DatasetError } from './errors.js';

export interface TarEntry {
  /** Normalised relative path, `/`-separated. */
  path: string;
  type: 'file' | 'directory';
  /** A view into the archive's bytes (no copy). */
  data: Uint8Array;
}

const BLOCK = 512;
const text = new TextDecoder();

function field(header: Uint8Array, start: number, length: number): string {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return text.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function octal(header: Uint8Array, start: number, length: number, archive: string, offset: number): number {
  const raw = field(header, start, length).trim();
  if (raw === '') return 0;
  if (!/^[0-7]+$/.test(raw))
    throw new DatasetError(
      archive,
      `tar header has a malformed number ${JSON.stringify(raw)}, expected octal digits`,
      offset + start,
    );
  return parseInt(raw, 8);
}

/** A path that stays inside the extraction folder, or a DatasetError naming the entry. */
export function safeEntryPath(name: string, archive: string): string {
  const parts = name
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p !== '' && p !== '.');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || parts.includes('..') || parts.length === 0) {
    throw new DatasetError(
      archive,
      `entry ${JSON.stringify(name)} would escape the extraction folder: expected a relative path without '..'`,
    );
  }
  return parts.join('/');
}

/** Pax extended-header records: "<len> key=value\n". Only `path` matters here. */
function paxPath(data: Uint8Array): string | undefined {
  let found: string | undefined;
  for (const line of text.decode(data).split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) found = match[1];
  }
  return found;
}

export function readTar(bytes: Uint8Array, archive: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= bytes.length) {
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) return entries; // end-of-archive marker
    const stored = octal(header, 148, 8, archive, offset);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
    if (sum !== stored)
      throw new DatasetError(
        archive,
        `tar header checksum is ${stored} but the header sums to ${sum}: not a tar archive, or corrupt`,
        offset,
      );
    const size = octal(header, 124, 12, archive, offset);
    const dataStart = offset + BLOCK;
    if (dataStart + size > bytes.length) {
      throw new DatasetError(
        archive,
        `entry ${JSON.stringify(field(header, 0, 100))} needs ${size} bytes ` +
          `but the archive ends after ${bytes.length - dataStart}: truncated`,
        offset,
      );
    }
    const data = bytes.subarray(dataStart, dataStart + size);
    const type = String.fromCharCode(header[156]!);
    const prefix = field(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      longName = paxPath(data);
      continue;
    }
    longName = undefined;
    if (type === 'g') continue; // global pax header: nothing we need
    if (type === '1' || type === '2')
      throw new DatasetError(archive, `entry ${JSON.stringify(name)} is a link: expected only files and folders`);
    if (type === '5') {
      entries.push({ path: safeEntryPath(name, archive), type: 'directory', data });
    } else if (type === '0' || type === '\0' || type === '7') {
      entries.push({ path: safeEntryPath(name, archive), type: 'file', data });
    } else {
      throw new DatasetError(
        archive,
        `entry ${JSON.stringify(name)} has tar type '${type}': expected a file or folder`,
        offset,
      );
    }
  }
  if (entries.length === 0 && bytes.length > 0)
    throw new DatasetError(archive, `is ${bytes.length} bytes, too short for a tar archive`);
  return entries; // archives without the trailing zero blocks are accepted, as GNU tar does
}

/** Writes a ustar archive (files only). For tests and users who build their own folders. */
export function writeTar(files: { path: string; data: Uint8Array }[]): Uint8Array {
  const encoder = new TextEncoder();
  const size = files.reduce((n, f) => n + BLOCK + Math.ceil(f.data.length / BLOCK) * BLOCK, 2 * BLOCK);
  const out = new Uint8Array(size);
  let offset = 0;
  for (const file of files) {
    const header = out.subarray(offset, offset + BLOCK);
    const put = (value: string, start: number) => header.set(encoder.encode(value), start);
    if (encoder.encode(file.path).length > 100) throw new Error(`writeTar: path ${file.path} is longer than 100 bytes`);
    put(file.path, 0);
    put('0000644\0', 100);
    put('0000000\0', 108);
    put('0000000\0', 116);
    put(`${file.data.length.toString(8).padStart(11, '0')}\0`, 124);
    put('00000000000\0', 136);
    put('        ', 148);
    header[156] = '0'.charCodeAt(0);
    put('ustar\0', 257);
    put('00', 263);
    const sum = header.reduce((a, b) => a + b, 0);
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    out.set(file.data, offset + BLOCK);
    offset += BLOCK + Math.ceil(file.data.length / BLOCK) * BLOCK;
  }
  return out;
}
