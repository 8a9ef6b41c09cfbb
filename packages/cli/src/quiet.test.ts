/**
 * Quiet by default: where Mesa's Vulkan drivers are installed (they come with Debian's python3-torchvision and most
 * Linux desktops), starting Dawn prints "XDG_RUNTIME_DIR is invalid" and Vulkan warnings. 'auto' must not let them
 * through: only `--verbose` (or asking for webgpu by name) shows them.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
// Debian's mesa-vulkan-drivers (lavapipe's ICD) and a Vulkan loader, which .ci/run installs.
const lavapipe = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';
const present = existsSync(lavapipe) && existsSync('/usr/lib/x86_64-linux-gnu/libvulkan.so.1');
if (!present && process.env.CONVNETS_WEBGPU_REQUIRED === '1')
  throw new Error(`CONVNETS_WEBGPU_REQUIRED: ${lavapipe} and libvulkan1 (mesa-vulkan-drivers) are needed here`);

/** A plain user's environment: no XDG_RUNTIME_DIR, no Vulkan driver chosen (the test config chooses SwiftShader). */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { XDG_RUNTIME_DIR: _, VK_ICD_FILENAMES: __, ...env } = process.env;
  return { ...env, ...extra };
}

const convnets = (args: string[], env: NodeJS.ProcessEnv) =>
  promisify(execFile)(process.execPath, [bin, ...args], { env, maxBuffer: 1 << 24 });

const DAWN = /XDG_RUNTIME_DIR|Vulkan|Dawn|dawn|Warning/;

describe.runIf(present)(
  "no word from Dawn or Vulkan on 'auto' (Mesa's lavapipe installed, XDG_RUNTIME_DIR unset)",
  () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-quiet-'));
    const checkpoint = path.join(dir, 'mnist_resnet18.safetensors');
    let trainErr = '';
    beforeAll(async () => {
      const args = ['train', '--limit-train', '32', '--limit-valid', '16', '--batch-size', '16', '--epochs', '1'];
      trainErr = (await convnets([...args, '--out', dir], userEnv())).stderr;
    }, 120_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('train prints only its own lines on stderr', () => {
      expect(trainErr).not.toMatch(DAWN);
      for (const line of trainErr.trim().split('\n')) expect(line).toMatch(/^(backend:|training |epoch 1 |wrote )/);
    });

    it('eval with the Vulkan driver named: Dawn is asked in a child process, and stderr stays empty', async () => {
      const env = userEnv({ VK_ICD_FILENAMES: lavapipe });
      const { stderr } = await convnets(['eval', '--checkpoint', checkpoint, '--limit', '16', '--out', dir], env);
      expect(stderr.split('\n').filter((l) => !l.startsWith('wrote '))).toEqual(['']);
    });

    it('--verbose shows what the probe printed, and why webgpu was passed over', async () => {
      const env = userEnv({ VK_ICD_FILENAMES: lavapipe });
      const args = ['--verbose', 'eval', '--checkpoint', checkpoint, '--limit', '16', '--out', dir];
      const { stderr } = await convnets(args, env);
      expect(stderr).toMatch(/^webgpu skipped: /m);
      expect(stderr).toMatch(/^ {2}webgpu probe: .*XDG_RUNTIME_DIR/m);
    });
  },
);
