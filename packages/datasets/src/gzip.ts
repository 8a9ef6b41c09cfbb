/** gzip, once for every reader (IDX files, CIFAR-10's archive, downloaded tarballs), in Node and browsers. */
import { DatasetError } from './errors.js';

/** Decompresses gzip bytes with the platform's DecompressionStream (Node 18+ and browsers). */
export async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (err) {
    throw new DatasetError(file, `is not valid gzip data (${err instanceof Error ? err.message : String(err)})`);
  }
}
