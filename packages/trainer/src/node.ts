/**
 * Node-only: writing a run's files so that a crash never leaves a partial one (checkpoints, weights, histories,
 * exports). The bytes come from this package's encoders; where they go is the caller's choice.
 */
import { mkdir, open, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes `data` to `file` so that neither a crash nor a power cut leaves a partial file: into a temporary file
 * beside it, flushed to disk, renamed over the target, then the folder flushed so the rename itself lasts.
 */
export async function writeAtomically(file: string, data: string | Uint8Array): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  await syncFolder(path.dirname(file));
}

/**
 * Writes every file into a temporary sibling folder, then renames it to `folder`: all the files appear, or none.
 * `folder` must not exist, or be empty (it is replaced).
 */
export async function writeFolderAtomically(folder: string, files: Map<string, string | Uint8Array>): Promise<void> {
  const temp = `${folder.replace(/[\\/]+$/, '')}.${process.pid}.tmp`;
  await mkdir(temp, { recursive: true });
  try {
    for (const [name, content] of files) await writeAtomically(path.join(temp, name), content);
    await rmdir(folder).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err; // ENOTEMPTY: never replace a folder that holds files
    });
    await rename(temp, folder);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
  await syncFolder(path.dirname(folder));
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } catch {
    // some platforms cannot flush a folder; the file itself is whole either way
  } finally {
    await handle.close();
  }
}
