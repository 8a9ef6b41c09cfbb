// convnets' WebAssembly SIMD128 kernels for training on tfjs-wasm. Built by scripts/build-wasm.mjs with
// Debian's clang/lld into a module that imports tfjs-wasm's own memory, so tensors are used in place.
//
// Rules that keep it safe to run inside another module's heap:
// - no static data and no libc: every buffer (operands, packing scratch, arguments) is a pointer that
//   tfjs's malloc handed out; the build refuses a module with a data section;
// - the shadow stack (__stack_pointer, exported) is set by the loader to a block it allocated;
// - every kernel takes (args, thread, threads): its arguments as a struct in memory, and which share of
//   the work this call does. Shares write disjoint outputs, so threads never synchronise inside a kernel.
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

// Register tile MR x NR (4 x 8: eight accumulators, the most V8 keeps in registers), and the cache
// blocks: a KC x NR panel of B stays in L1, an MC x KC block of A in L2, a KC x NC block of B in L2.
enum { MR = 4, NR = 8, KC = 256, MC = 128, NC = 512 };
// Floats of packing scratch each thread needs (the loader allocates this much per thread).
enum { PACK_A_FLOATS = MC * KC, PACK_B_FLOATS = KC * NC };

EXPORT("pack_a_floats") int pack_a_floats(void) { return PACK_A_FLOATS; }
EXPORT("pack_b_floats") int pack_b_floats(void) { return PACK_B_FLOATS; }

// ---------------------------------------------------------------------------------------------------
// Operands. A matrix operand is read element by element through one of these descriptions, so that a
// GEMM packs straight from the layout training has: a plain or transposed matrix, the windows of a
// convolution (im2col rows or their transpose) or a convolution filter rotated by 180 degrees.

enum {
  STRIDED = 0,      // element (i, j) at p[i * rs + j * cs]
  WINDOWS = 1,      // row i = output pixel (n, oy, ox), column j = (ky, kx, c): the im2col matrix
  WINDOWS_T = 2,    // the transpose of WINDOWS: row i = (ky, kx, c), column j = output pixel
  ROTATED = 3,      // filter [kh, kw, in, out] as B of an input gradient: row (ky, kx, out), column in,
                    // taken from tap (kh-1-ky, kw-1-kx)
  TAP_T = 4,        // one tap (ky, kx) of WINDOWS_T over the output pixels where it meets the input (the
                    // rectangle [y0, y1) x [x0, x1) of every image): row c, column (n, oy, ox)
  RECT_ROWS = 5,    // the rows of a [n, oh, ow, c] tensor at the pixels of that rectangle: row (n, oy, ox), column c
};

typedef struct {
  int32_t kind;
  const float *p;
  int32_t rs, cs;  // STRIDED
  // WINDOWS / WINDOWS_T: source tensor [n, h, w, c]; outputs [n, oh, ow]; source pixel of output
  // (oy, ox) and tap (ky, kx) is (oy * sh + ky * dh - ph, ox * sw + kx * dw - pw), zero outside.
  // ROTATED: kh, kw and c (= in channels), n (= out channels) describe the filter.
  int32_t n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
  int32_t ky, kx, y0, y1, x0, x1;  // TAP_T and RECT_ROWS (ky, kx: TAP_T only)
} Operand;

