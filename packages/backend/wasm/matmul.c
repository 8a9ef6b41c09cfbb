// The matmul family's GEMM: C (+)= A . B with each operand read through an Operand (kernels.h), so that it packs
// straight from the layout training has; cache-blocked, a 4 x 8 register tile. The conv family builds on it.
#include "common.h"

EXPORT("pack_a_floats") int pack_a_floats(void) { return PACK_A_FLOATS; }
EXPORT("pack_b_floats") int pack_b_floats(void) { return PACK_B_FLOATS; }


// Offset in the source tensor of WINDOWS pixel `pixel`, tap `tap`, or -1 where it reads padding.
static inline int window_source(const Operand *o, int pixel, int tap) {
  int ox = pixel % o->ow, rest = pixel / o->ow;
  int oy = rest % o->oh, n = rest / o->oh;
  int kx = tap % o->kw, ky = tap / o->kw;
  int iy = oy * o->sh + ky * o->dh - o->ph;
  int ix = ox * o->sw + kx * o->dw - o->pw;
  if (iy < 0 || iy >= o->h || ix < 0 || ix >= o->w) return -1;
  return ((n * o->h + iy) * o->w + ix) * o->c;
}

// A WINDOWS pixel located once: its batch offset and the top-left source corner of its window.
typedef struct {
  int n, oy, ox;
} Pixel;

static inline Pixel pixel_at(const Operand *o, int pixel) {
  Pixel p = {pixel / (o->oh * o->ow), (pixel / o->ow) % o->oh, pixel % o->ow};
  return p;
}

static inline void next_pixel(const Operand *o, Pixel *p) {
  if (++p->ox == o->ow) {
    p->ox = 0;
    if (++p->oy == o->oh) p->oy = 0, p->n++;
  }
}

static inline void next_tap(const Operand *o, int *ky, int *kx) {
  if (++*kx == o->kw) *kx = 0, ++*ky;
}

// Offset in the source of pixel p's tap (ky, kx), or -1 where it reads padding.
static inline int tap_source(const Operand *o, const Pixel *p, int ky, int kx) {
  int iy = p->oy * o->sh + ky * o->dh - o->ph;
  int ix = p->ox * o->sw + kx * o->dw - o->pw;
  if (iy < 0 || iy >= o->h || ix < 0 || ix >= o->w) return -1;
  return ((p->n * o->h + iy) * o->w + ix) * o->c;
}

// The k-th pixel (n, oy, ox) of a TAP_T / RECT_ROWS rectangle, in that order.
static inline void rect_at(const Operand *o, int k, int *n, int *oy, int *ox) {
  int wc = o->x1 - o->x0, hc = o->y1 - o->y0;
  *ox = o->x0 + k % wc, *oy = o->y0 + (k / wc) % hc, *n = k / (wc * hc);
}

static inline void rect_next(const Operand *o, int *n, int *oy, int *ox) {
  if (++*ox == o->x1) {
    *ox = o->x0;
    if (++*oy == o->y1) *oy = o->y0, ++*n;
  }
}

// TAP_T: the input row the tap reads at pixel (n, oy, ox) (inside the input by the rectangle's choice).
static inline const float *tap_row(const Operand *o, int n, int oy, int ox) {
  int iy = oy * o->sh + o->ky * o->dh - o->ph, ix = ox * o->sw + o->kx * o->dw - o->pw;
  return o->p + ((n * o->h + iy) * o->w + ix) * o->c;
}

static inline const float *rect_pixel(const Operand *o, int k) {
  int n, oy, ox;
  rect_at(o, k, &n, &oy, &ox);
  return tap_row(o, n, oy, ox);
}

// RECT_ROWS: the k-th row.
static inline const float *rect_row(const Operand *o, int k) {
  int n, oy, ox;
  rect_at(o, k, &n, &oy, &ox);
  return o->p + ((n * o->oh + oy) * o->ow + ox) * o->c;
}

