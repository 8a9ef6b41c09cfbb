// The one declared interface between convnets' TypeScript and its two kernel builds: the WebAssembly kernels
// (@convnets/backend's wasm/*.c, built with clang) and this addon (native/*.cc, g++). It holds every kernel's
// argument struct, the op codes, the kernels each build exports, and the loops both builds share. TypeScript's
// layouts are generated from this file (@convnets/backend's scripts/kernel-interface.mjs), never typed by hand, so
// it keeps to a small C: structs of 4-byte fields (int32_t, float, an operand, an array of those, or another such
// struct), named enums, and the kernel lists below.
//
// An operand is a pointer in the wasm build (tfjs-wasm's heap is its memory) and a byte offset into that heap in the
// addon, which checks it against the heap before use.
#pragma once
#include <stdint.h>

#ifdef __wasm__
typedef const float *operand_in;
typedef float *operand_out;
#else
typedef uint32_t operand_in;
typedef uint32_t operand_out;
#endif

// ---- limits ------------------------------------------------------------------------------------------------------
enum Limits {
  MAX_TAPS = 256,          // taps the indirect convolution takes at most
  MAX_WASM_CHANNELS = 4096,  // channels wasm's fused batch norm takes at most (its scratch is on a 64 KiB stack)
  PAD_RANK = 6,            // ranks the addon's padding takes (lower ranks put 1s and 0s in front)
};

// ---- matmul: the GEMM every wasm convolution is built on -----------------------------------------------------------
// How a GEMM operand is read, so that it packs straight from the layout training has.
enum OperandKind {
  STRIDED = 0,    // element (i, j) at p[i * rs + j * cs]
  WINDOWS = 1,    // row i = output pixel (n, oy, ox), column j = (ky, kx, c): the im2col matrix
  WINDOWS_T = 2,  // the transpose of WINDOWS: row i = (ky, kx, c), column j = output pixel
  ROTATED = 3,    // filter [kh, kw, in, out] as B of an input gradient: row (ky, kx, out), column in, taken from tap
                  // (kh-1-ky, kw-1-kx)
  TAP_T = 4,      // one tap (ky, kx) of WINDOWS_T over the output pixels where it meets the input (the rectangle
                  // [y0, y1) x [x0, x1) of every image): row c, column (n, oy, ox)
  RECT_ROWS = 5,  // the rows of a [n, oh, ow, c] tensor at the pixels of that rectangle: row (n, oy, ox), column c
};

typedef struct {
  int32_t kind;
  operand_in p;
  int32_t rs, cs;  // STRIDED
  // WINDOWS / WINDOWS_T: source tensor [n, h, w, c]; outputs [n, oh, ow]; source pixel of output (oy, ox) and tap
  // (ky, kx) is (oy * sh + ky * dh - ph, ox * sw + kx * dw - pw), zero outside.
  // ROTATED: kh, kw and c (= in channels), n (= out channels) describe the filter.
  int32_t n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
  int32_t ky, kx, y0, y1, x0, x1;  // TAP_T and RECT_ROWS (ky, kx: TAP_T only)
} Operand;

// C[M, N] (+)= A[M, K] B[K, N]; C row-major with leading dimension ldc.
typedef struct {
  Operand a, b;
  operand_out c;
  int32_t ldc, m, n, k;
  int32_t accumulate;   // 1: add to C; 0: overwrite
  operand_out scratch;  // per thread: the packing scratch, thread t at t * (pack_a_floats() + pack_b_floats())
} Gemm;

// Batched c[i] = op(a[i]) op(b[i]) for [batch, m, k] . [batch, k, n]; a batch of 1 broadcasts.
typedef struct {
  operand_in a, b;
  operand_out c;
  int32_t batch_a, batch_b, m, k, n, transpose_a, transpose_b;
} MatMul;

// ---- conv ----------------------------------------------------------------------------------------------------------
// B [k, n] (any operand kind) into NR-wide panels over all of k.
typedef struct {
  Operand b;
  operand_out dst;
  int32_t k, n;
} PackB;

// C [images, oh, ow, n] = windows(a) . B, B packed by pack_b.
typedef struct {
  Operand a;
  operand_in packed;
  operand_out c;
  int32_t n;
} ConvIndirect;

