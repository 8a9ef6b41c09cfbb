// The optimizer family: one fused update per parameter, with the trainer's float operations in its order (so the
// bits its tfjs ops give). Threads split the elements.
#include "common.h"

void sgd_update(const SgdUpdate *g, int t, int threads) {
  int i0, i1;
  share(g->size, 64, t, threads, &i0, &i1);
  sgd_update_range(g->param, g->grad, g->buf, g->param_out, g->buf_out, i0, i1, g->nesterov, g->lr, g->momentum,
                   g->weight_decay);
}

// ---------------------------------------------------------------------------------------------------
// One Adam step for one parameter, in one pass, with the trainer's float operations in its order (the
// bits its tfjs ops give; the scalars are computed by the caller as the ops' scalar tensors are):
// d = l2 ? grad + p * wd : grad; m' = m * b1 + d * (1 - b1); v' = v * b2 + (d * d) * (1 - b2);
// update = (m' / c1) / (sqrt(v' / c2) + eps); p' = (decoupled ? p * keep : p) - update * lr.
void adam_update(const AdamUpdate *g, int t, int threads) {
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
