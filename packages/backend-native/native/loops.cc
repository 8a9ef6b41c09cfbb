// Plain loops where oneDNN has no primitive or a call costs more than the work: the max-pool gradient,
// elementwise arithmetic (tfjs-wasm runs it on one thread) and the SGD update. Threads (OpenMP, as
// oneDNN's) split the work into disjoint ranges, so every result is computed in one order: the same bits
// on any thread count. Compiled without FMA contraction, so each float operation rounds as tfjs's do.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"

namespace convnets {
namespace {

// Below this many elements one thread is faster than waking the others.
[[maybe_unused]] constexpr int64_t PARALLEL = 1 << 15;  // used by OpenMP pragmas only

}  // namespace

// maxPoolGrad(heap, x, dy, dx, N, H, W, C, Ho, Wo, kh, kw, strideH, strideW, padTop, padLeft): each
// window's gradient goes to its first maximum in row-major window order (tfjs cpu's and PyTorch's rule).
napi_value maxPoolGrad(napi_env env, napi_callback_info info) {
  Args a(env, info, "maxPoolGrad", 15);
  int64_t N = a.n[3], H = a.n[4], W = a.n[5], C = a.n[6], Ho = a.n[7], Wo = a.n[8];
  int64_t kh = a.n[9], kw = a.n[10], sh = a.n[11], sw = a.n[12], pt = a.n[13], pl = a.n[14];
  const float *x = a.at(0, N * H * W * C, "x"), *dy = a.at(1, N * Ho * Wo * C, "dy");
  float *dx = a.at(2, N * H * W * C, "dx");
#pragma omp parallel if (N * Ho * Wo * C * kh * kw >= PARALLEL)
  {
    std::vector<float> best(C);
    std::vector<int32_t> where(C);  // 32-bit, as best, so the compare-and-select vectorizes
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; n++) {
      const float *xn = x + n * H * W * C;
      float *dxn = dx + n * H * W * C;
      std::fill(dxn, dxn + H * W * C, 0.0f);
      for (int64_t oy = 0; oy < Ho; oy++) {
        int64_t y0 = oy * sh - pt, ys = std::max<int64_t>(0, y0), ye = std::min(H, y0 + kh);
        for (int64_t ox = 0; ox < Wo; ox++) {
          int64_t x0 = ox * sw - pl, xs = std::max<int64_t>(0, x0), xe = std::min(W, x0 + kw);
          if (ys >= ye || xs >= xe) continue;  // a window wholly in padding passes no gradient
          int32_t first = int32_t((ys * W + xs) * C);
          for (int32_t c = 0; c < C; c++) best[c] = xn[first + c], where[c] = first + c;
          for (int64_t iy = ys; iy < ye; iy++) {
            for (int64_t ix = iy == ys ? xs + 1 : xs; ix < xe; ix++) {
              int32_t p = int32_t((iy * W + ix) * C);
              const float *__restrict v = xn + p;
              float *__restrict b = best.data();
              int32_t *__restrict w = where.data();
              for (int32_t c = 0; c < C; c++) {
                bool greater = v[c] > b[c];
                b[c] = greater ? v[c] : b[c];
                w[c] = greater ? p + c : w[c];
              }
            }
          }
          const float *g = dy + ((n * Ho + oy) * Wo + ox) * C;
          for (int64_t c = 0; c < C; c++) dxn[where[c]] += g[c];
        }
      }
    }
  }
  return nullptr;
}

// avgPoolGrad(heap, dy, dx, N, H, W, C, Ho, Wo, kh, kw, strideH, strideW, padTop, padLeft): each pixel gets the
// sum of dy over the windows that hold it, times 1 / (kh * kw) (tfjs's rule, padding counted in the window).
napi_value avgPoolGrad(napi_env env, napi_callback_info info) {
  Args a(env, info, "avgPoolGrad", 14);
  int64_t N = a.n[2], H = a.n[3], W = a.n[4], C = a.n[5], Ho = a.n[6], Wo = a.n[7];
  int64_t kh = a.n[8], kw = a.n[9], sh = a.n[10], sw = a.n[11], pt = a.n[12], pl = a.n[13];
  const float *dy = a.at(0, N * Ho * Wo * C, "dy");
  float *dx = a.at(1, N * H * W * C, "dx");
  float scale = float(1.0 / double(kh * kw));
#pragma omp parallel for schedule(static) if (N * Ho * Wo * C * kh * kw >= PARALLEL)
  for (int64_t n = 0; n < N; n++) {
    float *dxn = dx + n * H * W * C;
    std::fill(dxn, dxn + H * W * C, 0.0f);
    for (int64_t oy = 0; oy < Ho; oy++) {
      int64_t ys = std::max<int64_t>(0, oy * sh - pt), ye = std::min(H, oy * sh - pt + kh);
      for (int64_t ox = 0; ox < Wo; ox++) {
        int64_t xs = std::max<int64_t>(0, ox * sw - pl), xe = std::min(W, ox * sw - pl + kw);
        const float *__restrict g = dy + ((n * Ho + oy) * Wo + ox) * C;
        for (int64_t iy = ys; iy < ye; iy++)
          for (int64_t ix = xs; ix < xe; ix++) {
            float *__restrict d = dxn + (iy * W + ix) * C;
            for (int64_t c = 0; c < C; c++) d[c] += g[c];
          }
      }
    }
    for (int64_t i = 0; i < H * W * C; i++) dxn[i] *= scale;
  }
  return nullptr;
}

