// The conv family: convolution as an indirect GEMM, the filter gradient per tap, the stride-1 filter gradient over
// interleaved channels, and col2im (the strided input gradient's scatter). Built on the GEMM core (matmul.c).
#include "common.h"

// ---------------------------------------------------------------------------------------------------
// Convolution as an indirect GEMM: no im2col and no packing of the input. A strip is four images at one
// output position, so its four rows share which taps read padding: those taps are skipped outright
// (on small maps most are: a 3x3 window on a 2x2 map meets padding in 5 of 9 taps). The live taps'
// rows are found once per strip; the micro-kernel streams channels straight from the tensor against
// B packed by pack_b.

// B [k, n] (any operand kind) into NR-wide panels over all of k: panel q at dst + q * k * NR.
void pack_b(const PackB *g, int t, int threads) {
  int p0, p1;
  share((g->n + NR - 1) / NR, 1, t, threads, &p0, &p1);
  for (int q = p0; q < p1; q++) {
    for (int k0 = 0; k0 < g->k; k0 += KC) {
      pack_b_panel(&g->b, k0, MIN(KC, g->k - k0), q * NR, MIN(NR, g->n - q * NR), g->dst + (q * g->k + k0) * NR);
    }
  }
}

// C tile (+ row stride ldc) = sum over the live taps of rows[tap] . panel rows of that tap.
__attribute__((noinline)) static void micro_indirect(int live, const int *taps, int cin, const float *const *rows,
                                                     const float *panel, float *c, int ldc, int mr, int nr) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int l = 0; l < live; l++, rows += MR) {
    const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3];
    const float *pb = panel + taps[l] * cin * NR;
    for (int k = 0; k < cin; k++, pb += NR) {
      v128_t b0 = wasm_v128_load(pb), b1 = wasm_v128_load(pb + 4);
      v128_t a = wasm_v128_load32_splat(a0 + k);
      FMA(c00, a, b0), FMA(c01, a, b1);
      a = wasm_v128_load32_splat(a1 + k);
      FMA(c10, a, b0), FMA(c11, a, b1);
      a = wasm_v128_load32_splat(a2 + k);
      FMA(c20, a, b0), FMA(c21, a, b1);
      a = wasm_v128_load32_splat(a3 + k);
      FMA(c30, a, b0), FMA(c31, a, b1);
    }
  }
  store_tile(c00, c01, c10, c11, c20, c21, c30, c31, c, ldc, 0, mr, nr);
}

// C [images, oh, ow, n] = windows(a) . B, B packed by pack_b.

