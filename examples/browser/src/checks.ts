/**
 * The page's self-checks against tfjs's cpu backend (the reference): the same weights give the same logits, and one
 * training step of a notebook net gives the same loss, weights and BatchNorm statistics; on wasm, one step gives the
 * same bits on every kernel thread as on one.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu'; // the reference
import { createModel } from '@convnets/architectures';
import { moveTensors, setWasmKernelThreads } from '@convnets/backend';
import type { Module } from '@convnets/nn';
import { Sgd, trainStep } from '@convnets/trainer';

/** A fixed input of `shape` [n, h, w, c]: the same numbers on every backend. */
const fixedInput = (shape: [number, number, number, number]) =>
  tf.tensor4d(
    Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37)),
    shape,
  );

/**
 * Max |logits(current backend) - logits(cpu)| of `model` for a fixed input of `shape` [n, h, w, c]. The model's
 * tensors go to cpu and back by explicit asynchronous copies (a GPU backend's synchronous read is what fails).
 */
export async function compareWithCpu(model: Module, shape: [number, number, number, number]): Promise<number> {
  const current = tf.getBackend();
  const wasTraining = model.training;
  const state = Array.from(model.namedState(), ([, v]) => v);
  const logitsOn = async (backend: string) => {
    await tf.setBackend(backend);
    await moveTensors(state, backend);
    model.eval();
    const logits = tf.tidy(() => model.forward(fixedInput(shape)));
    const values = await logits.data();
    logits.dispose();
    return values;
  };
  const here = await logitsOn(current);
  const cpu = await logitsOn('cpu');
  await tf.setBackend(current);
  await moveTensors(state, current);
  model.train(wasTraining);
  return Math.max(...here.map((v, i) => Math.abs(v - cpu[i]!)));
}

/** compareWithCpu for seed-0 `name` at `inputSize` (3 channels), a batch of 2. */
export async function netLogitsAgainstCpu(name: string, inputSize: number): Promise<number> {
  const model = createModel(name, { inputSize, inChannels: 3, seed: 0 });
  try {
    return await compareWithCpu(model, [2, inputSize, inputSize, 3]);
  } finally {
    model.dispose();
  }
}

/**
 * One SGD step (momentum 0.9, weight decay 5e-4, lr 0.01: fit's default) of seed-0 `name` on a fixed batch of 4, in
 * train mode.
 */
async function oneStep(name: string, inputSize: number, inChannels: number) {
  const model = createModel(name, { inputSize, inChannels, seed: 0 }).train();
  const x = fixedInput([4, inputSize, inputSize, inChannels]);
  const y = tf.tensor1d([0, 3, 6, 9], 'int32');
  const sgd = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
  const { loss } = await trainStep(model, { x, y }, sgd, { lr: 0.01 });
  // The first 256 values of every parameter and buffer (BatchNorm's running statistics included).
  const state = new Map<string, Float32Array>();
  for (const [path, v] of model.namedState()) state.set(path, ((await v.data()) as Float32Array).slice(0, 256));
  tf.dispose([x, y]);
  sgd.dispose();
  model.dispose();
  return { loss, state };
}

/**
 * One training step of `name` on the running backend and on cpu: both losses, and how far the state after the step
 * is from cpu's as a fraction of `allclose`'s tolerance (|a - b| <= 1e-3 + 1e-3 |b|, as `torch.allclose(rtol=1e-3,
 * atol=1e-3)`): at most 1 when every value agrees. (A per-tensor relative error is no measure here: a BatchNorm
 * bias's gradient is a sum of terms that nearly cancel, so float32 summation order alone moves it by a few percent.)
 */
export async function stepAgainstCpu(name: string, inputSize: number, inChannels = 3) {
  const current = tf.getBackend();
  const here = await oneStep(name, inputSize, inChannels);
  await tf.setBackend('cpu');
  const cpu = await oneStep(name, inputSize, inChannels).finally(() => tf.setBackend(current));
  let worst = { error: 0, tensor: '' };
  for (const [path, b] of cpu.state) {
    const a = here.state.get(path)!;
    b.forEach((v, i) => {
      const error = Math.abs(a[i]! - v) / (1e-3 + 1e-3 * Math.abs(v));
      if (error > worst.error) worst = { error, tensor: `${path}[${i}]` };
    });
  }
  return { backend: current, loss: here.loss, cpuLoss: cpu.loss, worst };
}

/**
 * One training step of `name` on wasm with all of convnets' kernel threads and with one: the thread count, both
 * losses, and how many values of the state after the step differ (0: the same bits, as the kernels promise).
 */
export async function threadsAgree(name: string, inputSize: number, inChannels = 3) {
  const threads = setWasmKernelThreads(Infinity);
  const many = await oneStep(name, inputSize, inChannels);
  setWasmKernelThreads(1);
  const one = await oneStep(name, inputSize, inChannels).finally(() => setWasmKernelThreads(Infinity));
  let differing = 0;
  for (const [path, b] of one.state) {
    const a = many.state.get(path)!;
    for (let i = 0; i < b.length; i++) if (!Object.is(a[i], b[i])) differing++;
  }
  return { threads, losses: [many.loss, one.loss], differing };
}