// copyBlocks(heap, src, dst, blocks, count, srcStride, dstStride): `blocks` runs of `count` floats, the r-th from
// src + r * srcStride to dst + r * dstStride (strides in floats): concatenation and its gradient, a split.
napi_value copyBlocks(napi_env env, napi_callback_info info) {
  Args a(env, info, "copyBlocks", 6);
  int64_t blocks = a.n[2], count = a.n[3], srcStride = a.n[4], dstStride = a.n[5];
  if (blocks < 0 || count < 0 || srcStride < count || dstStride < count) a.fail("bad block geometry");
  const float *src = a.at(0, blocks == 0 ? 0 : (blocks - 1) * srcStride + count, "src");
  float *dst = a.at(1, blocks == 0 ? 0 : (blocks - 1) * dstStride + count, "dst");
#pragma omp parallel for schedule(static) if (blocks * count >= PARALLEL)
  for (int64_t r = 0; r < blocks; r++) std::copy_n(src + r * srcStride, count, dst + r * dstStride);
  return nullptr;
}

// elementwise(heap, op, a, b, out, size, bSize, swapped): out[i] = a[i] op b[i % bSize]; b repeats (a
// trailing-axes broadcast). `swapped` computes b op a instead. Unary ops ignore b.
enum Op { ADD = 0, SUB = 1, MUL = 2, RELU = 3, STEP = 4 };

namespace {

// out[i] = x[i] op y[i] over one contiguous run (y unused by unary ops). Branch-free, so it vectorizes.
void run(int64_t op, bool swapped, const float *x, const float *y, float *out, int64_t count) {
  switch (op) {
    case ADD:
      for (int64_t i = 0; i < count; i++) out[i] = x[i] + y[i];
      break;
    case SUB:
      if (swapped) for (int64_t i = 0; i < count; i++) out[i] = y[i] - x[i];
      else for (int64_t i = 0; i < count; i++) out[i] = x[i] - y[i];
      break;
    case MUL:
      for (int64_t i = 0; i < count; i++) out[i] = x[i] * y[i];
      break;
    case RELU:
      // max(0, x) as tfjs cpu's Math.max: NaN stays NaN, -0 becomes 0
      for (int64_t i = 0; i < count; i++) out[i] = x[i] > 0.0f || x[i] != x[i] ? x[i] : 0.0f;
      break;
    case STEP:
      for (int64_t i = 0; i < count; i++) out[i] = x[i] != x[i] ? x[i] : x[i] > 0.0f ? 1.0f : 0.0f;
      break;
  }
}

// Runs of this many elements are the threads' unit of work.
constexpr int64_t RUN = 1 << 13;

}  // namespace

napi_value elementwise(napi_env env, napi_callback_info info) {
  Args a(env, info, "elementwise", 7);
  int64_t op = a.n[0], size = a.n[4], bSize = a.n[5];
  bool swapped = a.n[6] != 0;
  bool unary = op == RELU || op == STEP;
  if (op < ADD || op > STEP) a.fail("unknown op " + std::to_string(op));
  if (!unary && (bSize <= 0 || size % bSize != 0)) a.fail("b's size must divide a's");
  const float *x = a.at(1, size, "a"), *y = unary ? x : a.at(2, bSize, "b");
  float *out = a.at(3, size, "out");
  if (unary || bSize == size) {
    int64_t runs = (size + RUN - 1) / RUN;
#pragma omp parallel for schedule(static) if (size >= PARALLEL)
    for (int64_t r = 0; r < runs; r++) {
      int64_t at = r * RUN;
      run(op, swapped, x + at, y + at, out + at, std::min(RUN, size - at));
    }
  } else {
    int64_t rows = size / bSize;
#pragma omp parallel for schedule(static) if (size >= PARALLEL)
    for (int64_t r = 0; r < rows; r++) run(op, swapped, x + r * bSize, y, out + r * bSize, bSize);
  }
  return nullptr;
}