// C[M, N] (+)= A[M, K] B[K, N]; C row-major with leading dimension ldc.
typedef struct {
  Operand a, b;
  float *c;
  int32_t ldc, m, n, k;
  int32_t accumulate;  // 1: add to C; 0: overwrite
  float *scratch;      // per thread: PACK_A_FLOATS + PACK_B_FLOATS floats, thread t at t * that
} Gemm;

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
__attribute__((noinline)) static void pack_b_panel(const Operand *b, int i0, int kc, int j0, int nr, float *dst) {
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

// Writes (or, with add, adds) a 4x8 tile of accumulators to C; an edge tile writes only its valid part.
static inline void store_tile(v128_t c00, v128_t c01, v128_t c10, v128_t c11, v128_t c20, v128_t c21, v128_t c30,
                              v128_t c31, float *c, int ldc, int add, int mr, int nr) {
  if (mr == MR && nr == NR) {
    float *r0 = c, *r1 = c + ldc, *r2 = r1 + ldc, *r3 = r2 + ldc;
    if (add) {
      c00 = wasm_f32x4_add(c00, wasm_v128_load(r0)), c01 = wasm_f32x4_add(c01, wasm_v128_load(r0 + 4));
      c10 = wasm_f32x4_add(c10, wasm_v128_load(r1)), c11 = wasm_f32x4_add(c11, wasm_v128_load(r1 + 4));
      c20 = wasm_f32x4_add(c20, wasm_v128_load(r2)), c21 = wasm_f32x4_add(c21, wasm_v128_load(r2 + 4));
      c30 = wasm_f32x4_add(c30, wasm_v128_load(r3)), c31 = wasm_f32x4_add(c31, wasm_v128_load(r3 + 4));
    }
    wasm_v128_store(r0, c00), wasm_v128_store(r0 + 4, c01);
    wasm_v128_store(r1, c10), wasm_v128_store(r1 + 4, c11);
    wasm_v128_store(r2, c20), wasm_v128_store(r2 + 4, c21);
    wasm_v128_store(r3, c30), wasm_v128_store(r3 + 4, c31);
    return;
  }
  float tile[MR * NR];  // an edge tile: only its valid part reaches C
  wasm_v128_store(tile, c00), wasm_v128_store(tile + 4, c01);
  wasm_v128_store(tile + 8, c10), wasm_v128_store(tile + 12, c11);
  wasm_v128_store(tile + 16, c20), wasm_v128_store(tile + 20, c21);
  wasm_v128_store(tile + 24, c30), wasm_v128_store(tile + 28, c31);
  for (int r = 0; r < mr; r++) {
    for (int q = 0; q < nr; q++) c[r * ldc + q] = (add ? c[r * ldc + q] : 0.0f) + tile[r * NR + q];
  }
}

#define FMA(acc, a, b) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))

// C[0:mr, 0:nr] (+)= the product of one packed A strip and one packed B panel over kc.
__attribute__((noinline)) static void micro_kernel(int kc, const float *pa, const float *pb, float *c, int ldc, int add, int mr, int nr) {
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
static void gemm_rows(const Gemm *g, int m0, int m1, float *packA, float *packB) {
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
static void share(int count, int align, int t, int parts, int *start, int *end) {
  int units = (count + align - 1) / align;
  int per = units / parts, extra = units % parts;
  int first = t * per + MIN(t, extra);
  *start = MIN(count, first * align);
  *end = MIN(count, (first + per + (t < extra)) * align);
}

EXPORT("gemm") void gemm(const Gemm *g, int t, int threads) {
  int m0, m1;
  share(g->m, MR, t, threads, &m0, &m1);
  float *scratch = g->scratch + t * (PACK_A_FLOATS + PACK_B_FLOATS);
  if (m0 < m1) gemm_rows(g, m0, m1, scratch, scratch + PACK_A_FLOATS);
}

// ---------------------------------------------------------------------------------------------------
// Convolution as an indirect GEMM: no im2col and no packing of the input. A strip is four images at one
// output position, so its four rows share which taps read padding: those taps are skipped outright
// (on small maps most are: a 3x3 window on a 2x2 map meets padding in 5 of 9 taps). The live taps'
// rows are found once per strip; the micro-kernel streams channels straight from the tensor against
// B packed by pack_b.

enum { MAX_TAPS = 256 };

// B [k, n] (any operand kind) into NR-wide panels over all of k: panel q at dst + q * k * NR.
typedef struct {
  Operand b;
  float *dst;
  int32_t k, n;
} PackB;

EXPORT("pack_b") void pack_b(const PackB *g, int t, int threads) {
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
typedef struct {
  Operand a;
  const float *packed;
  float *c;
  int32_t n;
} ConvIndirect;

EXPORT("conv_indirect") void conv_indirect(const ConvIndirect *g, int t, int threads) {
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
typedef struct {
  Operand x;   // TAP_T geometry of the convolution's input (ky, kx and the rectangle set per tap)
  Operand dy;  // RECT_ROWS over dy [n, oh, ow, c_out]
  float *dw;   // [kh, kw, c_in, c_out]
  float *scratch;
} FilterGrad;

// The output rows/columns [lo, hi) where input index o * s + k * d - p falls inside [0, size).
static void tap_range(int out, int s, int k, int d, int p, int size, int *lo, int *hi) {
  *lo = 0, *hi = out;
  while (*lo < out && *lo * s + k * d - p < 0) ++*lo;
  while (*hi > *lo && (*hi - 1) * s + k * d - p >= size) --*hi;
}

EXPORT("conv_filter_grad") void conv_filter_grad(const FilterGrad *f, int t, int threads) {
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
typedef struct {
  const float *src;
  float *dst;
  int32_t n, h, w, c, group;
} Interleave;

EXPORT("interleave_channels") void interleave_channels(const Interleave *g, int t, int threads) {
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

typedef struct {
  const float *x4;   // x interleaved by 4 channels: [c_in/4][h][w][n][4]
  const float *dy8;  // dy interleaved by 8 channels: [c_out/8][oh][ow][n][8]
  float *dw;         // [kh, kw, c_in, c_out]
  int32_t n, h, w, cin, oh, ow, cout, kh, kw, dh, dw_, ph, pw;
} FilterGradS1;

EXPORT("conv_filter_grad_s1") void conv_filter_grad_s1(const FilterGradS1 *g, int t, int threads) {
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
typedef struct {
  const float *cols;
  float *dx;
  int32_t n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
} Col2Im;

EXPORT("col2im") void col2im(const Col2Im *g, int t, int threads) {
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

// ---------------------------------------------------------------------------------------------------
// Per-channel sums: out[c] = scale * sum over rows of x[row, c] (x viewed as [rows, channels]).
// Threads split the channels in blocks of four, so each sum is one thread's, in one order.
typedef struct {
  const float *x;
  float *out;
  int32_t rows, channels;
  float scale;
} ChannelSum;

EXPORT("channel_sum") void channel_sum(const ChannelSum *g, int t, int threads) {
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
// Max-pool gradient: each window's dy goes to its first maximum in row-major window order (tfjs cpu's
// and PyTorch's rule); windows wholly in padding pass nothing. Threads split the batch.
typedef struct {
  const float *x, *dy;
  float *dx;
  int32_t n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw;
} MaxPoolGrad;

EXPORT("max_pool_grad") void max_pool_grad(const MaxPoolGrad *g, int t, int threads) {
  int n0, n1;
  share(g->n, 1, t, threads, &n0, &n1);
  int C = g->c;
  float *dx = g->dx + n0 * g->h * g->w * C;
  for (int i = 0; i < (n1 - n0) * g->h * g->w * C; i++) dx[i] = 0.0f;
  for (int n = n0; n < n1; n++) {
    const float *x = g->x + n * g->h * g->w * C;
    float *dxn = g->dx + n * g->h * g->w * C;
    for (int oy = 0; oy < g->oh; oy++) {
      int y0 = oy * g->sh - g->ph, ys = MAX(0, y0), ye = MIN(g->h, y0 + g->kh);
      for (int ox = 0; ox < g->ow; ox++) {
        int x0 = ox * g->sw - g->pw, xs = MAX(0, x0), xe = MIN(g->w, x0 + g->kw);
        if (ys >= ye || xs >= xe) continue;
        const float *dy = g->dy + ((n * g->oh + oy) * g->ow + ox) * C;
        int ch = 0;
        // Four channels at a time: the running maximum and where it is, updated by compare-and-select
        // (strictly greater, so the first maximum stays).
        for (; ch + 4 <= C; ch += 4) {
          int first = (ys * g->w + xs) * C + ch;
          v128_t top = wasm_v128_load(x + first);
          v128_t best = wasm_i32x4_add(wasm_i32x4_splat(first), wasm_i32x4_make(0, 1, 2, 3));
          for (int iy = ys; iy < ye; iy++) {
            for (int ix = iy == ys ? xs + 1 : xs; ix < xe; ix++) {
              int at = (iy * g->w + ix) * C + ch;
              v128_t v = wasm_v128_load(x + at);
              v128_t greater = wasm_f32x4_gt(v, top);
              top = wasm_v128_bitselect(v, top, greater);
              best = wasm_v128_bitselect(wasm_i32x4_add(wasm_i32x4_splat(at), wasm_i32x4_make(0, 1, 2, 3)), best, greater);
            }
          }
          dxn[wasm_i32x4_extract_lane(best, 0)] += dy[ch];
          dxn[wasm_i32x4_extract_lane(best, 1)] += dy[ch + 1];
          dxn[wasm_i32x4_extract_lane(best, 2)] += dy[ch + 2];
          dxn[wasm_i32x4_extract_lane(best, 3)] += dy[ch + 3];
        }
        for (; ch < C; ch++) {
          int best = (ys * g->w + xs) * C + ch;
          float top = x[best];
          for (int iy = ys; iy < ye; iy++) {
            for (int ix = xs; ix < xe; ix++) {
              int at = (iy * g->w + ix) * C + ch;
              if (x[at] > top) top = x[at], best = at;
            }
          }
          dxn[best] += dy[ch];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Average-pool gradient: each pixel gets the sum of dy over the windows that hold it, times 1 / (kh * kw)
// (tfjs's rule: padding counts in the window). Threads split the batch.
typedef struct {
  const float *dy;
  float *dx;
  int32_t n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw;
} AvgPoolGrad;

EXPORT("avg_pool_grad") void avg_pool_grad(const AvgPoolGrad *g, int t, int threads) {
  int n0, n1;
  share(g->n, 1, t, threads, &n0, &n1);
  int C = g->c, plane = g->h * g->w * C;
  float scale = (float)(1.0 / (double)(g->kh * g->kw));
  for (int n = n0; n < n1; n++) {
    float *dxn = g->dx + n * plane;
    for (int i = 0; i < plane; i++) dxn[i] = 0.0f;
    for (int oy = 0; oy < g->oh; oy++) {
      int y0 = oy * g->sh - g->ph, ys = MAX(0, y0), ye = MIN(g->h, y0 + g->kh);
      for (int ox = 0; ox < g->ow; ox++) {
        int x0 = ox * g->sw - g->pw, xs = MAX(0, x0), xe = MIN(g->w, x0 + g->kw);
        const float *dy = g->dy + ((n * g->oh + oy) * g->ow + ox) * C;
        for (int iy = ys; iy < ye; iy++) {
          for (int ix = xs; ix < xe; ix++) {
            float *d = dxn + (iy * g->w + ix) * C;
            int ch = 0;
            for (; ch + 4 <= C; ch += 4) wasm_v128_store(d + ch, wasm_f32x4_add(wasm_v128_load(d + ch), wasm_v128_load(dy + ch)));
            for (; ch < C; ch++) d[ch] += dy[ch];
          }
        }
      }
    }
    for (int i = 0; i < plane; i++) dxn[i] *= scale;
  }
}

// ---------------------------------------------------------------------------------------------------
// Elementwise: out[i] = a[i] op b[i % b_size] (b repeats along a's leading axes: a per-channel vector, or
// b_size == size), `swapped` computes b op a; relu and step ignore b. Each result is the float operation
// tfjs cpu does, so results are bit-identical. Threads split whole rows of b_size (or runs of RUN).
enum { ADD = 0, SUB = 1, MUL = 2, RELU = 3, STEP = 4, RUN = 4096 };

typedef struct {
  const float *a, *b;
  float *out;
  int32_t op, size, b_size, swapped;
} Elementwise;

static inline v128_t op4(int op, int swapped, v128_t x, v128_t y) {
  v128_t zero = wasm_f32x4_splat(0.0f);
  switch (op) {
    case ADD: return wasm_f32x4_add(x, y);
    case SUB: return swapped ? wasm_f32x4_sub(y, x) : wasm_f32x4_sub(x, y);
    case MUL: return wasm_f32x4_mul(x, y);
    case RELU:  // max(0, x) as Math.max: NaN stays NaN, -0 becomes 0
      return wasm_v128_bitselect(x, zero, wasm_v128_or(wasm_f32x4_gt(x, zero), wasm_f32x4_ne(x, x)));
    default:  // STEP: 1 where x > 0, NaN stays NaN, else 0
      return wasm_v128_bitselect(x, wasm_v128_and(wasm_f32x4_gt(x, zero), wasm_f32x4_splat(1.0f)), wasm_f32x4_ne(x, x));
  }
}

static inline float op1(int op, int swapped, float x, float y) {
  switch (op) {
    case ADD: return x + y;
    case SUB: return swapped ? y - x : x - y;
    case MUL: return x * y;
    case RELU: return x > 0.0f || x != x ? x : 0.0f;
    default: return x != x ? x : x > 0.0f ? 1.0f : 0.0f;
  }
}

static void elementwise_run(int op, int swapped, const float *x, const float *y, float *out, int count) {
  int i = 0;
  for (; i + 4 <= count; i += 4)
    wasm_v128_store(out + i, op4(op, swapped, wasm_v128_load(x + i), wasm_v128_load(y + i)));
  for (; i < count; i++) out[i] = op1(op, swapped, x[i], y[i]);
}

EXPORT("elementwise") void elementwise(const Elementwise *g, int t, int threads) {
  int unary = g->op == RELU || g->op == STEP;
  const float *b = unary ? g->a : g->b;
  if (unary || g->b_size == g->size) {
    int i0, i1;
    share(g->size, RUN, t, threads, &i0, &i1);
    elementwise_run(g->op, g->swapped, g->a + i0, b + i0, g->out + i0, i1 - i0);
    return;
  }
  int r0, r1;
  share(g->size / g->b_size, 1, t, threads, &r0, &r1);
  for (int r = r0; r < r1; r++)
    elementwise_run(g->op, g->swapped, g->a + r * g->b_size, b, g->out + r * g->b_size, g->b_size);
}

// ---------------------------------------------------------------------------------------------------
// Block copy: `blocks` runs of `count` floats, the r-th from src + r * src_stride to dst + r * dst_stride
// (concatenation writes each part into its columns of the output; a split reads them back). Threads split
// the runs.
typedef struct {
  const float *src;
  float *dst;
  int32_t blocks, count, src_stride, dst_stride;
} CopyBlocks;

EXPORT("copy_blocks") void copy_blocks(const CopyBlocks *g, int t, int threads) {
  int r0, r1;
  share(g->blocks, 1, t, threads, &r0, &r1);
  for (int r = r0; r < r1; r++)
    __builtin_memcpy(g->dst + r * g->dst_stride, g->src + r * g->src_stride, (unsigned)g->count * sizeof(float));
}

// ---------------------------------------------------------------------------------------------------
// Train-mode batch norm over x viewed as [rows, channels] (NHWC with N, H, W merged), fused: the batch
// statistics in two passes (mean, then the mean squared deviation, as PyTorch), the normalisation in a
// third. The backward pass needs two: the per-channel sums of dy and dy * xhat, then dx. Threads split
// the channels in blocks of 16, so every sum is one thread's, in one order.
typedef struct {
  const float *x, *gamma, *beta;
  float *y, *mean, *var;
  int32_t rows, channels;
  float eps;
} BatchNormForward;

EXPORT("batch_norm_train") void batch_norm_train(const BatchNormForward *g, int t, int threads) {
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

typedef struct {
  const float *dy, *x, *gamma, *mean, *var;
  float *dx, *dgamma, *dbeta;
  int32_t rows, channels;
  float eps;
} BatchNormBackward;

// dbeta = sum(dy), dgamma = sum(dy * xhat), dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma).
EXPORT("batch_norm_train_grad") void batch_norm_train_grad(const BatchNormBackward *g, int t, int threads) {
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

// ---------------------------------------------------------------------------------------------------
// One SGD step with momentum for one parameter, in one pass, with the trainer's float operations in its
// order (so the result is the bits its tfjs ops give): g = grad + p * wd; buf' = buf * m + g;
// update = nesterov ? g + buf' * m : buf'; p' = p - update * lr. Threads split the elements.
typedef struct {
  const float *param, *grad, *buf;
  float *param_out, *buf_out;
  int32_t size, nesterov;
  float lr, momentum, weight_decay;
} SgdUpdate;

EXPORT("sgd_update") void sgd_update(const SgdUpdate *g, int t, int threads) {
  int i0, i1;
  share(g->size, 64, t, threads, &i0, &i1);
  const float *restrict p = g->param, *restrict grad = g->grad, *restrict buf = g->buf;
  float *restrict p_out = g->param_out, *restrict buf_out = g->buf_out;
  float lr = g->lr, m = g->momentum, wd = g->weight_decay;
  for (int i = i0; i < i1; i++) {
    float d = wd != 0.0f ? grad[i] + p[i] * wd : grad[i];
    float b = buf[i] * m + d;
    float update = g->nesterov ? d + b * m : b;
    buf_out[i] = b;
    p_out[i] = p[i] - update * lr;
  }
}

// ---------------------------------------------------------------------------------------------------
// One Adam step for one parameter, in one pass, with the trainer's float operations in its order (the
// bits its tfjs ops give; the scalars are computed by the caller as the ops' scalar tensors are):
// d = l2 ? grad + p * wd : grad; m' = m * b1 + d * (1 - b1); v' = v * b2 + (d * d) * (1 - b2);
// update = (m' / c1) / (sqrt(v' / c2) + eps); p' = (decoupled ? p * keep : p) - update * lr.
typedef struct {
  const float *param, *grad, *m, *v;
  float *param_out, *m_out, *v_out;
  int32_t size, l2, decoupled;
  float lr, beta1, one_minus_beta1, beta2, one_minus_beta2, c1, c2, eps, weight_decay, keep;
} AdamUpdate;

EXPORT("adam_update") void adam_update(const AdamUpdate *g, int t, int threads) {
  int i0, i1;
  share(g->size, 64, t, threads, &i0, &i1);
  for (int i = i0; i < i1; i++) {
    float p = g->param[i];
    float d = g->l2 ? g->grad[i] + p * g->weight_decay : g->grad[i];
    float m = g->m[i] * g->beta1 + d * g->one_minus_beta1;
    float v = g->v[i] * g->beta2 + (d * d) * g->one_minus_beta2;
    float update = (m / g->c1) / (__builtin_sqrtf(v / g->c2) + g->eps);
    g->m_out[i] = m, g->v_out[i] = v;
    g->param_out[i] = (g->decoupled ? p * g->keep : p) - update * g->lr;
  }
}
