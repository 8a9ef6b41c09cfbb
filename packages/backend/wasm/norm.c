// The norm family: train-mode batch norm, fused (the statistics in two passes, mean then the mean squared
// deviation, as PyTorch; the normalisation in a third; the backward pass in two), and the per-channel sums of
// NHWC's Sum and Mean. Threads split the channels in blocks of 16, so every sum is one thread's, in one order.
#include "common.h"

// ---------------------------------------------------------------------------------------------------
// Per-channel sums: out[c] = scale * sum over rows of x[row, c] (x viewed as [rows, channels]).
// Threads split the channels in blocks of four, so each sum is one thread's, in one order.
void channel_sum(const ChannelSum *g, int t, int threads) {
  int c0, c1;
  share(g->channels, 16, t, threads, &c0, &c1);
  int C = g->channels;
  int c = c0;
  for (; c + 16 <= c1; c += 16) {
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
    const float *p = g->x + c;
    for (int r = 0; r < g->rows; r++, p += C) {
      s0 = wasm_f32x4_add(s0, wasm_v128_load(p)), s1 = wasm_f32x4_add(s1, wasm_v128_load(p + 4));
      s2 = wasm_f32x4_add(s2, wasm_v128_load(p + 8)), s3 = wasm_f32x4_add(s3, wasm_v128_load(p + 12));
    }
    v128_t k = wasm_f32x4_splat(g->scale);
    wasm_v128_store(g->out + c, wasm_f32x4_mul(s0, k)), wasm_v128_store(g->out + c + 4, wasm_f32x4_mul(s1, k));
    wasm_v128_store(g->out + c + 8, wasm_f32x4_mul(s2, k)), wasm_v128_store(g->out + c + 12, wasm_f32x4_mul(s3, k));
  }
  for (; c < c1; c++) {
    float s = 0.0f;
    for (int r = 0; r < g->rows; r++) s += g->x[r * C + c];
    g->out[c] = s * g->scale;
  }
}

// ---------------------------------------------------------------------------------------------------
// Train-mode batch norm over x viewed as [rows, channels] (NHWC with N, H, W merged), fused: the batch
// statistics in two passes (mean, then the mean squared deviation, as PyTorch), the normalisation in a
// third. The backward pass needs two: the per-channel sums of dy and dy * xhat, then dx. Threads split
// the channels in blocks of 16, so every sum is one thread's, in one order.
void batch_norm_train(const BatchNormTrain *g, int t, int threads) {
  int c0, c1, C = g->channels, R = g->rows;
  share(C, 16, t, threads, &c0, &c1);
  int n = c1 - c0;
  if (n <= 0) return;
  float *restrict mean = g->mean + c0, *restrict var = g->var + c0;
  float scale[n];
  float inv = 1.0f / (float)R;
  // Rows outer, channels inner: every pass reads x in order.
  for (int c = 0; c < n; c++) mean[c] = 0.0f, var[c] = 0.0f;
  for (int r = 0; r < R; r++) {
    const float *restrict x = g->x + r * C + c0;
    for (int c = 0; c < n; c++) mean[c] += x[c];
  }
  for (int c = 0; c < n; c++) mean[c] *= inv;
  for (int r = 0; r < R; r++) {
    const float *restrict x = g->x + r * C + c0;
    for (int c = 0; c < n; c++) var[c] += (x[c] - mean[c]) * (x[c] - mean[c]);
  }
  for (int c = 0; c < n; c++) var[c] *= inv, scale[c] = g->gamma[c0 + c] / __builtin_sqrtf(var[c] + g->eps);
  const float *restrict beta = g->beta + c0;
  for (int r = 0; r < R; r++) {
    const float *restrict x = g->x + r * C + c0;
    float *restrict y = g->y + r * C + c0;
    for (int c = 0; c < n; c++) y[c] = (x[c] - mean[c]) * scale[c] + beta[c];
  }
}

// dbeta = sum(dy), dgamma = sum(dy * xhat), dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma).
void batch_norm_train_grad(const BatchNormTrainGrad *g, int t, int threads) {
  int c0, c1, C = g->channels, R = g->rows;
  share(C, 16, t, threads, &c0, &c1);
  int n = c1 - c0;
  if (n <= 0) return;
  const float *restrict mean = g->mean + c0;
  float *restrict dbeta = g->dbeta + c0, *restrict dgamma = g->dgamma + c0;
  float invstd[n], k[n];
  for (int c = 0; c < n; c++) invstd[c] = 1.0f / __builtin_sqrtf(g->var[c0 + c] + g->eps), dbeta[c] = 0.0f, dgamma[c] = 0.0f;
  for (int r = 0; r < R; r++) {
    const float *restrict dy = g->dy + r * C + c0, *restrict x = g->x + r * C + c0;
    for (int c = 0; c < n; c++) dbeta[c] += dy[c], dgamma[c] += dy[c] * (x[c] - mean[c]);
  }
  float m = (float)R;
  for (int c = 0; c < n; c++) dgamma[c] *= invstd[c], k[c] = g->gamma[c0 + c] * invstd[c] / m;
  for (int r = 0; r < R; r++) {
    const float *restrict dy = g->dy + r * C + c0, *restrict x = g->x + r * C + c0;
    float *restrict dx = g->dx + r * C + c0;
    for (int c = 0; c < n; c++) dx[c] = k[c] * (m * dy[c] - dbeta[c] - (x[c] - mean[c]) * invstd[c] * dgamma[c]);
  }
}