void conv_indirect(const ConvIndirect *g, int t, int threads) {
  const Operand *a = &g->a;
  int positions = a->oh * a->ow, taps = a->kh * a->kw, depth = taps * a->c;
  int per_position = (a->n + MR - 1) / MR;
  int s0, s1;
  share(positions * per_position, 1, t, threads, &s0, &s1);
  // Columns in blocks whose packed B (depth x block) stays in L2 while the strips pass over it.
  int block = MAX(NR, (131072 / depth) / NR * NR);
  int ldc = positions * g->n;  // from one image's row to the next
  const float *rows[MR * MAX_TAPS];
  int live[MAX_TAPS];
  for (int j0 = 0; j0 < g->n; j0 += block) {
    int j1 = MIN(g->n, j0 + block);
    for (int s = s0; s < s1; s++) {
      int position = s / per_position, n0 = (s % per_position) * MR, mr = MIN(MR, a->n - n0);
      int oy = position / a->ow, ox = position % a->ow, count = 0;
      for (int ky = 0; ky < a->kh; ky++) {
        int iy = oy * a->sh + ky * a->dh - a->ph;
        if (iy < 0 || iy >= a->h) continue;
        for (int kx = 0; kx < a->kw; kx++) {
          int ix = ox * a->sw + kx * a->dw - a->pw;
          if (ix < 0 || ix >= a->w) continue;
          for (int r = 0; r < MR; r++) rows[count * MR + r] = a->p + ((MIN(n0 + r, a->n - 1) * a->h + iy) * a->w + ix) * a->c;
          live[count++] = ky * a->kw + kx;
        }
      }
      float *c = g->c + (n0 * positions + position) * g->n;
      for (int j = j0; j < j1; j += NR) {
        micro_indirect(count, live, a->c, rows, g->packed + (j / NR) * depth * NR, c + j, ldc, mr, MIN(NR, g->n - j));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Filter gradient, one GEMM per tap over only the output pixels where that tap meets the input:
// dW[tap] [c_in, c_out] = x at the tap's sources^T . dy at those pixels. Taps that meet only padding
// cost nothing (on a 2x2 map a 3x3 tap reads the input at 1 to 4 of the 4 positions). Threads split
// the input channels; each packs the dy rows it needs.

// The output rows/columns [lo, hi) where input index o * s + k * d - p falls inside [0, size).
static void tap_range(int out, int s, int k, int d, int p, int size, int *lo, int *hi) {
  *lo = 0, *hi = out;
  while (*lo < out && *lo * s + k * d - p < 0) ++*lo;
  while (*hi > *lo && (*hi - 1) * s + k * d - p >= size) --*hi;
}

void conv_filter_grad(const FilterGrad *f, int t, int threads) {
  Gemm g;
  g.a = f->x, g.b = f->dy;
  int cin = f->x.c, cout = f->dy.c;
  g.ldc = cout, g.m = cin, g.n = cout, g.accumulate = 0, g.scratch = f->scratch;
  int m0, m1;
  share(cin, MR, t, threads, &m0, &m1);
  float *scratch = f->scratch + t * (PACK_A_FLOATS + PACK_B_FLOATS);
  for (int ky = 0; ky < f->x.kh; ky++) {
    for (int kx = 0; kx < f->x.kw; kx++) {
      g.c = f->dw + (ky * f->x.kw + kx) * cin * cout;
      int y0, y1, x0, x1;
      tap_range(f->x.oh, f->x.sh, ky, f->x.dh, f->x.ph, f->x.h, &y0, &y1);
      tap_range(f->x.ow, f->x.sw, kx, f->x.dw, f->x.pw, f->x.w, &x0, &x1);
      g.k = f->x.n * (y1 - y0) * (x1 - x0);
      if (g.k == 0) {
        for (int i = m0 * cout; i < m1 * cout; i++) g.c[i] = 0.0f;
        continue;
      }
      g.a.ky = ky, g.a.kx = kx;
      g.a.y0 = g.b.y0 = y0, g.a.y1 = g.b.y1 = y1, g.a.x0 = g.b.x0 = x0, g.a.x1 = g.b.x1 = x1;
      if (m0 < m1) gemm_rows(&g, m0, m1, scratch, scratch + PACK_A_FLOATS);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The filter gradient of a stride-1 convolution without per-tap packing. x and dy are each reordered once
// into channel groups with the batch innermost ([C/g][H][W][N][g]): then, for a tap and one output row of
// the pixels that tap reads, the columns of A (x at the tap's sources, 4 channels) and the rows of B (dy,
// 8 channels) are contiguous runs in exactly the micro-kernel's packed formats. dW[tap] accumulates over
// those rows; taps that read only padding are zero. Threads split the input channels.

// dst [c/group][h][w][n][group] = src [n][h][w][c] (c a multiple of group). Threads split the groups.

void interleave_channels(const Interleave *g, int t, int threads) {
  int g0, g1, G = g->group, pixels = g->h * g->w;
  share(g->c / G, 1, t, threads, &g0, &g1);
  for (int q = g0; q < g1; q++) {
    float *dst = g->dst + q * pixels * g->n * G;
    for (int p = 0; p < pixels; p++) {
      for (int n = 0; n < g->n; n++, dst += G) {
        const float *src = g->src + (n * pixels + p) * g->c + q * G;
        wasm_v128_store(dst, wasm_v128_load(src));
        if (G == 8) wasm_v128_store(dst + 4, wasm_v128_load(src + 4));
      }
    }
  }
}


void conv_filter_grad_s1(const FilterGradS1 *g, int t, int threads) {
  int s0, s1, N = g->n;
  share(g->cin / MR, 1, t, threads, &s0, &s1);
  for (int ky = 0; ky < g->kh; ky++) {
    for (int kx = 0; kx < g->kw; kx++) {
      float *dw = g->dw + (ky * g->kw + kx) * g->cin * g->cout;
      int y0, y1, x0, x1;
      tap_range(g->oh, 1, ky, g->dh, g->ph, g->h, &y0, &y1);
      tap_range(g->ow, 1, kx, g->dw_, g->pw, g->w, &x0, &x1);
      if (y0 >= y1 || x0 >= x1) {
        for (int i = s0 * MR * g->cout; i < s1 * MR * g->cout; i++) dw[i] = 0.0f;
        continue;
      }
      int run = (x1 - x0) * N;  // columns per output row of the tap's pixels
      for (int oy = y0; oy < y1; oy++) {
        int iy = oy + ky * g->dh - g->ph, ix = x0 + kx * g->dw_ - g->pw;
        for (int s = s0; s < s1; s++) {
          const float *a = g->x4 + ((s * g->h + iy) * g->w + ix) * N * MR;
          for (int q = 0; q < g->cout / NR; q++) {
            const float *b = g->dy8 + ((q * g->oh + oy) * g->ow + x0) * N * NR;
            micro_kernel(run, a, b, dw + s * MR * g->cout + q * NR, g->cout, oy > y0, MR, NR);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// col2im: dx [n, h, w, c] = the sum, over every output pixel and tap, of that row of cols
// [n*oh*ow, kh*kw*c] at the pixel the tap reads (the adjoint of WINDOWS). Threads split the batch.

void col2im(const Col2Im *g, int t, int threads) {
  int n0, n1;
  share(g->n, 1, t, threads, &n0, &n1);
  int taps = g->kh * g->kw, c = g->c, row = taps * c;
  float *dx = g->dx + n0 * g->h * g->w * c;
  for (int i = 0; i < (n1 - n0) * g->h * g->w * c; i++) dx[i] = 0.0f;
  for (int n = n0; n < n1; n++) {
    for (int oy = 0; oy < g->oh; oy++) {
      for (int ox = 0; ox < g->ow; ox++) {
        const float *src = g->cols + ((n * g->oh + oy) * g->ow + ox) * row;
        for (int ky = 0; ky < g->kh; ky++) {
          int iy = oy * g->sh + ky * g->dh - g->ph;
          if (iy < 0 || iy >= g->h) continue;
          for (int kx = 0; kx < g->kw; kx++) {
            int ix = ox * g->sw + kx * g->dw - g->pw;
            if (ix < 0 || ix >= g->w) continue;
            float *d = g->dx + ((n * g->h + iy) * g->w + ix) * c;
            const float *s = src + (ky * g->kw + kx) * c;
            int q = 0;
            for (; q + 4 <= c; q += 4) wasm_v128_store(d + q, wasm_f32x4_add(wasm_v128_load(d + q), wasm_v128_load(s + q)));
            for (; q < c; q++) d[q] += s[q];
          }
        }
      }
    }
  }
}

