// The copy family: block copies (concatenation writes each part into its columns of the output; a split reads them
// back). Threads split the runs.
#include "common.h"

void copy_blocks(const CopyBlocks *g, int t, int threads) {
  int r0, r1;
  share(g->blocks, 1, t, threads, &r0, &r1);
  for (int r = r0; r < r1; r++)
    __builtin_memcpy(g->dst + r * g->dst_stride, g->src + r * g->src_stride, (unsigned)g->count * sizeof(float));
}
