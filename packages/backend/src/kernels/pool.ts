/**
 * The pool family: the max- and average-pool gradients.
 * - native and wasm: one pass over the input per window (pool.cc, wasm/pool.c), threads splitting the batch.
 * - tfjs: on wasm without convnets' kernels, the max-pool gradient as a loop over the heap: tfjs-wasm's is wrong
 *   where a window's maximum is <= 0 (every window of zeros after a ReLU); its average-pool gradient is right (JS
 *   loops and slices, ~12% of DenseNet's step).
 */
import { poolKernelWindow, poolWindow, type PoolAttrs, type PoolGeometry } from './geometry.js';
import { allFloat, call, heapKernel, sizeOf, type Op, type Target, type KernelSpec } from './kernel.js';

/** dx of a max-pool: each window's gradient to its first maximum (tfjs cpu's and PyTorch's rule). */
const maxPoolGrad =
  (target: Target): Op =>
  (k, { dy, input }, attrs) => {
    if (!allFloat(dy!, input!) || sizeOf(input!.shape) === 0) return null;
    const dx = k.output(input!.shape);
    const g = poolKernelWindow(input!.shape, attrs as unknown as PoolAttrs);
    const args = { x: k.address(input!), dy: k.address(dy!), dx: k.address(dx), g };
    call(k, target, 'max_pool_grad', args, sizeOf(input!.shape) * 4);
    return dx;
  };

/** dx of an average pool: dy / (kh * kw) to every pixel of each window (tfjs's rule: padding counts). */
const avgPoolGrad =
  (target: Target): Op =>
  (k, { dy, input }, attrs) => {
    if (!allFloat(dy!, input!) || sizeOf(input!.shape) === 0) return null;
    const dx = k.output(input!.shape);
    const g = poolKernelWindow(input!.shape, attrs as unknown as PoolAttrs);
    call(k, target, 'avg_pool_grad', { dy: k.address(dy!), dx: k.address(dx), g }, sizeOf(input!.shape) * 4);
    return dx;
  };

/**
 * The max-pool gradient as a loop over x's memory (the rule above; padding never wins), for a wasm backend
 * without convnets' kernels.
 */
function maxPoolGradInto(x: Float32Array, dy: Float32Array, g: PoolGeometry, dx: Float32Array): void {
  const { batch, inHeight: H, inWidth: W, channels: C, outHeight: Ho, outWidth: Wo } = g;
  dx.fill(0);
  const best = new Float32Array(C);
  const where = new Int32Array(C);
  for (let n = 0; n < batch; n++) {
    const xBase = n * H * W * C;
    for (let oy = 0; oy < Ho; oy++) {
      const y0 = oy * g.strideHeight - g.top;
      const ys = Math.max(0, y0);
      const ye = Math.min(H, y0 + g.kernelHeight);
      for (let ox = 0; ox < Wo; ox++) {
        const x0 = ox * g.strideWidth - g.left;
        const xs = Math.max(0, x0);
        const xe = Math.min(W, x0 + g.kernelWidth);
        if (ys >= ye || xs >= xe) continue; // a window wholly in padding passes no gradient
        // The window's first pixel starts the search; later ones win only when strictly greater.
        const start = xBase + (ys * W + xs) * C;
        for (let c = 0; c < C; c++) {
          best[c] = x[start + c]!;
          where[c] = start + c;
        }
        for (let iy = ys; iy < ye; iy++) {
          for (let ix = iy === ys ? xs + 1 : xs; ix < xe; ix++) {
            const p = xBase + (iy * W + ix) * C;
            for (let c = 0; c < C; c++) {
              const v = x[p + c]!;
              if (v > best[c]!) {
                best[c] = v;
                where[c] = p + c;
              }
            }
          }
        }
        const d = ((n * Ho + oy) * Wo + ox) * C;
        for (let c = 0; c < C; c++) dx[where[c]!] += dy[d + c]!;
      }
    }
  }
}

export const POOL_KERNELS = {
  MaxPoolGrad: {
    on: ['wasm'],
    native: maxPoolGrad('native'),
    wasm: maxPoolGrad('wasm'),
    tfjs: ({ inputs, attrs, backend }) => {
      const x = inputs.input!;
      const [batch, , , channels] = x.shape as [number, number, number, number];
      const g = { ...poolWindow(x.shape, attrs as unknown as PoolAttrs), batch, channels };
      return heapKernel(backend, [x, inputs.dy!], x.shape, ([xv, dyv], dx) => maxPoolGradInto(xv!, dyv!, g, dx));
    },
  },
  AvgPoolGrad: { on: ['wasm'], native: avgPoolGrad('native'), wasm: avgPoolGrad('wasm') },
} satisfies Record<string, KernelSpec>;
