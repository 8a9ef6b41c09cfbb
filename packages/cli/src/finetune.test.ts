import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors } from '@convnets/nn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSameValues } from '@convnets/tooling/fixtures';
import { cli, ok } from '../test-utils/cli.js';
import { DIGIT_FOLDER_CLASSES, writeDigitFolder } from '../test-utils/digits.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-finetune-'));
const pretrained = path.join(dir, 'mnist', 'mnist_resnet18.safetensors');
const folder = path.join(dir, 'digits');

/** The tensors of a weights file. */
function tensors(file: string): Map<string, tf.Tensor> {
  return decodeSafetensors(new Uint8Array(readFileSync(file))).tensors;
}

// Enough steps (64) for BatchNorm's running statistics to settle: a frozen backbone uses them.
const pretraining = ['--limit-train', '2048', '--limit-valid', '100', '--batch-size', '32', '--backend', 'wasm'];

beforeAll(async () => {
  await writeDigitFolder(folder);
  await ok('train', ...pretraining, '--epochs', '1', '--out', path.dirname(pretrained));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('convnets train --from (fine-tuning)', () => {
  it('on an image folder with a frozen backbone: a new head for its classes, the features bit for bit, a card that says so', async () => {
    const out = path.join(dir, 'head-only');
    const r = await ok(
      ...['train', '--from', pretrained, '--dataset', 'folder', '--root', folder, '--freeze', 'features'],
      ...['--head-lr', '0.01', '--epochs', '2', '--batch-size', '32', '--backend', 'wasm', '--json', '--out', out],
    );
    expect(r.err).toContain(`a new head for 3 classes: ${DIGIT_FOLDER_CLASSES.join(', ')}`);
    expect(r.err).toContain('trainable parameters: 1,539, frozen: 11,173,248'); // 512 * 3 + 3 in the head
    const epochs = r.out.split('\n').filter((l) => l.includes('"epoch"') && l.includes('trainLoss'));
    const losses = epochs.map((l) => JSON.parse(l).trainLoss as number);
    expect(losses[1]).toBeLessThan(losses[0]!);
    const before = tensors(pretrained);
    const file = path.join(out, 'folder_resnet18.safetensors');
    const after = decodeSafetensors(new Uint8Array(readFileSync(file)));
    const card = JSON.parse(after.metadata.convnets!);
    expect(card).toMatchObject({ model: 'resnet18', inputSize: 28, inChannels: 1, classes: DIGIT_FOLDER_CLASSES });
    expect(card.fineTunedFrom).toEqual({
      weights: pretrained,
      classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    });
    const pretrainedCard = JSON.parse(decodeSafetensors(new Uint8Array(readFileSync(pretrained))).metadata.convnets!);
    expect(card.mean).toEqual(pretrainedCard.mean); // the pretrained net's normalisation
    for (const [name, t] of after.tensors) {
      if (name.startsWith('7.')) expect(t.shape[0], name).toBe(3);
      else expectSameValues(t.dataSync() as Float32Array, before.get(name)!.dataSync() as Float32Array, name);
    }
    tf.dispose([...before.values(), ...after.tensors.values()]);
    // The fine-tuned net evaluates on the folder's test split like any other.
    const evaluated = await ok(
      'eval',
      '--checkpoint',
      file,
      '--dataset',
      'folder',
      '--root',
      folder,
      '--backend',
      'wasm',
    );
    expect(evaluated.out).toMatch(/accuracy/);
  }, 300_000);

  it('refuses, writing nothing: a path that names no module, another net or input size, a one-class folder, --freeze alone', async () => {
    const out = path.join(dir, 'refused');
    const from = ['train', '--from', pretrained, '--dataset', 'folder', '--root', folder, '--out', out];
    const cases: Array<[string[], string]> = [
      [[...from, '--freeze', '9'], "--freeze: no module at '9'"],
      [[...from, '--model', 'densenet'], `--from: ${pretrained} holds a resnet18, not a densenet (--model)`],
      [[...from, '--image-size', '32'], 'was trained at 28x28: fine-tuning keeps its input size, not 32'],
      [['train', '--freeze', 'features', '--out', out], '--freeze needs --from: the trained weights to fine-tune'],
      [['train', '--from', path.join(dir, 'none.safetensors'), '--out', out], '--from: cannot read'],
    ];
    const single = path.join(dir, 'single');
    mkdirSync(path.join(single, 'train', 'one'), { recursive: true });
    mkdirSync(path.join(single, 'test', 'one'), { recursive: true });
    for (const split of ['train', 'test']) {
      const png = readdirSync(path.join(folder, split, 'one'))[0]!;
      writeFileSync(path.join(single, split, 'one', png), readFileSync(path.join(folder, split, 'one', png)));
    }
    cases.push([
      [...from.slice(0, 6), single, '--out', out],
      'has one class (one): a classifier needs two class folders',
    ]);
    for (const [args, message] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err).toContain(message);
    }
    expect(readdirSync(dir)).not.toContain('refused');
  }, 120_000);
});
