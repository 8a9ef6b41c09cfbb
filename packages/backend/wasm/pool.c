// The pool family: the max- and average-pool gradients, one image at a time with the loops the addon shares
// (kernels.h). Threads split the batch.
#include "common.h"

void max_pool_grad(const MaxPoolGrad *g, int t, int threads) {
  int n0, n1, image = g->g.h * g->g.w * g->g.c;
  share(g->g.n, 1, t, threads, &n0, &n1);
  for (int n = n0; n < n1; n++) {
    max_pool_grad_image(g->x + n * image, g->dy + n * g->g.oh * g->g.ow * g->g.c, g->dx + n * image, &g->g);
  }
}

void avg_pool_grad(const AvgPoolGrad *g, int t, int threads) {
  int n0, n1, image = g->g.h * g->g.w * g->g.c;
  share(g->g.n, 1, t, threads, &n0, &n1);
  for (int n = n0; n < n1; n++) avg_pool_grad_image(g->dy + n * g->g.oh * g->g.ow * g->g.c, g->dx + n * image, &g->g);
}