static inline float element(const Operand *o, int i, int j) {
  switch (o->kind) {
    case STRIDED:
      return o->p[i * o->rs + j * o->cs];
    case WINDOWS: {
      int s = window_source(o, i, j / o->c);
      return s < 0 ? 0.0f : o->p[s + j % o->c];
    }
    case WINDOWS_T: {
      int s = window_source(o, j, i / o->c);
      return s < 0 ? 0.0f : o->p[s + i % o->c];
    }
    case TAP_T: {
      const float *src = rect_pixel(o, j);
      return src ? src[i] : 0.0f;
    }
    case RECT_ROWS:
      return rect_row(o, i)[j];
    default: {  // ROTATED: i = (ky, kx, out), j = in
      int taps = o->kh * o->kw, out = i % o->n, tap = taps - 1 - i / o->n;
      return o->p[(tap * o->c + j) * o->n + out];
    }
  }
}

static inline void transpose4(v128_t *v0, v128_t *v1, v128_t *v2, v128_t *v3) {
  v128_t t0 = wasm_i32x4_shuffle(*v0, *v1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(*v2, *v3, 0, 4, 1, 5);
  v128_t t2 = wasm_i32x4_shuffle(*v0, *v1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(*v2, *v3, 2, 6, 3, 7);
  *v0 = wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5);
  *v1 = wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7);
  *v2 = wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5);
  *v3 = wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7);
}

// Packs rows [i0, i0+mr) x columns [j0, j0+kc) of A into an MR-interleaved strip: dst[j * MR + r].
// Rows past mr are zero.
__attribute__((noinline)) static void pack_a_strip(const Operand *a, int i0, int mr, int j0, int kc, float *dst) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  if (mr == MR && a->kind == STRIDED && a->rs == 1) {  // a column of 4 rows is contiguous
    for (int j = 0; j < kc; j++) wasm_v128_store(dst + j * MR, wasm_v128_load(a->p + i0 + (j0 + j) * a->cs));
    return;
  }
  if (mr == MR && a->kind == STRIDED && a->cs == 1) {  // rows are contiguous: 4x4 transposes
    const float *r0 = a->p + i0 * a->rs + j0, *r1 = r0 + a->rs, *r2 = r1 + a->rs, *r3 = r2 + a->rs;
    int j = 0;
    for (; j + 4 <= kc; j += 4) {
      v128_t v0 = wasm_v128_load(r0 + j), v1 = wasm_v128_load(r1 + j);
      v128_t v2 = wasm_v128_load(r2 + j), v3 = wasm_v128_load(r3 + j);
      transpose4(&v0, &v1, &v2, &v3);
      wasm_v128_store(dst + j * MR, v0);
      wasm_v128_store(dst + j * MR + 4, v1);
      wasm_v128_store(dst + j * MR + 8, v2);
      wasm_v128_store(dst + j * MR + 12, v3);
    }
    for (; j < kc; j++) {
      dst[j * MR] = r0[j], dst[j * MR + 1] = r1[j], dst[j * MR + 2] = r2[j], dst[j * MR + 3] = r3[j];
    }
    return;
  }
  if (a->kind == TAP_T) {
    // rows are channels of one tap; columns walk the rectangle's pixels, one source row each
    int n, oy, ox;
    rect_at(a, j0, &n, &oy, &ox);
    int vector = mr == MR && (i0 & 3) == 0 && a->c % 4 == 0;
    for (int j = 0; j < kc; j++, rect_next(a, &n, &oy, &ox)) {
      const float *src = tap_row(a, n, oy, ox) + i0;
      if (vector) {
        wasm_v128_store(dst + j * MR, wasm_v128_load(src));
        continue;
      }
      for (int r = 0; r < MR; r++) dst[j * MR + r] = r < mr ? src[r] : 0.0f;
    }
    return;
  }
  if (a->kind == WINDOWS) {
    // Each of the strip's pixels is located once; columns then walk (ky, kx, c) without divisions.
    Pixel px[MR];
    for (int r = 0; r < MR; r++) px[r] = pixel_at(a, MIN(i0 + r, i0 + mr - 1));
    int c = a->c, tap = j0 / c, ch = j0 % c, ky = tap / a->kw, kx = tap % a->kw;
    if (mr == MR && c % 4 == 0) {
      // Per tap, the four rows' sources are found once, then read four channels at a time (j0 and kc
      // are multiples of 4, so a group never straddles two taps). Padding reads a zero vector.
      for (int j = 0; j < kc; ch = 0, next_tap(a, &ky, &kx)) {
        int s[MR];
        for (int r = 0; r < MR; r++) s[r] = tap_source(a, &px[r], ky, kx);
        for (; ch < c && j < kc; ch += 4, j += 4) {
          v128_t v0 = s[0] < 0 ? zero : wasm_v128_load(a->p + s[0] + ch);
          v128_t v1 = s[1] < 0 ? zero : wasm_v128_load(a->p + s[1] + ch);
          v128_t v2 = s[2] < 0 ? zero : wasm_v128_load(a->p + s[2] + ch);
          v128_t v3 = s[3] < 0 ? zero : wasm_v128_load(a->p + s[3] + ch);
          transpose4(&v0, &v1, &v2, &v3);
          wasm_v128_store(dst + j * MR, v0);
          wasm_v128_store(dst + j * MR + 4, v1);
          wasm_v128_store(dst + j * MR + 8, v2);
          wasm_v128_store(dst + j * MR + 12, v3);
        }
      }
      return;
    }
    for (int j = 0; j < kc; j++) {
      for (int r = 0; r < MR; r++) {
        int s = r < mr ? tap_source(a, &px[r], ky, kx) : -1;
        dst[j * MR + r] = s < 0 ? 0.0f : a->p[s + ch];
      }
      if (++ch == c) ch = 0, next_tap(a, &ky, &kx);
    }
    return;
  }
  if (a->kind == WINDOWS_T) {
    // Rows are (tap, channel); columns walk the pixels without divisions.
    int c = a->c, ky[MR], kx[MR], ch[MR];
    for (int r = 0; r < MR; r++) {
      int row = MIN(i0 + r, i0 + mr - 1), tap = row / c;
      ky[r] = tap / a->kw, kx[r] = tap % a->kw, ch[r] = row % c;
    }
    Pixel px = pixel_at(a, j0);
    int vector = mr == MR && c % 4 == 0;  // four channels of one tap: one load per pixel
    for (int j = 0; j < kc; j++, next_pixel(a, &px)) {
      if (vector) {
        int s = tap_source(a, &px, ky[0], kx[0]);
        wasm_v128_store(dst + j * MR, s < 0 ? zero : wasm_v128_load(a->p + s + ch[0]));
        continue;
      }
      for (int r = 0; r < MR; r++) {
        int s = r < mr ? tap_source(a, &px, ky[r], kx[r]) : -1;
        dst[j * MR + r] = s < 0 ? 0.0f : a->p[s + ch[r]];
      }
    }
    return;
  }
  for (int j = 0; j < kc; j++) {
    for (int r = 0; r < MR; r++) dst[j * MR + r] = r < mr ? element(a, i0 + r, j0 + j) : 0.0f;
  }
}

