/**
 * The app as a user meets it: built (`pnpm build`), served on 127.0.0.1, driven in Debian's Chromium
 * (`apt-get install -y chromium`) by playwright-core. WebGL2 and WebGPU run on SwiftShader there: correctness checks,
 * not speed. WebGPU needs Chromium's GPU process on Vulkan (SwiftShader's): without it tfjs-webgpu's synchronous
 * reads return zeros and the device is dropped (issue 17); the app reads asynchronously anyway.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { deflateSync } from 'node:zlib';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@convnets/architectures';
import { IMAGENET_CLASSES } from '@convnets/datasets';
import { encodeSafetensors, stateDict } from '@convnets/nn';
import { SMALL_NETS, SOFTWARE_GPU_NETS } from '@convnets/tooling/fixtures';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { stepAgainstCpu, threadsAgree } from '../src/checks.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--use-gl=angle',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--ignore-gpu-blocklist',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  // A camera that films a test pattern, for pages allowed to use it (the Teach test grants it; until then, refused).
  '--use-fake-device-for-media-stream',
];
const dist = path.resolve(import.meta.dirname, '../dist');
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/** What `pnpm app` (vite preview) sends so that the page may share memory with workers (wasm on every core). */
const CROSS_ORIGIN_ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

function serve(root: string, headers: Record<string, string> = {}): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const file = path.join(root, path.normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res
      .writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', ...headers })
      .end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface PageState {
  status: string;
  backend?: { backend: string; details: Record<string, unknown> };
  batchLosses: number[];
  tensorsAfterEpoch: number[];
  history?: { trainLoss: number[]; validAcc: number[] };
  error?: string;
}

describe.runIf(existsSync(CHROMIUM))('the browser app in Chromium', () => {
  let server: Server;
  let isolatedServer: Server;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(path.join(dist, 'index.html')))
      throw new Error(`${dist} has no built app: run pnpm --filter @convnets/example-browser build`);
    server = await serve(dist);
    isolatedServer = await serve(dist, CROSS_ORIGIN_ISOLATION);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
  });
  afterAll(async () => {
    await browser?.close();
    server?.close();
    isolatedServer?.close();
  });

  /** Waits until the page's status is one of `states`. */
  const untilStatus = (states: string[], timeout: number, polling = 500) =>
    page.waitForFunction((s) => s.includes((window as unknown as { convnets: PageState }).convnets.status), states, {
      timeout,
      polling,
    });

  /** The training run the tests start: 2 epochs of 10 batches of 16 (the default), or a shorter one. */
  const RUN = '&epochs=2&batch=16&limit=160&valid=100&lr=0.02';

  type Win = { convnets: PageState };

  /** The page's state after a run. */
  const runState = () =>
    page.evaluate(() => {
      const s = (window as unknown as Win).convnets;
      return {
        status: s.status,
        error: s.error,
        backend: s.backend,
        losses: s.batchLosses,
        tensors: s.tensorsAfterEpoch,
        history: s.history,
        isolated: crossOriginIsolated,
        cores: navigator.hardwareConcurrency,
      };
    });

  /** Opens the app on `server` and trains ResNet-18 on `backend` for `run`'s 2 epochs; the page's state after. */
  async function trainToEnd(on: Server, backend: string, timeout: number, run = RUN) {
    const { port } = on.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/index.html?model=resnet18&backend=${backend}${run}&autostart=1`);
    await untilStatus(['done', 'error'], timeout);
    return runState();
  }

  /**
   * As trainToEnd, but the run is stopped in its second epoch (of `batches` batches, at least 3) and resumed from the
   * end of the first: it completes both epochs. Its losses are epoch 1's, the stopped ones, then epoch 2's.
   */
  async function trainStopResume(on: Server, backend: string, timeout: number, run: string, batches: number) {
    const { port } = on.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/index.html?model=resnet18&backend=${backend}${run}&autostart=1`);
    // batches + 1 losses: epoch 2 is under way (and a stop lands at the end of its next batch at the latest).
    await page.waitForFunction(
      (n) => {
        const s = (window as unknown as Win).convnets;
        return s.status === 'training' && s.batchLosses.length >= n;
      },
      batches + 1,
      { timeout, polling: 200 },
    );
    // While a step runs the page only answers between batches: click without waiting for "stable" animation frames.
    await page.click('#stop', { force: true, timeout: 120_000 });
    await untilStatus(['stopped', 'error'], 5 * 60_000);
    expect(await page.textContent('#status')).toContain('Stopped. Resume continues after epoch 1.');
    await page.click('#resume');
    await untilStatus(['done', 'error'], timeout, 1000);
    const state = await runState();
    expect(state).toMatchObject({ status: 'done', error: undefined });
    expect(state.history!.trainLoss).toHaveLength(2);
    // Epoch 1, one or two batches of the stopped epoch 2, epoch 2 again.
    expect(state.losses.length - 2 * batches).toBeGreaterThanOrEqual(1);
    expect(state.losses.length - 2 * batches).toBeLessThanOrEqual(2);
    // One count after each epoch, the same: nothing leaked across the stop and the resume.
    expect(state.tensors).toHaveLength(2);
    expect(state.tensors[1]).toBe(state.tensors[0]);
    return state;
  }

  /** The mean of the last three batches' loss is below the first batch's. */
  const lossFell = (losses: number[]) => losses.slice(-3).reduce((a, b) => a + b, 0) / 3 < losses[0]!;

  /** Calls the page's self-check `window.convnets[name](...args)` (src/checks.ts) and returns what it resolves to. */
  function callPage<T>(
    name: 'compareWithCpu' | 'stepAgainstCpu' | 'threadsAgree' | 'netLogitsAgainstCpu',
    ...args: unknown[]
  ): Promise<T> {
    type Checks = Record<string, (...a: unknown[]) => Promise<unknown>>;
    return page.evaluate(([n, a]) => (window as unknown as { convnets: Checks }).convnets[n]!(...a), [
      name,
      args,
    ] as const) as Promise<T>;
  }

  /** Max |logits - cpu's logits| of the page's net for a fixed input. */
  const logitsAgainstCpu = () => callPage<number>('compareWithCpu');

  /** Saves the page's net in the browser and loads it back; downloads it as PyTorch-named safetensors with a card. */
  async function saveLoadAndDownload() {
    // Save the trained weights in the browser and load them back; download them as PyTorch-named safetensors.
    await page.click('#save-idb');
    await expect
      .poll(() => page.textContent('#status'), { timeout: 120_000 })
      .toContain('Saved resnet18@mnist in this browser.');
    await page.click('#load-idb');
    await expect
      .poll(() => page.textContent('#status'), { timeout: 120_000 })
      .toContain('Loaded resnet18@mnist into resnet18.');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('mnist_resnet18.safetensors');
    const bytes = readFileSync((await download.path())!);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    expect(header['0.0.weight']).toMatchObject({ dtype: 'F32', shape: [64, 1, 7, 7] });
    expect(header['1.0.bn1.running_mean']).toMatchObject({ dtype: 'F32', shape: [64] });
    // ... with the card that says how to use them (what `convnets eval` reads).
    const card = JSON.parse(header.__metadata__.convnets);
    expect(card).toMatchObject({ model: 'resnet18', inputSize: 28, inChannels: 1, classes: [...'0123456789'] });
    expect(card.mean[0]).toBeCloseTo(0.1307, 4);
  }

  /** onnxruntime-web's files, served to the page from node_modules under /__ort/ (nothing is downloaded). */
  const ORT_DIST = path.resolve(import.meta.dirname, '../node_modules/onnxruntime-web/dist');

  /**
   * Downloads the page's net as ONNX (raw [0, 1] pixels in, the normalisation baked in) and runs it in onnxruntime-web
   * (wasm) on the page: the largest difference from the page's own logits for the same pixels, relative to them.
   */
  async function onnxAgainstPage(): Promise<number> {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-onnx')]);
    expect(download.suggestedFilename()).toBe('mnist_resnet18.onnx');
    const onnxFile = (await download.path())!;
    await page.route('**/__ort/*', (route) => {
      const file = path.join(ORT_DIST, path.basename(new URL(route.request().url()).pathname));
      const contentType = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
      return route.fulfill({ path: file, contentType });
    });
    await page.route('**/__onnx/model.onnx', (route) => route.fulfill({ path: onnxFile }));
    await page.addScriptTag({ url: '/__ort/ort.wasm.min.js' });
    const pixels = Array.from({ length: 4 * 28 * 28 }, (_, i) => ((i * 7919) % 256) / 255);
    return page.evaluate(async (raw) => {
      type Ort = typeof import('onnxruntime-web');
      const w = window as unknown as {
        ort: Ort;
        convnets: { logitsOf: (p: number[], s: number[]) => Promise<number[]> };
      };
      w.ort.env.wasm.wasmPaths = `${location.origin}/__ort/`;
      w.ort.env.wasm.numThreads = 1;
      const model = new Uint8Array(await (await fetch('/__onnx/model.onnx')).arrayBuffer());
      const session = await w.ort.InferenceSession.create(model);
      // One channel: NCHW and NHWC hold the same numbers.
      const input = new w.ort.Tensor('float32', Float32Array.from(raw), [4, 1, 28, 28]);
      const onnx = (await session.run({ input })).logits!.data as Float32Array;
      const ours = await w.convnets.logitsOf(raw, [4, 28, 28, 1]);
      await session.release();
      const scale = Math.max(1, ...ours.map(Math.abs));
      return Math.max(...ours.map((v, i) => Math.abs(v - onnx[i]!))) / scale;
    }, pixels);
  }

  it(
    'trains a notebook net on real MNIST with WebGL: the loss falls, the charts ' +
      'draw, the logits match cpu, the weights save and load, stop and resume',
    async () => {
      // SwiftShader's WebGL takes seconds a batch here: 2 epochs of 3 batches of 8, stopped in the second, resumed.
      const run = '&epochs=2&batch=8&limit=24&valid=20&lr=0.005';
      const state = await trainStopResume(server, 'webgl', 12 * 60_000, run, 3);
      expect(state.backend?.backend).toBe('webgl');
      expect(await page.textContent('#backend-info')).toContain('Backend: webgl');
      // WebGPU here is SwiftShader's: offered, and named a software adapter.
      const webgpu = page.locator('#backend option[value="webgpu"]');
      expect(await webgpu.isDisabled()).toBe(false);
      expect(await webgpu.textContent()).toBe('webgpu (software adapter)');
      expect(await webgpu.getAttribute('title')).toMatch(
        /^google swiftshader: a CPU implementation, correct but slower/i,
      );
      // The last few batches' loss (epoch 2, resumed) is below the first batch's. No tensor growth from one epoch to
      // the next (WebGL textures belong to tensors): trainStopResume checks that.
      expect(lossFell(state.losses), `losses ${state.losses}, epochs ${state.history?.trainLoss}`).toBe(true);

      // Logits of a fixed input, the same weights: WebGL against the cpu backend.
      expect(await logitsAgainstCpu()).toBeLessThan(1e-3);

      // The charts rendered: each canvas has many colours (not blank), and the grid shows predictions.
      for (const id of [
        'accuracy-chart',
        'loss-chart',
        'grid-chart',
        'confusion-chart',
        'features-chart',
        'gradcam-chart',
      ]) {
        const shot = await page.locator(`#${id} canvas`).screenshot();
        const colours = await page.evaluate(async (b64) => {
          const img = await createImageBitmap(await (await fetch(`data:image/png;base64,${b64}`)).blob());
          const ctx = new OffscreenCanvas(img.width, img.height).getContext('2d')!;
          ctx.drawImage(img, 0, 0);
          const px = ctx.getImageData(0, 0, img.width, img.height).data;
          const seen = new Set<number>();
          for (let i = 0; i < px.length; i += 4) seen.add((px[i]! << 16) | (px[i + 1]! << 8) | px[i + 2]!);
          return seen.size;
        }, shot.toString('base64'));
        expect(colours, id).toBeGreaterThan(20);
      }
      expect(await page.textContent('#grid-caption')).toContain('predicted');
      // Inside the net: the chosen layer's maps and Grad-CAM of validation image 0 (a 7), refreshed every epoch.
      expect(await page.textContent('#inside-caption')).toMatch(/^true class 7; Grad-CAM at layer \d$/);
      expect(await page.locator('#summary tr').count()).toBeGreaterThan(5);
      // Layer types as PyTorch prints them, although the bundle is minified (nn's layers name themselves).
      expect(await page.textContent('#summary')).toMatch(/Sequential.*AdaptiveAvgPool2d.*Flatten.*Linear/s);
      expect(await page.textContent('#memory')).toMatch(/tf\.memory\(\): \d+ tensors/);

      await saveLoadAndDownload();

      expect(problems).toEqual([]);
      if (process.env.E2E_SCREENSHOT) await page.screenshot({ path: process.env.E2E_SCREENSHOT, fullPage: true });
    },
  );

  it(
    "trains on wasm with convnets' own kernels (one thread: the page is " +
      'not cross-origin isolated): the loss falls, the logits match cpu, the downloaded ONNX runs to them in onnxruntime-web',
    async () => {
      const state = await trainToEnd(server, 'wasm', 5 * 60_000);
      expect(state.error).toBeUndefined();
      expect(state.isolated).toBe(false);
      expect(state.backend?.backend).toBe('wasm');
      expect(state.backend?.details.convnetsKernels).toBe(
        'convnets wasm SIMD, 1 thread (the page is not cross-origin isolated)',
      );
      expect(await page.textContent('#backend-info')).toContain(
        'Backend: wasm (SIMD on, 1 thread: the page is not cross-origin isolated)',
      );
      expect(state.losses).toHaveLength(20);
      expect(lossFell(state.losses), `losses ${state.losses}, epochs ${state.history?.trainLoss}`).toBe(true);
      expect(state.tensors[1]).toBe(state.tensors[0]);
      expect(await logitsAgainstCpu()).toBeLessThan(1e-3);
      // "Download ONNX" gives a model onnxruntime-web runs to the page's own logits.
      expect(await onnxAgainstPage()).toBeLessThan(1e-4);
      expect(problems).toEqual([]);
    },
  );

  it(
    'Try it: a stroke drawn with pointer events gets a top 5 and a Grad-CAM map, live, with the tensor count flat; ' +
      'a file that is not an image and a webcam that cannot start say why',
    async () => {
      // The page as trained by the test before (wasm, one thread).
      type Top5 = Array<{ label: string; probability: number }>;
      type Try = { convnets: { tryIt?: { top5: Top5; camShape: number[] }; numTensors(): number } };
      const tryIt = () => page.evaluate(() => (window as unknown as Try).convnets.tryIt);
      const count = () => page.evaluate(() => (window as unknown as Try).convnets.numTensors());
      await page.locator('#try-canvas').scrollIntoViewIfNeeded();
      const box = (await page.locator('#try-canvas').boundingBox())!;
      // A "1": one vertical stroke down the middle.
      await page.mouse.move(box.x + box.width / 2, box.y + box.height * 0.2);
      await page.mouse.down();
      for (let k = 1; k <= 8; k++) await page.mouse.move(box.x + box.width / 2, box.y + box.height * (0.2 + 0.075 * k));
      await page.mouse.up();
      await expect
        .poll(async () => (await tryIt()) ?? (await page.textContent('#status')), { timeout: 60_000 })
        .toHaveProperty('top5');
      const first = (await tryIt())!;
      expect(first.top5).toHaveLength(5);
      expect(first.top5.every(({ label }) => /^\d$/.test(label))).toBe(true);
      const total = first.top5.reduce((s, t) => s + t.probability, 0);
      expect(total).toBeGreaterThan(0);
      expect(total).toBeLessThanOrEqual(1 + 1e-6);
      expect(first.camShape).toEqual([28, 28]);
      await expect.poll(() => page.locator('#try-gradcam canvas, #try-gradcam svg').count()).toBeGreaterThan(0);
      expect(await page.locator('#try-top5 li').count()).toBe(5);
      // More strokes: predictions keep coming and nothing is left behind.
      const before = await count();
      await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.3, { steps: 6 });
      await page.mouse.up();
      await page.waitForTimeout(2000);
      expect(await count()).toBe(before);
      // Bad input is said, not thrown.
      await page.setInputFiles('#try-upload', {
        name: 'notes.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('hello'),
      });
      await expect.poll(() => page.textContent('#status')).toContain('notes.txt is not an image');
      await page.click('#try-webcam');
      await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toContain('Webcam: ');
      expect(problems).toEqual([]);
    },
    5 * 60_000,
  );

  /** A grey (or RGB) PNG, 28 x 28 unless said (8-bit, no filter), written with zlib alone. */
  function png(pixels: Uint8Array, width = 28, height = 28, channels: 1 | 3 = 1): Buffer {
    const crcTable = Array.from({ length: 256 }, (_, n) => {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      return c >>> 0;
    });
    const crc = (b: Buffer) =>
      (b.reduce((c, x) => crcTable[(c ^ x) & 0xff]! ^ (c >>> 8), 0xffffffff) ^ 0xffffffff) >>> 0;
    const chunk = (type: string, data: Buffer) => {
      const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
      const out = Buffer.alloc(12 + data.length);
      out.writeUInt32BE(data.length, 0);
      body.copy(out, 4);
      out.writeUInt32BE(crc(body), 8 + data.length);
      return out;
    };
    const header = Buffer.alloc(13);
    header.writeUInt32BE(width, 0);
    header.writeUInt32BE(height, 4);
    header.set([8, channels === 3 ? 2 : 0, 0, 0, 0], 8);
    const row = width * channels;
    const rows = Buffer.concat(
      Array.from({ length: height }, (_, y) => Buffer.from([0, ...pixels.subarray(y * row, y * row + row)])),
    );
    const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
    return Buffer.concat([
      signature,
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(rows)),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }

  it(
    'Fine-tune: the net in the page, a new head for a tiny image folder, the features frozen: only the head changes, ' +
      'the loss falls, the tensor count stays flat',
    async () => {
      // The page as trained before (wasm): a folder of three classes of bars, 20 images each.
      const folder = mkdtempSync(path.join(os.tmpdir(), 'convnets-e2e-folder-'));
      for (const [c, name] of ['left', 'middle', 'right'].entries()) {
        mkdirSync(path.join(folder, 'bars', name), { recursive: true });
        for (let i = 0; i < 20; i++) {
          const pixels = Uint8Array.from(
            { length: 784 },
            (_, p) => ((p * 37 + i * 11) % 41) * (p % 28 >= 4 + 8 * c && p % 28 < 10 + 8 * c ? 6 : 1),
          );
          writeFileSync(path.join(folder, 'bars', name, `${i}.png`), png(pixels));
        }
      }
      type Win = { convnets: PageState & { parameterSums(): Promise<Record<string, number>> } };
      await page.selectOption('#start', 'page');
      await page.selectOption('#freeze', 'features');
      await page.selectOption('#dataset', 'folder');
      await page.setInputFiles('#folder', path.join(folder, 'bars'));
      await expect.poll(() => page.textContent('#status'), { timeout: 60_000 }).toContain('Ready: bars, 48 training');
      const before = await page.evaluate(() => (window as unknown as Win).convnets.parameterSums());
      expect(Object.keys(before).filter((k) => k.startsWith('7.'))).toEqual(['7.weight', '7.bias']);
      await page.fill('#epochs', '2');
      await page.fill('#batch', '8');
      await page.click('#train');
      await untilStatus(['done', 'error'], 5 * 60_000);
      const state = await page.evaluate(() => {
        const s = (window as unknown as Win).convnets;
        return { status: s.status, error: s.error, history: s.history, tensors: s.tensorsAfterEpoch };
      });
      expect(state).toMatchObject({ status: 'done', error: undefined });
      expect(state.history!.trainLoss[1]).toBeLessThan(state.history!.trainLoss[0]!);
      expect(state.tensors[1]).toBe(state.tensors[0]);
      const after = await page.evaluate(() => (window as unknown as Win).convnets.parameterSums());
      for (const [name, sum] of Object.entries(before)) {
        if (name.startsWith('7.')) expect(after[name], name).not.toBe(sum);
        else expect(after[name], name).toBe(sum);
      }
      rmSync(folder, { recursive: true, force: true });
      expect(problems).toEqual([]);
    },
    10 * 60_000,
  );

  const NETS = SMALL_NETS;

  it(
    "trains on wasm with convnets' kernels on every core where the page is cross-origin isolated (random crops from " +
      'the form): the loss falls, ' +
      'the logits match cpu, every net steps to the same bits on all threads as on one',
    async () => {
      // With CIFAR-10's random crop (pad 4) from the form: augmentation runs in the browser too.
      const state = await trainToEnd(isolatedServer, 'wasm', 5 * 60_000, `${RUN}&augment=crop:4`);
      expect(state.error).toBeUndefined();
      expect(
        await page.evaluate(() => (window as unknown as { convnets: { run?: object } }).convnets.run),
      ).toMatchObject({ augment: 'crop:4' });
      expect(state.isolated).toBe(true);
      expect(state.cores).toBeGreaterThan(1);
      expect(state.backend?.details).toMatchObject({
        threadedBuild: true,
        xnnpackThreads: 1,
        threads: state.cores,
        convnetsKernels: `convnets wasm SIMD, ${state.cores} threads`,
      });
      expect(state.losses).toHaveLength(20);
      expect(lossFell(state.losses), `losses ${state.losses}, epochs ${state.history?.trainLoss}`).toBe(true);
      expect(state.tensors[1]).toBe(state.tensors[0]);
      expect(await logitsAgainstCpu()).toBeLessThan(1e-3);

      for (const [name, size] of NETS) {
        const step = await callPage<Awaited<ReturnType<typeof threadsAgree>>>('threadsAgree', name, size);
        expect(step.threads, name).toBe(state.cores);
        expect(step.losses[0], name).toBe(step.losses[1]);
        expect(step.differing, name).toBe(0);
      }
      expect(problems).toEqual([]);
    },
    10 * 60_000,
  );

  it(
    'ImageNet weights: torchvision-layout weights load from a file or a URL (a bad drop is said), Try it names ' +
      "ImageNet's classes with Grad-CAM at 224 px; Teach on a webcam class and a file class trains the head alone " +
      '(the backbone bit-identical), the loss falls, tensors stay flat, it predicts live and exports',
    async () => {
      // torchvision's ResNet-18 state dict without a card (PyTorch's names and layouts), as a user's file would be.
      const net = createModel('torchvision/resnet18', { seed: 5 });
      const state = stateDict(net);
      const weights = Buffer.from(await encodeSafetensors(state));
      tf.dispose([...state.values()]);
      net.dispose();
      // The page as the test before left it (wasm on every core, cross-origin isolated), now allowed Chromium's fake
      // camera (a moving test pattern); the Try it test before it was refused one.
      const { port } = isolatedServer.address() as AddressInfo;
      await page.context().grantPermissions(['camera'], { origin: `http://127.0.0.1:${port}` });
      type Win = {
        convnets: PageState & {
          pretrained?: { model: string; classes: string[]; inputSize: number };
          tryIt?: { top5: Array<{ label: string }>; camShape: number[] };
          taught?: () => Array<{ name: string; examples: number }>;
          numTensors(): number;
          stateHashes(): Promise<Record<string, number>>;
        };
      };
      // Reads the page's state: `f` runs on the page (its source is sent), given window.convnets.
      const read = <T>(f: (s: Win['convnets']) => T) =>
        page.evaluate(`(${f.toString()})(window.convnets)`) as Promise<T>;
      const status = () => page.textContent('#status');
      await page.fill('#epochs', '2');
      await page.fill('#batch', '8');
      await page.fill('#lr', '0.1');
      await page.selectOption('#augment', ''); // the same six examples each epoch: the loss must fall on them

      await page.setInputFiles('#pretrained-file', {
        name: 'resnet18-weights.safetensors',
        mimeType: 'application/octet-stream',
        buffer: weights,
      });
      await expect
        .poll(status, { timeout: 120_000 })
        .toContain('Loaded resnet18-weights.safetensors into torchvision/resnet18 (1000 classes, 224 px)');
      expect(await read((s) => s.pretrained)).toMatchObject({ model: 'torchvision/resnet18', inputSize: 224 });
      const loaded = await read((s) => s.numTensors());

      // The same file from a URL replaces the net (nothing left behind); a dropped file that is not weights is said.
      await page.route('**/__weights/resnet18.safetensors', (route) => route.fulfill({ body: weights }));
      await page.fill('#pretrained-url', `http://127.0.0.1:${port}/__weights/resnet18.safetensors`);
      await page.click('#pretrained-load');
      await expect
        .poll(status, { timeout: 120_000 })
        .toContain('Loaded resnet18.safetensors into torchvision/resnet18');
      expect(await read((s) => s.numTensors())).toBe(loaded);
      await page.evaluate(() => {
        const data = new DataTransfer();
        data.items.add(new File(['not weights'], 'notes.pth'));
        document
          .getElementById('pretrained')!
          .dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true }));
      });
      await expect.poll(status).toContain('notes.pth is not a PyTorch state dict');
      expect(await read((s) => s.status)).toBe('error');
      expect(await read((s) => s.numTensors())).toBe(loaded);
      // Try it: an uploaded photo gets ImageNet's names and a 224 x 224 Grad-CAM.
      const [w, h] = [160, 120];
      const photo = (k: number) =>
        png(
          Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * (7 + k) + Math.floor(i / (w * 3)) * 13) % 256),
          w,
          h,
          3,
        );
      await page.setInputFiles('#try-upload', { name: 'photo.png', mimeType: 'image/png', buffer: photo(0) });
      await expect.poll(() => read((s) => s.tryIt?.camShape), { timeout: 120_000 }).toEqual([224, 224]);
      const top5 = (await read((s) => s.tryIt!.top5)).map((t) => t.label);
      expect(top5).toHaveLength(5);
      for (const label of top5) expect(IMAGENET_CLASSES).toContain(label);
      // Teach: "camera" from three webcam frames, "pattern" from three image files.
      for (const name of ['camera', 'pattern']) {
        await page.fill('#teach-name', name);
        await page.click('#teach-add');
      }
      await page.click('#try-webcam');
      await expect.poll(() => page.textContent('#try-webcam'), { timeout: 30_000 }).toBe('Stop webcam');
      for (let k = 0; k < 3; k++) {
        await page.click('#teach-classes li[data-k="0"] .teach-capture');
        await page.waitForTimeout(300);
      }
      // The webcam off while the rest is fed in: each frame it films is a prediction at 224 px on wasm.
      await page.click('#try-webcam');
      await page.setInputFiles(
        '#teach-classes li[data-k="1"] .teach-files',
        [1, 2, 3].map((k) => ({ name: `p${k}.png`, mimeType: 'image/png', buffer: photo(k) })),
      );
      await expect
        .poll(() => read((s) => s.taught!()), { timeout: 60_000 })
        .toEqual([
          { name: 'camera', examples: 3 },
          { name: 'pattern', examples: 3 },
        ]);
      const backbone = await read((s) => s.stateHashes());
      await page.click('#teach-train');
      await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as Win).convnets.status), null, {
        timeout: 5 * 60_000,
        polling: 500,
      });
      const run = await read((s) => ({
        status: s.status,
        error: s.error,
        losses: s.batchLosses,
        tensors: s.tensorsAfterEpoch,
      }));
      expect(run).toMatchObject({ status: 'done', error: undefined });
      // Two epochs of the same six examples (one batch each): the second step's loss on them is below the first's.
      expect(run.losses).toHaveLength(2);
      expect(run.losses[1], `losses ${run.losses}`).toBeLessThan(run.losses[0]!);
      expect(run.tensors[1]).toBe(run.tensors[0]);
      const after = await read((s) => s.stateHashes());
      expect(Object.keys(after).filter((k) => k.startsWith('fc.'))).toEqual(['fc.weight', 'fc.bias']);
      for (const [name, hash] of Object.entries(after))
        if (!name.startsWith('fc.')) expect(hash, name).toBe(backbone[name]);
      // Live: the webcam's frames are predicted as the taught classes.
      await page.click('#try-webcam');
      await expect
        .poll(() => read((s) => s.tryIt?.top5.map((t) => t.label).sort()), { timeout: 60_000 })
        .toEqual(['camera', 'pattern']);
      await page.click('#try-webcam');
      // Exported as safetensors with the taught classes in the card (ONNX goes out by the same button as any net's).
      const [file] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      expect(file.suggestedFilename()).toBe('teach_torchvision-resnet18.safetensors');
      const bytes = readFileSync((await file.path())!);
      const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
      expect(header['fc.weight']).toMatchObject({ dtype: 'F32', shape: [2, 512] });
      expect(JSON.parse(header.__metadata__.convnets)).toMatchObject({
        model: 'torchvision/resnet18',
        inputSize: 224,
        classes: ['camera', 'pattern'],
      });
      await page.context().clearPermissions();
      expect(problems).toEqual([]);
    },
    10 * 60_000,
  );

  it(
    'on webgl one training step of the notebook nets (every kind of layer) equals the cpu backend (loss, weights, ' +
      'BatchNorm statistics)',
    async () => {
      const backend = 'webgl';
      const { port } = server.address() as AddressInfo;
      await page.goto(`http://127.0.0.1:${port}/index.html?backend=${backend}`);
      await untilStatus(['ready', 'error'], 5 * 60_000);
      for (const [name, size] of SOFTWARE_GPU_NETS.browserStep.webgl) {
        const step = await callPage<Awaited<ReturnType<typeof stepAgainstCpu>>>('stepAgainstCpu', name, size);
        expect(step.backend, name).toBe(backend);
        expect(Math.abs(step.loss - step.cpuLoss), `${name}: loss ${step.loss} vs ${step.cpuLoss}`).toBeLessThan(1e-3);
        // At most allclose's tolerance (rtol 1e-3, atol 1e-3) everywhere in the state after the step.
        expect(step.worst.error, `${name}: worst at ${step.worst.tensor}`).toBeLessThanOrEqual(1);
      }
      expect(problems).toEqual([]);
    },
    15 * 60_000,
  );

  it('auto takes webgl where the only WebGPU adapter is software, and says why', async () => {
    const { port } = server.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/index.html?backend=auto`);
    await untilStatus(['ready', 'error'], 5 * 60_000);
    expect(await page.evaluate(() => (window as unknown as { convnets: PageState }).convnets.backend?.backend)).toBe(
      'webgl',
    );
    expect(await page.textContent('#backend-info')).toMatch(
      /^Backend: webgl .*— skipped webgpu: the only adapter is software \(google swiftshader\): slower than webgl/,
    );
    expect(problems).toEqual([]);
  });

  it(
    'trains on webgpu (SwiftShader): the loss falls, tensors stay flat, save and download work, and ' +
      "the notebook nets' logits and SGD steps equal cpu's (every kind of layer)",
    async () => {
      // SwiftShader's WebGPU computes ~60 MFLOP/s here: a batch of 8 of ResNet-18 takes ~18 s. 2 epochs of the same
      // batch of 4: the second step's loss on it is below the first's. Stop and resume are the app's whatever the
      // backend (the WebGL run shows them).
      const state = await trainToEnd(server, 'webgpu', 15 * 60_000, '&epochs=2&batch=4&limit=4&valid=4&lr=0.005');
      expect(state).toMatchObject({ status: 'done', error: undefined });
      expect(state.losses).toHaveLength(2);
      expect(state.losses[1], `losses ${state.losses}`).toBeLessThan(state.losses[0]!);
      expect(state.tensors).toHaveLength(2);
      expect(state.tensors[1]).toBe(state.tensors[0]);
      expect(state.backend?.backend).toBe('webgpu');
      expect(await page.textContent('#backend-info')).toMatch(/^Backend: webgpu \(.*swiftshader.*, software\)/i);
      expect(await logitsAgainstCpu()).toBeLessThan(1e-3);
      await saveLoadAndDownload();

      for (const [name, size] of SOFTWARE_GPU_NETS.forward)
        expect(await callPage<number>('netLogitsAgainstCpu', name, size), name).toBeLessThan(1e-3);
      for (const [name, size] of SOFTWARE_GPU_NETS.browserStep.webgpu) {
        const step = await callPage<Awaited<ReturnType<typeof stepAgainstCpu>>>('stepAgainstCpu', name, size);
        expect(step.backend, name).toBe('webgpu');
        expect(Math.abs(step.loss - step.cpuLoss), `${name}: loss ${step.loss} vs ${step.cpuLoss}`).toBeLessThan(1e-3);
        expect(step.worst.error, `${name}: worst at ${step.worst.tensor}`).toBeLessThanOrEqual(1);
      }
      expect(problems).toEqual([]);
    },
    30 * 60_000,
  );
});