// The filter gradient, one GEMM per tap over only the output pixels where that tap meets the input.
typedef struct {
  Operand x;   // TAP_T geometry of the convolution's input (ky, kx and the rectangle set per tap)
  Operand dy;  // RECT_ROWS over dy [n, oh, ow, c_out]
  operand_out dw;  // [kh, kw, c_in, c_out]
  operand_out scratch;
} FilterGrad;

// dst [c/group][h][w][n][group] = src [n][h][w][c] (c a multiple of group).
typedef struct {
  operand_in src;
  operand_out dst;
  int32_t n, h, w, c, group;
} Interleave;

// The stride-1 filter gradient over x and dy reordered by interleave_channels.
typedef struct {
  operand_in x4;   // x interleaved by 4 channels: [c_in/4][h][w][n][4]
  operand_in dy8;  // dy interleaved by 8 channels: [c_out/8][oh][ow][n][8]
  operand_out dw;  // [kh, kw, c_in, c_out]
  int32_t n, h, w, cin, oh, ow, cout, kh, kw, dh, dw_, ph, pw;
} FilterGradS1;

// dx [n, h, w, c] = the sum, over every output pixel and tap, of that row of cols [n*oh*ow, kh*kw*c].
typedef struct {
  operand_in cols;
  operand_out dx;
  int32_t n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
} Col2Im;

// A convolution's geometry as the addon takes it (filters HWIO, tensors NHWC).
typedef struct {
  int32_t n, h, w, c, kh, kw, cout, oh, ow, sh, sw, dh, dw, top, left, bottom, right;
} ConvGeometry;

typedef struct {
  operand_in x, filter;
  operand_out y;
  ConvGeometry g;
} Conv2dForward;

typedef struct {
  operand_in dy, filter;
  operand_out dx;
  ConvGeometry g;
} Conv2dInputGrad;

typedef struct {
  operand_in x, dy;
  operand_out dw;
  ConvGeometry g;
} Conv2dFilterGrad;

// ---- pool ----------------------------------------------------------------------------------------------------------
// A pool's windows over x [n, h, w, c]: outputs [n, oh, ow, c], window (oy, ox) from (oy * sh - ph, ox * sw - pw).
typedef struct {
  int32_t n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw;
} PoolWindow;

typedef struct {
  operand_in x, dy;
  operand_out dx;
  PoolWindow g;
} MaxPoolGrad;

typedef struct {
  operand_in dy;
  operand_out dx;
  PoolWindow g;
} AvgPoolGrad;

// ---- norm ----------------------------------------------------------------------------------------------------------
// Data is [rows, channels] (NHWC with N, H, W merged); statistics are per channel, the variance biased.
typedef struct {
  operand_in x, gamma, beta;
  operand_out y, mean, var;
  int32_t rows, channels;
  float eps;
} BatchNormTrain;

typedef struct {
  operand_in dy, x, gamma, mean, var;
  operand_out dx, dgamma, dbeta;
  int32_t rows, channels;
  float eps;
} BatchNormTrainGrad;

// y = offset + (x - mean) * scale / sqrt(var + eps); scale or offset at byte offset -1: none (1 and 0).
typedef struct {
  operand_in x, mean, var, scale, offset;
  operand_out y;
  int32_t rows, channels;
  float eps;
} BatchNormInference;

// out[c] = scale * the sum over rows of x[row, c].
typedef struct {
  operand_in x;
  operand_out out;
  int32_t rows, channels;
  float scale;
} ChannelSum;

// ---- elementwise ---------------------------------------------------------------------------------------------------
// Binary ops read b, unary ones (relu; step: 1 where x > 0, else 0) do not.
enum ElementwiseOp { ADD = 0, SUB = 1, MUL = 2, RELU = 3, STEP = 4 };

// out[i] = a[i] op b[i % b_size] (b repeats along a's leading axes); `swapped` computes b op a.
typedef struct {
  operand_in a, b;
  operand_out out;
  int32_t op, size, b_size, swapped;
} Elementwise;

// ---- copy ----------------------------------------------------------------------------------------------------------
// `blocks` runs of `count` floats, the r-th from src + r * src_stride to dst + r * dst_stride (strides in floats).
typedef struct {
  operand_in src;
  operand_out dst;
  int32_t blocks, count, src_stride, dst_stride;
} CopyBlocks;

// out = x surrounded by `value`.
typedef struct {
  operand_in x;
  operand_out out;
  float value;
  int32_t shape[PAD_RANK], before[PAD_RANK], after[PAD_RANK];
} Pad;