// Packs rows [i0, i0+kc) x columns [j0, j0+nr) of B into an NR-interleaved panel: dst[i * NR + q].
__attribute__((noinline)) void pack_b_panel(const Operand *b, int i0, int kc, int j0, int nr, float *dst) {
  if (nr == NR && b->kind == STRIDED && b->cs == 1) {
    for (int i = 0; i < kc; i++) {
      const float *src = b->p + (i0 + i) * b->rs + j0;
      wasm_v128_store(dst + i * NR, wasm_v128_load(src));
      wasm_v128_store(dst + i * NR + 4, wasm_v128_load(src + 4));
    }
    return;
  }
  if (nr == NR && b->kind == STRIDED && b->rs == 1 && kc % 4 == 0) {  // columns contiguous: transposes
    for (int i = 0; i < kc; i += 4) {
      for (int half = 0; half < 2; half++) {
        const float *c0 = b->p + (j0 + half * 4) * b->cs + i0 + i;
        v128_t v0 = wasm_v128_load(c0), v1 = wasm_v128_load(c0 + b->cs);
        v128_t v2 = wasm_v128_load(c0 + 2 * b->cs), v3 = wasm_v128_load(c0 + 3 * b->cs);
        transpose4(&v0, &v1, &v2, &v3);
        float *d = dst + i * NR + half * 4;
        wasm_v128_store(d, v0);
        wasm_v128_store(d + NR, v1);
        wasm_v128_store(d + 2 * NR, v2);
        wasm_v128_store(d + 3 * NR, v3);
      }
    }
    return;
  }
  if (b->kind == RECT_ROWS) {
    int n, oy, ox;
    rect_at(b, i0, &n, &oy, &ox);
    for (int i = 0; i < kc; i++, rect_next(b, &n, &oy, &ox)) {
      const float *src = b->p + ((n * b->oh + oy) * b->ow + ox) * b->c + j0;
      if (nr == NR) {
        wasm_v128_store(dst + i * NR, wasm_v128_load(src));
        wasm_v128_store(dst + i * NR + 4, wasm_v128_load(src + 4));
      } else {
        for (int q = 0; q < NR; q++) dst[i * NR + q] = q < nr ? src[q] : 0.0f;
      }
    }
    return;
  }
  if (b->kind == ROTATED) {
    // row (tap, out) of the rotated filter, column `in`: filter[taps-1-tap][in][out]
    int outs = b->n, taps = b->kh * b->kw, tap = i0 / outs, out = i0 % outs;
    for (int i = 0; i < kc; i++) {
      const float *src = b->p + ((taps - 1 - tap) * b->c + j0) * outs + out;
      for (int q = 0; q < NR; q++) dst[i * NR + q] = q < nr ? src[q * outs] : 0.0f;
      if (++out == outs) out = 0, tap++;
    }
    return;
  }
  for (int i = 0; i < kc; i++) {
    for (int q = 0; q < NR; q++) dst[i * NR + q] = q < nr ? element(b, i0 + i, j0 + q) : 0.0f;
  }
}


