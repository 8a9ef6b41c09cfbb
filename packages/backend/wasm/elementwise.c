// The elementwise family: out[i] = a[i] op b[i % b_size] with the loop the addon shares (kernels.h). Threads split
// whole rows of b_size (or runs of RUN elements where b does not repeat).
#include "common.h"

enum { RUN = 4096 };

void elementwise(const Elementwise *g, int t, int threads) {
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
