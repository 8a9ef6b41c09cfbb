/**
 * The optimizer family: one fused update per parameter, each with the trainer's float operations in its order (so
 * the bits its tfjs ops give), which `@convnets/trainer` looks up by name.
 * The kernels' inputs, attributes and outputs are written down once, with their names, in @convnets/nn's
 * fused-kernels.ts.
 * - FUSED_SGD (Sgd with momentum): native: an OpenMP loop (backend-native's optimizer.cc); wasm: wasm/optimizer.c.
 * - FUSED_ADAM (Adam, AdamW): wasm only (wasm/optimizer.c).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { FUSED_ADAM, FUSED_SGD } from '@convnets/nn';
import { allFloat, call, sizeOf, type KernelSpec, type Op, type Target } from './kernel.js';

/** One SGD-with-momentum step of one parameter: [param', buffer']. */
const sgdUpdate =
  (target: Target): Op =>
  (k, { param, grad, buffer }, attrs) => {
    const size = sizeOf(param!.shape);
    if (!allFloat(param!, grad!, buffer!) || sizeOf(grad!.shape) !== size || sizeOf(buffer!.shape) !== size) {
      return null;
    }
    const paramOut = k.output(param!.shape);
    const bufferOut = k.output(param!.shape);
    const at = (t: tf.TensorInfo) => k.address(t);
    const args = {
      param: at(param!),
      grad: at(grad!),
      buf: at(buffer!),
      param_out: at(paramOut),
      buf_out: at(bufferOut),
      size,
      nesterov: attrs.nesterov ? 1 : 0,
      lr: Number(attrs.lr),
      momentum: Number(attrs.momentum),
      weight_decay: Number(attrs.weightDecay),
    };
    call(k, target, 'sgd_update', args, size * 8);
    return [paramOut, bufferOut];
  };

/** One Adam step of one parameter: [param', m', v'] (see wasm/optimizer.c's adam_update for the attributes' roles). */
const adamUpdateWasm: Op = (k, { param, grad, m, v }, attrs) => {
  const size = sizeOf(param!.shape);
  if (!allFloat(param!, grad!, m!, v!) || [grad!, m!, v!].some((t) => sizeOf(t.shape) !== size)) return null;
  const [paramOut, mOut, vOut] = [0, 1, 2].map(() => k.output(param!.shape)) as [typeof param, typeof m, typeof v];
  const a = attrs as Record<string, number | boolean>;
  const at = (t: tf.TensorInfo) => k.address(t);
  k.run(
    'adam_update',
    {
      param: at(param!),
      grad: at(grad!),
      m: at(m!),
      v: at(v!),
      param_out: at(paramOut!),
      m_out: at(mOut!),
      v_out: at(vOut!),
      size,
      l2: a.l2 ? 1 : 0,
      decoupled: a.decoupled ? 1 : 0,
      lr: Number(a.lr),
      beta1: Number(a.beta1),
      one_minus_beta1: Number(a.oneMinusBeta1),
      beta2: Number(a.beta2),
      one_minus_beta2: Number(a.oneMinusBeta2),
      c1: Number(a.c1),
      c2: Number(a.c2),
      eps: Number(a.eps),
      weight_decay: Number(a.weightDecay),
      keep: Number(a.keep),
    },
    size * 12,
  );
  return [paramOut!, mOut!, vOut!];
};

export const OPTIMIZER_KERNELS = {
  [FUSED_SGD]: { on: ['wasm'], fused: true, native: sgdUpdate('native'), wasm: sgdUpdate('wasm') },
  [FUSED_ADAM]: { on: ['wasm'], fused: true, wasm: adamUpdateWasm },
} satisfies Record<string, KernelSpec>;
