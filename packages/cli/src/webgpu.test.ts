/**
 * The CLI on webgpu (Dawn in Node; in tests Chromium's SwiftShader, see tooling/config's Vitest config): a file of
 * its own, so that these slow software-GPU runs go on beside program.test.ts instead of after it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors, encodeSafetensors } from '@convnets/nn';
import { findWebgpuAdapter } from '@convnets/backend';
import { cli } from '../test-utils/cli.js';

/** Why webgpu cannot run here ('' where Dawn has an adapter: SwiftShader's in tests where Chromium is installed). */
const webgpuMissing = await findWebgpuAdapter().then(
  () => '',
  (err: Error) => {
    if (process.env.CONVNETS_WEBGPU_REQUIRED === '1') throw err;
    return err.message;
  },
);

describe.skipIf(webgpuMissing)('convnets on webgpu (Dawn in Node)', () => {
  const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
  // A software adapter trains ResNet-18 at ~60 MFLOP/s (~3 s an image): one step of 8 proves what a longer run would.
  const tiny = ['--limit-train', '8', '--limit-valid', '4', '--batch-size', '8', '--schedule', 'constant'];

  it(
    'train, eval and predict run on webgpu; eval equals cpu; the run resumes on another backend',
    async () => {
      const out = mkdtempSync(path.join(os.tmpdir(), 'convnets-webgpu-'));
      try {
        const trained = await cli('train', ...tiny, '--backend', 'webgpu', '--epochs', '1', '--out', out);
        expect(trained.code, trained.err).toBe(0);
        expect(trained.err).toMatch(/^backend: webgpu \(SwiftShader.*, software\)$/m);
        expect(trained.out).toMatch(/^Epoch -> 1 /m);
        const weights = path.join(out, 'mnist_resnet18.safetensors');
        const evaluation = async (backend: string) => {
          const r = await cli('eval', '--checkpoint', weights, '--limit', '10', '--backend', backend, '--json');
          expect(r.code, r.err).toBe(0);
          return JSON.parse(r.out);
        };
        const [onGpu, onCpu] = [await evaluation('webgpu'), await evaluation('cpu')];
        expect(onGpu.confusion).toEqual(onCpu.confusion);
        expect(Math.abs(onGpu.loss - onCpu.loss)).toBeLessThan(1e-4);

        const input = path.join(out, 'input.safetensors');
        const x = tf.tensor4d(
          Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.cos(i)),
          [2, 1, 28, 28],
        );
        writeFileSync(input, await encodeSafetensors(new Map([['input', x]])));
        x.dispose();
        const logits = async (backend: string) => {
          const file = path.join(out, `logits-${backend}.safetensors`);
          const r = await cli(
            'predict',
            '--weights',
            weights,
            '--input',
            input,
            '--output',
            file,
            '--backend',
            backend,
          );
          expect(r.code, r.err).toBe(0);
          const t = decodeSafetensors(new Uint8Array(readFileSync(file))).tensors.get('logits')!;
          const values = Array.from(await t.data());
          t.dispose();
          return values;
        };
        const [gpuLogits, cpuLogits] = [await logits('webgpu'), await logits('cpu')];
        expect(Math.max(...gpuLogits.map((v, i) => Math.abs(v - cpuLogits[i]!)))).toBeLessThan(1e-4);

        const resumed = await cli('train', ...tiny, '--backend', 'wasm', '--epochs', '2', '--resume', '--out', out);
        expect(resumed.code, resumed.err).toBe(0);
        expect(resumed.err).toContain('resuming after epoch 1 of 2');
        expect(resumed.out).toMatch(/^Epoch -> 2 /m);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
    10 * 60_000,
  );

  it('bench measures webgpu beside wasm', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [bin, 'bench', '--model', 'densenet', '--image-size', '32', '--batch-size', '2', '--seconds', '0.2'].concat([
        '--warmup',
        '0',
        '--backends',
        'webgpu,wasm',
        '--json',
      ]),
      { timeout: 300_000 },
    );
    const r = JSON.parse(stdout);
    expect(r.results.map((x: { backend: string }) => x.backend)).toEqual(['webgpu', 'wasm']);
    for (const x of r.results) expect(x.trainImagesPerSec).toBeGreaterThan(0);
  }, 300_000);

  it('doctor says webgpu runs here on a software adapter only, which auto passes over', async () => {
    const { code, out } = await cli('doctor', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.backends.map((b: { backend: string }) => b.backend)).toEqual([
      'tensorflow',
      'webgpu',
      'native',
      'wasm',
      'cpu',
    ]);
    const row = (name: string) => report.backends.find((b: { backend: string }) => b.backend === name);
    expect(row('webgpu')).toMatchObject({ status: 'limited', detail: expect.stringContaining('SwiftShader') });
    expect(row('cpu')).toEqual({ backend: 'cpu', status: 'ready', detail: 'cpu' });
    expect(row('tensorflow')).toMatchObject({
      status: 'missing',
      fix: expect.stringContaining('npm install @tensorflow/tfjs-node-gpu'),
    });
    expect(report.auto.skipped).toContainEqual(
      expect.objectContaining({ backend: 'webgpu', reason: expect.stringMatching(/^the only adapter is software/) }),
    );
    expect(report.auto.backend).not.toBe('webgpu');
  });
});

describe('convnets --backend webgpu where WebGPU cannot run', () => {
  const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

  it('fails with what is missing (no adapter: the Vulkan driver), and doctor gives the fix', async () => {
    // A Vulkan driver list naming no driver: Dawn finds no adapter.
    const env = { ...process.env, VK_ICD_FILENAMES: path.join(os.tmpdir(), 'no-such-icd.json') };
    const train = await promisify(execFile)(process.execPath, [bin, 'train', '--backend', 'webgpu'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(train).toMatchObject({ code: 1 });
    expect((train as { stderr: string }).stderr).toMatch(
      /^error: Backend 'webgpu' is not available here\. webgpu: (WebGPU gives no adapter here \(Dawn found no GPU|the Vulkan loader)/m,
    );
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'doctor', '--json'], { env });
    const webgpu = JSON.parse(stdout).backends.find((b: { backend: string }) => b.backend === 'webgpu');
    expect(webgpu).toMatchObject({ status: 'missing', fix: expect.stringMatching(/Vulkan/) });
  });
});
