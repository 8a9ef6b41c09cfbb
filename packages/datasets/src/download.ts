/**
 * Node-only: downloads into a cache folder with a checksum, and safe archive extraction. A download is
 * streamed to a temporary file and renamed only once its checksum (MD5, or SHA-256 or a prefix of it) matches, so
 * a partial or corrupt file is never used; an archive is extracted into a temporary folder and renamed into place
 * only when complete.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DatasetError } from './errors.js';
import { gunzip } from './gzip.js';
import { readTar, type TarEntry } from './tar.js';

/** `$CONVNETS_CACHE`, else `$XDG_CACHE_HOME/convnets`, else `~/.cache/convnets`. */
export function cacheDirectory(): string {
  return (
    process.env.CONVNETS_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'convnets')
  );
}

/** The checksum a download is held to: the algorithm, and the expected hex digest or (SHA-256) a prefix of it. */
function checksumOf({ md5, sha256 }: Pick<DownloadOptions, 'md5' | 'sha256'>) {
  if (md5 && sha256) throw new TypeError('download: give md5 or sha256, not both');
  const [algorithm, expected] = sha256 ? (['sha256', sha256] as const) : (['md5', md5] as const);
  return { algorithm, expected: expected?.toLowerCase(), label: algorithm === 'md5' ? 'MD5' : 'SHA-256' };
}

async function digestOf(file: string, algorithm: 'md5' | 'sha256'): Promise<string> {
  return createHash(algorithm)
    .update(await readFile(file))
    .digest('hex');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

export interface DownloadOptions {
  /** Expected MD5 (hex). Without a checksum the file is still downloaded atomically, but not verified. */
  md5?: string;
  /** Expected SHA-256 (hex), or its first digits (torchvision's weight files carry 8 in their names). */
  sha256?: string;
  /** Folder to keep the file in (default: `cacheDirectory()`). */
  cacheDir?: string;
  /** File name in the cache (default: the URL's last path segment). */
  fileName?: string;
  fetchImpl?: typeof fetch;
  /** Called with bytes received and the total (when the server says). */
  onProgress?: (received: number, total: number | undefined) => void;
}

/** Downloads `url` into the cache (or reuses a cached copy whose MD5 matches) and returns its path. */
export async function download(
  url: string,
  { md5, sha256, cacheDir = cacheDirectory(), fileName, fetchImpl = fetch, onProgress }: DownloadOptions = {},
): Promise<string> {
  const { algorithm, expected, label } = checksumOf({ md5, sha256 });
  const matches = (digest: string) => !expected || digest.startsWith(expected);
  const name = fileName ?? decodeURIComponent(new URL(url).pathname.split('/').pop() || 'download');
  const target = path.join(cacheDir, name);
  if ((await exists(target)) && matches(await digestOf(target, algorithm))) return target;
  await mkdir(cacheDir, { recursive: true });
  const response = await fetchImpl(url).catch((err: unknown) => {
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    throw new DatasetError(url, `download failed: ${cause}; nothing was kept`);
  });
  if (!response.ok || !response.body)
    throw new DatasetError(url, `download failed: HTTP ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get('content-length')) || undefined;
  const partial = `${target}.${process.pid}.part`;
  const hash = createHash(algorithm);
  let received = 0;
  try {
    const counted = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>).map(
      (chunk: Buffer) => {
        hash.update(chunk);
        received += chunk.length;
        onProgress?.(received, total);
        return chunk;
      },
    );
    await pipeline(counted, createWriteStream(partial));
    if (total !== undefined && received !== total)
      throw new DatasetError(url, `download ended after ${received} of ${total} bytes: incomplete, nothing was kept`);
    const actual = hash.digest('hex');
    if (!matches(actual))
      throw new DatasetError(
        url,
        `${label} is ${actual}, expected ${expected}${expected!.length < actual.length ? '...' : ''}: corrupt or ` +
          'wrong file, nothing was kept',
      );
    await rename(partial, target);
    return target;
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(
      url,
      `download failed after ${received} bytes: ${err instanceof Error ? err.message : String(err)}; nothing was kept`,
    );
  }
}

/** The entries of a `.tar`, `.tar.gz` or `.tgz` file, every path checked before anything is written. */
export async function readArchive(file: string): Promise<TarEntry[]> {
  let bytes: Uint8Array = await readFile(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    bytes = await gunzip(bytes, file);
  }
  return readTar(bytes, file);
}

/**
 * Extracts an archive into `dest` (default: a folder named after it in the cache) unless that was already
 * done, and returns `dest`. No entry can land outside `dest`; an interrupted extraction is never used.
 */
export async function extractArchive(
  file: string,
  dest = path.join(cacheDirectory(), path.basename(file).replace(/\.(tar\.gz|tgz|tar)$/i, '')),
): Promise<string> {
  // The marker names the archive it came from (path, size, mtime): another archive with the same file name, or
  // a changed one, is extracted afresh instead of silently reusing the old folder.
  const done = path.join(dest, '.convnets-extracted');
  const info = await stat(file);
  const origin = `${path.resolve(file)}\n${info.size}\n${info.mtimeMs}\n`;
  if ((await readFile(done, 'utf8').catch(() => '')) === origin) return dest;
  const entries = await readArchive(file);
  const temp = `${dest}.${process.pid}.partial`;
  await rm(temp, { recursive: true, force: true });
  try {
    await mkdir(temp, { recursive: true });
    const dirs = new Set(entries.map((e) => path.dirname(path.join(temp, e.path))));
    for (const e of entries) if (e.type === 'directory') dirs.add(path.join(temp, e.path));
    for (const dir of dirs) await mkdir(dir, { recursive: true });
    for (const e of entries) if (e.type === 'file') await writeFile(path.join(temp, e.path), e.data);
    await writeFile(path.join(temp, '.convnets-extracted'), origin);
    await rm(dest, { recursive: true, force: true });
    await rename(temp, dest);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
  return dest;
}