// ---- optimizer -----------------------------------------------------------------------------------------------------
// g = grad + p * wd; buf' = buf * m + g; update = nesterov ? g + buf' * m : buf'; p' = p - update * lr.
typedef struct {
  operand_in param, grad, buf;
  operand_out param_out, buf_out;
  int32_t size, nesterov;
  float lr, momentum, weight_decay;
} SgdUpdate;

// d = l2 ? grad + p * wd : grad; m' = m * b1 + d * (1 - b1); v' = v * b2 + (d * d) * (1 - b2);
// update = (m' / c1) / (sqrt(v' / c2) + eps); p' = (decoupled ? p * keep : p) - update * lr.
typedef struct {
  operand_in param, grad, m, v;
  operand_out param_out, m_out, v_out;
  int32_t size, l2, decoupled;
  float lr, beta1, one_minus_beta1, beta2, one_minus_beta2, c1, c2, eps, weight_decay, keep;
} AdamUpdate;

// ---- the kernels each build exports: X(name, argument struct) -----------------------------------------------------
#define CONVNETS_SHARED_KERNELS(X)                                                                              \
  X(max_pool_grad, MaxPoolGrad) X(avg_pool_grad, AvgPoolGrad) X(batch_norm_train, BatchNormTrain)             \
  X(batch_norm_train_grad, BatchNormTrainGrad) X(elementwise, Elementwise) X(copy_blocks, CopyBlocks)         \
  X(sgd_update, SgdUpdate)

#define CONVNETS_WASM_KERNELS(X)                                                                                \
  CONVNETS_SHARED_KERNELS(X)                                                                                    \
  X(gemm, Gemm) X(pack_b, PackB) X(conv_indirect, ConvIndirect) X(conv_filter_grad, FilterGrad)               \
  X(interleave_channels, Interleave) X(conv_filter_grad_s1, FilterGradS1) X(col2im, Col2Im)                    \
  X(channel_sum, ChannelSum) X(adam_update, AdamUpdate)

#define CONVNETS_NATIVE_KERNELS(X)                                                                              \
  CONVNETS_SHARED_KERNELS(X)                                                                                    \
  X(conv2d_forward, Conv2dForward) X(conv2d_input_grad, Conv2dInputGrad) X(conv2d_filter_grad, Conv2dFilterGrad) \
  X(matmul, MatMul) X(batch_norm_inference, BatchNormInference) X(pad, Pad)

// ---- loops both builds share ---------------------------------------------------------------------------------------
// Plain C that clang (wasm SIMD128) and g++ (the CPU's vectors) both vectorize; each result is the float operation
// tfjs cpu does, in its order, so the builds agree bit for bit. Indices are intptr_t: 32 bits in wasm, 64 natively.
#ifdef __cplusplus
#define CONVNETS_RESTRICT __restrict
#else
#define CONVNETS_RESTRICT restrict
#endif

// The max-pool gradient of one image: each window's dy goes to its first maximum in row-major window order (tfjs
// cpu's and PyTorch's rule); windows wholly in padding pass nothing. Channels in blocks of 64, a running maximum and
// where it is per channel, updated by compare-and-select (strictly greater, so the first maximum stays).
static inline void max_pool_grad_image(const float *x, const float *dy, float *dx, const PoolWindow *g) {
  intptr_t C = g->c;
  for (intptr_t i = 0; i < g->h * g->w * C; i++) dx[i] = 0.0f;
  float best[64];
  int32_t where[64];
  for (intptr_t oy = 0; oy < g->oh; oy++) {
    intptr_t y0 = oy * g->sh - g->ph, ys = y0 < 0 ? 0 : y0, ye = y0 + g->kh < g->h ? y0 + g->kh : g->h;
    for (intptr_t ox = 0; ox < g->ow; ox++) {
      intptr_t x0 = ox * g->sw - g->pw, xs = x0 < 0 ? 0 : x0, xe = x0 + g->kw < g->w ? x0 + g->kw : g->w;
      if (ys >= ye || xs >= xe) continue;
      const float *d = dy + (oy * g->ow + ox) * C;
      for (intptr_t c0 = 0; c0 < C; c0 += 64) {
        intptr_t block = C - c0 < 64 ? C - c0 : 64;
        int32_t first = (int32_t)((ys * g->w + xs) * C + c0);
        for (intptr_t c = 0; c < block; c++) best[c] = x[first + c], where[c] = first + (int32_t)c;
        for (intptr_t iy = ys; iy < ye; iy++) {
          for (intptr_t ix = iy == ys ? xs + 1 : xs; ix < xe; ix++) {
            int32_t at = (int32_t)((iy * g->w + ix) * C + c0);
            const float *CONVNETS_RESTRICT v = x + at;
            float *CONVNETS_RESTRICT b = best;
            int32_t *CONVNETS_RESTRICT w = where;
            for (intptr_t c = 0; c < block; c++) {
              int greater = v[c] > b[c];
              b[c] = greater ? v[c] : b[c];
              w[c] = greater ? at + (int32_t)c : w[c];
            }
          }
        }
        for (intptr_t c = 0; c < block; c++) dx[where[c]] += d[c0 + c];
      }
    }
  }
}

