import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeAtomically, writeFolderAtomically } from './node.js';

describe('atomic writes', () => {
  it('writeAtomically replaces a file whole and leaves no temporary file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-trainer-'));
    try {
      const file = path.join(dir, 'state.bin');
      await writeAtomically(file, new Uint8Array([1, 2, 3]));
      await writeAtomically(file, 'replaced');
      expect(readFileSync(file, 'utf8')).toBe('replaced');
      expect(readdirSync(dir)).toEqual(['state.bin']);
      await expect(writeAtomically(path.join(dir, 'missing', 'x.bin'), 'x')).rejects.toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writeFolderAtomically makes a folder with every file, replaces an empty one, never one holding files', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-trainer-'));
    try {
      const files = new Map<string, string | Uint8Array>([
        ['a.txt', 'A'],
        ['b.bin', new Uint8Array([7])],
      ]);
      await writeFolderAtomically(path.join(dir, 'new'), files);
      expect(readdirSync(path.join(dir, 'new')).sort()).toEqual(['a.txt', 'b.bin']);
      mkdirSync(path.join(dir, 'empty'));
      await writeFolderAtomically(path.join(dir, 'empty/'), files);
      expect(readFileSync(path.join(dir, 'empty', 'a.txt'), 'utf8')).toBe('A');
      mkdirSync(path.join(dir, 'busy'));
      writeFileSync(path.join(dir, 'busy', 'mine.txt'), 'mine');
      await expect(writeFolderAtomically(path.join(dir, 'busy'), files)).rejects.toThrow(/ENOTEMPTY/);
      expect(readdirSync(path.join(dir, 'busy'))).toEqual(['mine.txt']);
      expect(readdirSync(dir).sort()).toEqual(['busy', 'empty', 'new']); // no temporary folder left
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
