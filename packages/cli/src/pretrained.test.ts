/**
 * `convnets weights get` against a local HTTP server (no network in tests): published weights into the cache once,
 * checked against the SHA-256 prefix in their name, with where they came from; then `--weights <net>` names them.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { encode as encodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from '@convnets/architectures';
import { initBackend } from '@convnets/backend';
import { IMAGENET_CLASSES, IMAGENET_MEAN, decodeImage, inferenceTransform } from '@convnets/datasets';
import { decodeWeights } from '@convnets/trainer';
import { encodeSafetensors, stateDict } from '@convnets/nn';
import { cli } from '../test-utils/cli.js';

describe('convnets weights get (a local server stands in for download.pytorch.org)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-weights-'));
  const cache = path.join(dir, 'cache');
  const served = new Map<string, Uint8Array>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url!);
    const body = served.get(req.url!);
    res.writeHead(body ? 200 : 404, body ? { 'content-length': body.length } : {});
    res.end(body);
  });
  let base = '';
  let sha = '';
  const photo = path.join(dir, 'photo.png');
  const before = process.env.CONVNETS_CACHE;

  beforeAll(async () => {
    process.env.CONVNETS_CACHE = cache;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await initBackend('wasm');
    // torchvision's ResNet-18 state dict without a card, as a PyTorch user's file would be (safetensors here).
    const net = createModel('torchvision/resnet18', { seed: 3 });
    const state = stateDict(net);
    const bytes = await encodeSafetensors(state);
    tf.dispose([...state.values()]);
    net.dispose();
    sha = createHash('sha256').update(bytes).digest('hex');
    served.set(`/resnet18-${sha.slice(0, 8)}.safetensors`, bytes);
    served.set('/resnet34-deadbeef.pth', bytes);
    const [h, w] = [120, 160];
    const pixels = Uint8Array.from({ length: h * w * 3 }, (_, i) => (i * 7 + Math.floor(i / (w * 3)) * 13) % 256);
    writeFileSync(photo, encodePng({ width: w, height: h, data: pixels, channels: 3, depth: 8 }));
  });
  afterAll(() => {
    server.close();
    if (before === undefined) delete process.env.CONVNETS_CACHE;
    else process.env.CONVNETS_CACHE = before;
    rmSync(dir, { recursive: true, force: true });
  });

  it('downloads once into the cache, checked, with its source and license; then --weights <net> predicts ImageNet names', async () => {
    const url = `${base}/resnet18-${sha.slice(0, 8)}.safetensors`;
    const first = await cli('weights', 'get', 'torchvision/resnet18', '--url', url);
    expect(first.code, first.err).toBe(0);
    const folder = path.join(cache, 'weights', 'torchvision-resnet18');
    expect(first.out).toContain(`downloaded: ${path.join(folder, `resnet18-${sha.slice(0, 8)}.safetensors`)}`);
    expect(first.out).toContain(`sha256: ${sha}`);
    expect(first.out).toMatch(/^license: BSD-3-Clause \(torchvision\)\. .*ImageNet/m);
    expect(first.out).toContain("source: torchvision's IMAGENET1K_V1 weights");
    const record = JSON.parse(readFileSync(path.join(folder, 'weights.json'), 'utf8'));
    expect(record).toMatchObject({ model: 'torchvision/resnet18', url, sha256: sha });
    // Once: the second call finds them in the cache.
    const again = await cli('weights', 'get', 'torchvision/resnet18', '--url', url, '--json');
    expect(JSON.parse(again.out)).toMatchObject({ downloaded: false, sha256: sha });
    expect(requests).toEqual([`/resnet18-${sha.slice(0, 8)}.safetensors`]);

    // A net's name for --weights: its cached file, ImageNet's preprocessing and class names.
    const predicted = await cli('predict', '--weights', 'torchvision/resnet18', '--image', photo, '--backend', 'wasm');
    expect(predicted.code, predicted.err).toBe(0);
    const lines = predicted.out.trim().split('\n');
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(IMAGENET_CLASSES).toContain(line.replace(/\s+[\d.]+%$/, ''));
  });

  it('fine-tunes from them on a folder of any-sized pictures: ImageNet normalisation, a new head, the backbone frozen', async () => {
    const folder = path.join(dir, 'pictures');
    for (const [split, count] of [
      ['train', 4],
      ['test', 2],
    ] as const)
      for (const [k, cls] of ['cats', 'dogs'].entries())
        for (let i = 0; i < count; i++) {
          const [h, w] = [30 + 7 * i, 40 + 5 * k];
          const data = Uint8Array.from({ length: h * w * 3 }, (_, j) => (j * (k + 2) + i * 31) % 256);
          mkdirSync(path.join(folder, split, cls), { recursive: true });
          writeFileSync(
            path.join(folder, split, cls, `${i}.png`),
            encodePng({ width: w, height: h, data, channels: 3 }),
          );
        }
    const out = path.join(dir, 'finetuned');
    const trained = await cli(
      ...['train', '--from', 'torchvision/resnet18', '--dataset', 'folder', '--root', folder, '--freeze', 'features'],
      ...['--epochs', '1', '--batch-size', '4', '--backend', 'wasm', '--out', out],
    );
    expect(trained.code, trained.err + trained.out).toBe(0);
    expect(trained.err).toContain(
      'fine-tuning torchvision/resnet18 from torchvision/resnet18 (trained for 1000 classes: tench, goldfish, great white shark, ...)',
    );
    const file = path.join(out, 'folder_torchvision-resnet18.safetensors');
    const { card } = decodeWeights(new Uint8Array(readFileSync(file)), file);
    expect(card).toMatchObject({
      model: 'torchvision/resnet18',
      inputSize: 224,
      classes: ['cats', 'dogs'],
      mean: [...IMAGENET_MEAN],
    });
    expect(card!.fineTunedFrom).toMatchObject({ weights: 'torchvision/resnet18' });
  });

  it("reads timm's model.safetensors with its config.json: input size, crop, mean/std, ImageNet's names", async () => {
    const hub = path.join(dir, 'hub');
    mkdirSync(hub);
    const weights = path.join(hub, 'model.safetensors');
    writeFileSync(weights, served.get(`/resnet18-${sha.slice(0, 8)}.safetensors`)!);
    const cfg = { input_size: [3, 160, 160], crop_pct: 0.95, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
    const config = { architecture: 'resnet18.a1_in1k', num_classes: 1000, pretrained_cfg: cfg };
    writeFileSync(path.join(hub, 'config.json'), JSON.stringify(config));
    const predicted = await cli('predict', '--weights', weights, '--image', photo, '--backend', 'wasm', '--json');
    expect(predicted.code, predicted.err).toBe(0);
    const result = JSON.parse(predicted.out);
    expect(result.model).toBe('torchvision/resnet18');
    expect(IMAGENET_CLASSES).toContain(result.top[0].class);
    // The same net and picture here, prepared as the config says: resize 168, crop 160, its mean and std.
    const net = createModel('torchvision/resnet18', { seed: 3, inputSize: 160 }).eval();
    const { data, height, width } = decodeImage(new Uint8Array(readFileSync(photo)), photo, 3);
    const expected = tf.tidy(() => {
      const x = inferenceTransform({ inputSize: 160, mean: cfg.mean, std: cfg.std, cropPct: cfg.crop_pct })(
        tf.tensor4d(data, [1, height, width, 3], 'float32'),
        { random: Math.random },
      );
      return tf.softmax(net.forward(x)).dataSync();
    });
    net.dispose();
    const worst = Math.max(...result.probabilities.map((p: number, i: number) => Math.abs(p - expected[i]!)));
    expect(worst).toBeLessThan(1e-6);
    writeFileSync(path.join(hub, 'config.json'), JSON.stringify({ architecture: 'resnet18' }));
    expect(await cli('predict', '--weights', weights, '--image', photo)).toMatchObject({
      code: 1,
      err: expect.stringContaining('config.json: has no pretrained_cfg with input_size [C, H, W], mean and std'),
    });
  });

  it('keeps nothing whose SHA-256 is not what its name says, and names what is missing or unknown', async () => {
    const bad = await cli('weights', 'get', 'torchvision/resnet34', '--url', `${base}/resnet34-deadbeef.pth`);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(`SHA-256 is ${sha}, expected deadbeef...: corrupt or wrong file, nothing was kept`);
    const folder = path.join(cache, 'weights', 'torchvision-resnet34');
    expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);
    expect(await cli('predict', '--weights', 'torchvision/resnet34', '--image', photo)).toMatchObject({
      code: 1,
      err: expect.stringContaining(
        `torchvision/resnet34: its weights are not in the cache (${folder}): run \`convnets weights get torchvision/resnet34\``,
      ),
    });
    expect(await cli('weights', 'get', 'resnet18')).toMatchObject({
      code: 1,
      err: expect.stringContaining(
        'resnet18 has no published weights; these do: torchvision/alexnet, torchvision/vgg11',
      ),
    });
    expect(await cli('weights', 'get', 'torchvision/resnet18', '--url', `${base}/weights.pth`)).toMatchObject({
      code: 1,
      err: expect.stringContaining('--url: weights.pth has no SHA-256 prefix in its name'),
    });
    expect(await cli('weights', 'get', 'lenet')).toMatchObject({
      code: 1,
      err: expect.stringContaining("Unknown model 'lenet'"),
    });
  });
});
