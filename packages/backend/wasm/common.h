// What convnets' WebAssembly kernels share: the declared interface (kernels.h, which the oneDNN addon includes too),
// the export of every kernel it lists, and the GEMM core that the matmul and conv families are built on.
//
// Rules that keep it safe to run inside another module's heap:
// - no static data and no libc: every buffer (operands, packing scratch, arguments) is a pointer that tfjs's malloc
//   handed out; the build refuses a module with a data section;
// - the shadow stack (__stack_pointer, exported) is set by the loader to a block it allocated;
// - every kernel takes (args, thread, threads): its arguments as a struct in memory, and which share of the work
//   this call does. Shares write disjoint outputs, so threads never synchronise inside a kernel.
#pragma once
#include <stdint.h>
#include <wasm_simd128.h>

#include "kernels.h"

#define EXPORT(name) __attribute__((export_name(name)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

// Every kernel of the interface, exported under its name with its argument struct.
#define EXPORT_KERNEL(name, Args) EXPORT(#name) void name(const Args *g, int t, int threads);
CONVNETS_WASM_KERNELS(EXPORT_KERNEL)

// Splits `count` items into `parts` shares on `align` boundaries; share `t` is [*start, *end).
static inline void share(int count, int align, int t, int parts, int *start, int *end) {
  int units = (count + align - 1) / align;
  int per = units / parts, extra = units % parts;
  int first = t * per + MIN(t, extra);
  *start = MIN(count, first * align);
  *end = MIN(count, (first + per + (t < extra)) * align);
}

// ---- the GEMM core (matmul.c) ----------------------------------------------------------------------------------------
// Register tile MR x NR (4 x 8: eight accumulators, the most V8 keeps in registers), and the cache
// blocks: a KC x NR panel of B stays in L1, an MC x KC block of A in L2, a KC x NC block of B in L2.
enum { MR = 4, NR = 8, KC = 256, MC = 128, NC = 512 };
// Floats of packing scratch each thread needs (the loader allocates this much per thread).
enum { PACK_A_FLOATS = MC * KC, PACK_B_FLOATS = KC * NC };

// Packs rows [i0, i0+kc) x columns [j0, j0+nr) of B into an NR-interleaved panel: dst[i * NR + q].
void pack_b_panel(const Operand *b, int i0, int kc, int j0, int nr, float *dst);
// C[0:mr, 0:nr] (+)= the product of one packed A strip and one packed B panel over kc.
void micro_kernel(int kc, const float *pa, const float *pb, float *c, int ldc, int add, int mr, int nr);
// Rows [m0, m1) of C, every column: the share of one thread (m0, m1 multiples of MR but the last).
void gemm_rows(const Gemm *g, int m0, int m1, float *packA, float *packB);

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
