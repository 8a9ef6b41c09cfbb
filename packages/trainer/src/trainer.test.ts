import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Linear,
  ReLU,
  Sequential,
  decodeSafetensors,
  encodeSafetensors,
  initWeights,
  stateDict,
  withSeed,
} from '@convnets/nn';
import { describe, expect, it } from 'vitest';
import { expectSameValues } from '@convnets/tooling/fixtures';
import {
  CheckpointError,
  decodeWeights,
  encodeTrainingState,
  encodeWeights,
  restoreTrainingState,
  type ModelCard,
} from './checkpoint.js';
import { TrainingDivergedError, evaluate, fit, type Batches, type EpochEvent } from './fit.js';
import { crossEntropy } from './loss.js';
import { Adam, Sgd } from './optimizers.js';
import { constant, cosine, oneCycle, stepDecay } from './schedules.js';

const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe('optimizers follow the PyTorch update rules (computed by hand)', () => {
  it('SGD with momentum 0.9 and weight decay 0.01, two steps', () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const g = tf.tensor1d([0.5, 0.5]);
    const sgd = new Sgd({ momentum: 0.9, weightDecay: 0.01 });
    sgd.step([p], [g], 0.1);
    // g' = g + 0.01 p = [0.51, 0.48]; buf = g'; p -= 0.1 buf
    values(p).forEach((v, i) => {
      expect(v).toBeCloseTo([0.949, -2.048][i]!, 6);
    });
    sgd.step([p], [g], 0.1);
    // g' = [0.50949, 0.47952]; buf = 0.9 [0.51, 0.48] + g' = [0.96849, 0.91152]
    values(p).forEach((v, i) => {
      expect(v).toBeCloseTo([0.852151, -2.139152][i]!, 6);
    });
    sgd.dispose();
  });

  it('Nesterov SGD steps by g + momentum * buf', () => {
    const p = tf.variable(tf.tensor1d([1]));
    const sgd = new Sgd({ momentum: 0.5, nesterov: true });
    sgd.step([p], [tf.tensor1d([2])], 0.1); // buf = 2, update = 2 + 1 = 3
    expect(values(p)[0]).toBeCloseTo(0.7, 6);
    sgd.step([p], [tf.tensor1d([2])], 0.1); // buf = 3, update = 2 + 1.5 = 3.5
    expect(values(p)[0]).toBeCloseTo(0.35, 6);
  });

  it("Adam's first step moves each weight by lr in the gradient's sign; AdamW decays the weight", () => {
    const p = tf.variable(tf.tensor1d([1, 1]));
    new Adam().step([p], [tf.tensor1d([0.3, -4])], 0.01);
    values(p).forEach((v, i) => {
      expect(v).toBeCloseTo([0.99, 1.01][i]!, 6);
    });
    const q = tf.variable(tf.tensor1d([2]));
    new Adam({ weightDecay: 0.1, decoupled: true }).step([q], [tf.tensor1d([1])], 0.01);
    expect(values(q)[0]).toBeCloseTo(2 * (1 - 0.001) - 0.01, 6);
  });
});

describe('schedules', () => {
  it('give the expected learning rates', () => {
    expect(constant(0.1)(50, 100)).toBe(0.1);
    expect([0, 9, 10, 25].map((s) => stepDecay(1, 10, 0.5)(s, 100))).toEqual([1, 1, 0.5, 0.25]);
    expect(cosine(0.2)(0, 100)).toBeCloseTo(0.2, 10);
    expect(cosine(0.2)(50, 100)).toBeCloseTo(0.1, 10);
    expect(cosine(0.2)(100, 100)).toBeCloseTo(0, 10);
    const one = oneCycle(1, { warmup: 0.25, divFactor: 10, finalDivFactor: 100 });
    expect(one(0, 100)).toBeCloseTo(0.1, 10);
    expect(one(25, 100)).toBeCloseTo(1, 10);
    expect(one(100, 100)).toBeCloseTo(0.001, 10);
  });
});