// C[0:mr, 0:nr] (+)= the product of one packed A strip and one packed B panel over kc.
__attribute__((noinline)) void micro_kernel(int kc, const float *pa, const float *pb, float *c, int ldc, int add, int mr, int nr) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int k = 0; k < kc; k++, pa += MR, pb += NR) {
    v128_t b0 = wasm_v128_load(pb), b1 = wasm_v128_load(pb + 4);
    v128_t a = wasm_v128_load32_splat(pa);
    FMA(c00, a, b0), FMA(c01, a, b1);
    a = wasm_v128_load32_splat(pa + 1);
    FMA(c10, a, b0), FMA(c11, a, b1);
    a = wasm_v128_load32_splat(pa + 2);
    FMA(c20, a, b0), FMA(c21, a, b1);
    a = wasm_v128_load32_splat(pa + 3);
    FMA(c30, a, b0), FMA(c31, a, b1);
  }
  store_tile(c00, c01, c10, c11, c20, c21, c30, c31, c, ldc, add, mr, nr);
}

// Rows [m0, m1) of C, every column: the share of one thread (m0, m1 multiples of MR but the last).
void gemm_rows(const Gemm *g, int m0, int m1, float *packA, float *packB) {
  for (int jc = 0; jc < g->n; jc += NC) {
    int nc = MIN(NC, g->n - jc);
    for (int pc = 0; pc < g->k; pc += KC) {
      int kc = MIN(KC, g->k - pc);
      for (int jr = 0; jr < nc; jr += NR) pack_b_panel(&g->b, pc, kc, jc + jr, MIN(NR, nc - jr), packB + jr * kc);
      int add = g->accumulate || pc > 0;
      for (int ic = m0; ic < m1; ic += MC) {
        int mc = MIN(MC, m1 - ic);
        for (int ir = 0; ir < mc; ir += MR) pack_a_strip(&g->a, ic + ir, MIN(MR, mc - ir), pc, kc, packA + ir * kc);
        for (int jr = 0; jr < nc; jr += NR) {
          for (int ir = 0; ir < mc; ir += MR) {
            micro_kernel(kc, packA + ir * kc, packB + jr * kc, g->c + (ic + ir) * g->ldc + jc + jr, g->ldc, add,
                         MIN(MR, mc - ir), MIN(NR, nc - jr));
          }
        }
      }
    }
  }
}

// Splits `count` items into `parts` shares on `align` boundaries; share `t` is [*start, *end).

void gemm(const Gemm *g, int t, int threads) {
  int m0, m1;
  share(g->m, MR, t, threads, &m0, &m1);
  float *scratch = g->scratch + t * (PACK_A_FLOATS + PACK_B_FLOATS);
  if (m0 < m1) gemm_rows(g, m0, m1, scratch, scratch + PACK_A_FLOATS);
}