// The average-pool gradient of one image: each pixel gets the sum of dy over the windows that hold it, times
// 1 / (kh * kw) (tfjs's rule: padding counts in the window).
static inline void avg_pool_grad_image(const float *dy, float *dx, const PoolWindow *g) {
  intptr_t C = g->c, plane = g->h * g->w * C;
  float scale = (float)(1.0 / (double)(g->kh * g->kw));
  for (intptr_t i = 0; i < plane; i++) dx[i] = 0.0f;
  for (intptr_t oy = 0; oy < g->oh; oy++) {
    intptr_t y0 = oy * g->sh - g->ph, ys = y0 < 0 ? 0 : y0, ye = y0 + g->kh < g->h ? y0 + g->kh : g->h;
    for (intptr_t ox = 0; ox < g->ow; ox++) {
      intptr_t x0 = ox * g->sw - g->pw, xs = x0 < 0 ? 0 : x0, xe = x0 + g->kw < g->w ? x0 + g->kw : g->w;
      const float *CONVNETS_RESTRICT d = dy + (oy * g->ow + ox) * C;
      for (intptr_t iy = ys; iy < ye; iy++) {
        for (intptr_t ix = xs; ix < xe; ix++) {
          float *CONVNETS_RESTRICT p = dx + (iy * g->w + ix) * C;
          for (intptr_t c = 0; c < C; c++) p[c] += d[c];
        }
      }
    }
  }
  for (intptr_t i = 0; i < plane; i++) dx[i] *= scale;
}

// out[i] = x[i] op y[i] over one contiguous run (y unused by unary ops), branch-free inside each loop.
static inline void elementwise_run(int op, int swapped, const float *CONVNETS_RESTRICT x,
                                   const float *CONVNETS_RESTRICT y, float *CONVNETS_RESTRICT out, intptr_t count) {
  switch (op) {
    case ADD:
      for (intptr_t i = 0; i < count; i++) out[i] = x[i] + y[i];
      break;
    case SUB:
      if (swapped)
        for (intptr_t i = 0; i < count; i++) out[i] = y[i] - x[i];
      else
        for (intptr_t i = 0; i < count; i++) out[i] = x[i] - y[i];
      break;
    case MUL:
      for (intptr_t i = 0; i < count; i++) out[i] = x[i] * y[i];
      break;
    case RELU:  // max(0, x) as tfjs cpu's Math.max: NaN stays NaN, -0 becomes 0
      for (intptr_t i = 0; i < count; i++) out[i] = x[i] > 0.0f || x[i] != x[i] ? x[i] : 0.0f;
      break;
    default:  // STEP: 1 where x > 0, NaN stays NaN, else 0
      for (intptr_t i = 0; i < count; i++) out[i] = x[i] != x[i] ? x[i] : x[i] > 0.0f ? 1.0f : 0.0f;
  }
}

// Elements [i0, i1) of one SGD step (SgdUpdate's formula, the trainer's float operations in their order).
static inline void sgd_update_range(const float *CONVNETS_RESTRICT p, const float *CONVNETS_RESTRICT grad,
                                    const float *CONVNETS_RESTRICT buf, float *CONVNETS_RESTRICT p_out,
                                    float *CONVNETS_RESTRICT buf_out, intptr_t i0, intptr_t i1, int nesterov,
                                    float lr, float m, float wd) {
  for (intptr_t i = i0; i < i1; i++) {
    float d = wd != 0.0f ? grad[i] + p[i] * wd : grad[i];
    float b = buf[i] * m + d;
    float update = nesterov ? d + b * m : b;
    buf_out[i] = b;
    p_out[i] = p[i] - update * lr;
  }
}