describe('crossEntropy', () => {
  it('is ln 2 for two equal logits, and smooths labels as PyTorch', () => {
    expect(crossEntropy(tf.tensor2d([[0, 0]]), tf.tensor1d([0], 'int32')).dataSync()[0]).toBeCloseTo(Math.LN2, 6);
    // logits [ln 3, 0]: p = [0.75, 0.25]; smoothing 0.2 -> target [0.9, 0.1]
    const loss = crossEntropy(tf.tensor2d([[Math.log(3), 0]]), tf.tensor1d([0], 'int32'), 0.2).dataSync()[0]!;
    expect(loss).toBeCloseTo(-(0.9 * Math.log(0.75) + 0.1 * Math.log(0.25)), 6);
  });
});

/** A learnable task: bright images are class 1, dark ones class 0. */
function synthetic(batches: number, batchSize: number, seed: number, poison?: number): Batches {
  return {
    length: batches,
    async *[Symbol.asyncIterator]() {
      for (let b = 0; b < batches; b++) {
        const labels = Array.from({ length: batchSize }, (_, i) => (i + b + seed) % 2);
        const x = tf.tidy(() => {
          const base = tf.mul(tf.reshape(tf.tensor1d(labels, 'float32'), [-1, 1, 1, 1]), 0.8);
          const noisy = tf.add(base, tf.randomUniform([batchSize, 6, 6, 1], 0, 0.4, 'float32', seed * 1000 + b));
          return b + 1 === poison ? tf.mul(noisy, Number.NaN) : noisy;
        });
        yield { x, y: tf.tensor1d(labels, 'int32') };
      }
    },
  };
}

const tinyNet = () =>
  withSeed(
    3,
    () =>
      new Sequential(
        new Conv2d(1, 4, 3, { padding: 1 }),
        new ReLU(),
        new AdaptiveAvgPool2d(1),
        new Flatten(),
        new Linear(4, 2),
      ),
  );