// batchNormInference(heap, x, mean, variance, scale, offset, y, rows, C, eps): y = offset + (x - mean) * scale /
// sqrt(variance + eps) per channel over [rows, C] (eval mode, tfjs's FusedBatchNorm); scale or offset at byte
// offset -1 means none (1 and 0).
napi_value batchNormInference(napi_env env, napi_callback_info info) {
  Args a(env, info, "batchNormInference", 9);
  int64_t rows = a.n[6], C = a.n[7];
  double eps = a.d[8];
  const float *x = a.at(0, rows * C, "x"), *mean = a.at(1, C, "mean"), *variance = a.at(2, C, "variance");
  const float *scale = a.n[3] < 0 ? nullptr : a.at(3, C, "scale"), *offset = a.n[4] < 0 ? nullptr : a.at(4, C, "offset");
  float *y = a.at(5, rows * C, "y");
  std::vector<float> factor(C), shift(C);
  for (int64_t c = 0; c < C; c++) {
    factor[c] = float((scale ? scale[c] : 1.0) / std::sqrt(double(variance[c]) + eps));
    shift[c] = offset ? offset[c] : 0.0f;
  }
  const float *__restrict f = factor.data(), *__restrict b = shift.data(), *__restrict m = mean;
#pragma omp parallel for schedule(static) if (rows * C >= PARALLEL)
  for (int64_t r = 0; r < rows; r++) {
    const float *__restrict xr = x + r * C;
    float *__restrict yr = y + r * C;
    for (int64_t c = 0; c < C; c++) yr[c] = b[c] + (xr[c] - m[c]) * f[c];
  }
  return nullptr;
}

// pad(heap, x, out, value, ...shape, ...before, ...after): out = x surrounded by `value`; shape and
// padding have 6 axes (lower ranks put 1s and 0s in front).
constexpr int64_t PAD_RANK = 6;

napi_value pad(napi_env env, napi_callback_info info) {
  Args a(env, info, "pad", 3 + 3 * PAD_RANK);
  int64_t rank = PAD_RANK;
  const int64_t *shape = &a.n[3], *before = &a.n[3 + rank], *after = &a.n[3 + 2 * rank];
  int64_t inSize = 1, outSize = 1;
  std::vector<int64_t> outShape(rank);
  for (int64_t d = 0; d < rank; d++) {
    outShape[d] = shape[d] + before[d] + after[d];
    if (before[d] < 0 || after[d] < 0) a.fail("padding must not be negative");
    inSize *= shape[d], outSize *= outShape[d];
  }
  const float *x = a.at(0, inSize, "x");
  float *out = a.at(1, outSize, "out");
  float value = float(a.d[2]);
  int64_t row = shape[rank - 1], rows = inSize / std::max<int64_t>(row, 1);
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < outSize; i++) out[i] = value;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      // the input row's place in out: its index along each axis, shifted by the padding before it
      int64_t at = before[rank - 1], rest = r;
      int64_t stride = outShape[rank - 1];
      for (int64_t d = rank - 2; d >= 0; d--) {
        at += (rest % shape[d] + before[d]) * stride;
        rest /= shape[d];
        stride *= outShape[d];
      }
      std::copy_n(x + r * row, row, out + at);
    }
  }
  return nullptr;
}

// sgdUpdate(heap, param, grad, buffer, paramOut, bufferOut, size, nesterov, lr, momentum, weightDecay):
// PyTorch's SGD with momentum in one pass, with the float operations of the trainer's tfjs ops in their
// order (so the same bits): d = g + p * wd; b' = b * m + d; p' = p - (nesterov ? d + b' * m : b') * lr.
napi_value sgdUpdate(napi_env env, napi_callback_info info) {
  Args a(env, info, "sgdUpdate", 10);
  int64_t size = a.n[5];
  bool nesterov = a.n[6] != 0;
  float lr = float(a.d[7]), m = float(a.d[8]), wd = float(a.d[9]);
  const float *p = a.at(0, size, "param"), *g = a.at(1, size, "grad"), *buf = a.at(2, size, "buffer");
  float *pOut = a.at(3, size, "paramOut"), *bufOut = a.at(4, size, "bufferOut");
#pragma omp parallel for schedule(static) if (size >= PARALLEL)
  for (int64_t i = 0; i < size; i++) {
    float d = wd != 0.0f ? g[i] + p[i] * wd : g[i];
    float b = buf[i] * m + d;
    float update = nesterov ? d + b * m : b;
    bufOut[i] = b;
    pOut[i] = p[i] - update * lr;
  }
  return nullptr;
}

}  // namespace convnets