describe('fit', () => {
  it('learns a learnable task: loss falls, accuracy rises, history has one entry per epoch', async () => {
    const net = tinyNet();
    initWeights(net, 'xavier', 0);
    const epochs: number[] = [];
    const valid = synthetic(4, 16, 2);
    const { history, evaluation } = await fit(net, {
      train: synthetic(20, 16, 1),
      valid,
      epochs: 3,
      optimizer: new Sgd({ momentum: 0.9 }),
      lr: 0.1,
      onEpoch: (e) => void epochs.push(e.epoch),
    });
    expect(epochs).toEqual([1, 2, 3]);
    expect(history.trainLoss).toHaveLength(3);
    expect(history.trainLoss[2]!).toBeLessThan(history.trainLoss[0]! / 2);
    expect(history.validAcc[2]).toBe(1);
    // fit's final evaluation is the last epoch's validation pass: what evaluate() gives now, confusion included.
    expect(evaluation).toEqual(await evaluate(net, valid));
    expect(evaluation!.loss).toBe(history.validLoss[2]);
    const result = await evaluate(net, synthetic(2, 10, 5));
    expect(result.confusion).toEqual([
      [10, 0],
      [0, 10],
    ]);
    expect(result.perClassAccuracy).toEqual([1, 1]);
    net.dispose();
  });

  it('stops with epoch, batch and the last finite loss when the loss becomes NaN', async () => {
    const net = tinyNet();
    const error = await fit(net, { train: synthetic(5, 4, 1, 3), epochs: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect((error as Error).message).toMatch(/^loss became NaN at epoch 1, batch 3 \(last finite loss: 0\.\d+\)$/);
    net.dispose();
  });

  it("counts the time spent waiting for batches as each epoch's dataWait share", async () => {
    const net = tinyNet();
    const fast = synthetic(4, 4, 1);
    // The same batches, each handed over 100 ms late: at least 0.4 s of the epoch is waiting.
    const slow: Batches = {
      length: 4,
      async *[Symbol.asyncIterator]() {
        for await (const batch of fast) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          yield batch;
        }
      },
    };
    const events: EpochEvent[] = [];
    const { history } = await fit(net, { train: slow, epochs: 1, onEpoch: (e) => void events.push(e) });
    const [event] = events;
    expect(event!.dataWait * event!.seconds).toBeGreaterThanOrEqual(0.39);
    expect(event!.dataWait).toBeLessThanOrEqual(1);
    expect(history.dataWait).toEqual([event!.dataWait]);
    net.dispose();
  });

  it('keeps tf.memory().numTensors the same after batch 10 and batch 1000', async () => {
    const net = withSeed(1, () => new Sequential(new Flatten(), new Linear(36, 2)));
    const counts = new Map<number, number>();
    await fit(net, {
      train: synthetic(1000, 2, 1),
      epochs: 1,
      optimizer: new Sgd({ momentum: 0.9, weightDecay: 1e-4 }),
      onBatch: ({ batch }) => void ((batch === 10 || batch === 1000) && counts.set(batch, tf.memory().numTensors)),
    });
    expect(counts.get(1000)).toBe(counts.get(10));
    net.dispose();
  });
});

describe('resume', () => {
  const net = (seed: number) =>
    withSeed(
      seed,
      () =>
        new Sequential(
          new Conv2d(1, 4, 3, { padding: 1 }),
          new BatchNorm2d(4),
          new ReLU(),
          new AdaptiveAvgPool2d(1),
          new Flatten(),
          new Dropout(0.3),
          new Linear(4, 2),
        ),
    );
  /** Epoch-indexed batches, so a resumed run sees exactly the data the uninterrupted one saw. */
  const data = (): Batches => ({
    length: 6,
    batches: (epoch) => synthetic(6, 8, epoch + 1),
    [Symbol.asyncIterator]: () => {
      throw new Error('use batches(epoch)');
    },
  });
  const options = () => ({
    train: data(),
    optimizer: new Sgd({ momentum: 0.9, weightDecay: 1e-3 }),
    schedule: oneCycle(0.2),
  });

  it('2 epochs == 1 epoch, stop, resume to 2, bit for bit on cpu (weights, BN statistics, momentum, dropout, schedule)', async () => {
    const straight = initWeights(net(1), 'xavier', 4);
    const full = await fit(straight, { ...options(), epochs: 2 });

    // The same 2-epoch run, interrupted after its first epoch's checkpoint, saved as bytes.
    const first = initWeights(net(1), 'xavier', 4);
    const stop = new AbortController();
    let saved: Uint8Array | undefined;
    const interrupted = await fit(first, {
      ...options(),
      epochs: 2,
      signal: stop.signal,
      onCheckpoint: async (training) => {
        saved = await encodeTrainingState(first, training, { lr: 0.2, batchSize: 8 });
        stop.abort();
      },
    }).catch((e: unknown) => e);
    expect((interrupted as Error).name).toBe('AbortError');
    const resumed = net(99); // different initial weights: everything must come from the checkpoint
    const state = restoreTrainingState(resumed, saved!, { expect: { lr: 0.2 } });
    expect([state.epoch, state.run]).toEqual([1, { lr: 0.2, batchSize: 8 }]);
    let last: Uint8Array | undefined;
    const rest = await fit(resumed, {
      ...options(),
      epochs: 2,
      resume: state,
      onCheckpoint: async (training) => {
        last = await encodeTrainingState(resumed, training);
      },
    });

    expect([...state.optimizer.values()].every((t) => t.isDisposed)).toBe(true); // fit took them
    expect(rest.history.trainLoss).toEqual(full.history.trainLoss);
    for (const [[name, a], [, b]] of [...straight.namedState()].map(
      (e, i) => [e, [...resumed.namedState()][i]!] as const,
    )) {
      expectSameValues(b.dataSync() as Float32Array, a.dataSync() as Float32Array, name);
    }

    // Resumed with no epoch left, a run trains nothing and still reports its evaluation.
    const valid = synthetic(2, 8, 7);
    const finished = net(5);
    const again = restoreTrainingState(finished, last!);
    const done = await fit(finished, { ...options(), valid, epochs: 2, resume: again });
    expect(done.history).toEqual(rest.history);
    expect(done.evaluation).toEqual(await evaluate(resumed, valid));
    [straight, first, resumed, finished].forEach((m) => {
      m.dispose();
    });
  });

  it('refuses a training state from a different run, or a file that is not one, loading nothing', async () => {
    const model = initWeights(net(1), 'xavier', 1);
    const before = stateDict(model);
    const bytes = await encodeTrainingState(
      net(2),
      {
        epoch: 1,
        history: { trainLoss: [1], trainAcc: [0], validLoss: [], validAcc: [], imagesPerSec: [1], dataWait: [0] },
        optimizer: new Map(),
        rng: {},
      },
      { lr: 0.05, model: 'tiny' },
    );
    expect(() => restoreTrainingState(model, bytes, { file: 'a.train.safetensors', expect: { lr: 0.1 } })).toThrow(
      new CheckpointError('a.train.safetensors', 'was made with different lr (0.05, now 0.1)'),
    );
    const weightsOnly = await encodeWeights(model);
    expect(() => restoreTrainingState(model, weightsOnly, { file: 'w.safetensors' })).toThrow(
      'w.safetensors is not a convnets training state (no training metadata or no model tensors)',
    );
    const after = stateDict(model);
    for (const [k, t] of before) expect(values(after.get(k)!), k).toEqual(values(t));
    tf.dispose([...before.values(), ...after.values()]);
    model.dispose();
  });
});

describe('weights files', () => {
  const card: ModelCard = {
    model: 'tiny',
    inputSize: 6,
    inChannels: 1,
    classes: ['no', 'yes'],
    mean: [0.1307],
    std: [0.3081],
  };

  it('hold PyTorch names and layouts, the epoch, and a model card that reads back as written', async () => {
    const model = tinyNet();
    const bytes = await encodeWeights(model, { card, epoch: 3 });
    const file = decodeSafetensors(bytes);
    expect(file.metadata).toMatchObject({ format: 'pt', epoch: '3' });
    expect(file.tensors.get('0.weight')!.shape).toEqual([4, 1, 3, 3]); // PyTorch's [out, in, kh, kw]
    const { tensors, card: read } = decodeWeights(bytes, 'tiny.safetensors');
    expect(read).toEqual(card);
    expect([...tensors.keys()]).toEqual([...file.tensors.keys()]);
    tf.dispose([...tensors.values(), ...file.tensors.values()]);
    model.dispose();
  });

  it('without a card (a PyTorch file) read as tensors alone; a broken card is refused naming the file', async () => {
    const plain = await encodeSafetensors(new Map([['w', tf.zeros([2])]]));
    expect(decodeWeights(plain, 'torch.safetensors').card).toBeUndefined();
    const broken = (c: unknown) =>
      encodeSafetensors(new Map([['w', tf.zeros([2])]]), { convnets: typeof c === 'string' ? c : JSON.stringify(c) });
    const brokenRead = async (c: unknown) => {
      const bytes = await broken(c);
      return () => decodeWeights(bytes, 'x.safetensors');
    };
    expect(await brokenRead('{')).toThrow('x.safetensors has a convnets model card that is not JSON of an object');
    expect(await brokenRead({ ...card, std: [0] })).toThrow(
      'x.safetensors has a convnets model card that needs mean and std of 1 numbers each (std > 0)',
    );
    expect(await brokenRead({ ...card, classes: [] })).toThrow('needs a non-empty list of class names');
    expect(await brokenRead({ ...card, cropPct: 1.5 })).toThrow('has cropPct 1.5; expected a number in (0, 1]');
    expect(() => decodeWeights(new TextEncoder().encode('not weights'), 'notes.pth')).toThrow(
      'notes.pth is not a PyTorch state dict: torch.save writes a zip (or before 1.6 a pickle stream)',
    );
  });
});
