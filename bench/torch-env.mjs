// PyTorch at its best, as in a long run: glibc keeps its big buffers between steps instead of returning them to the
// OS after each one (short runs otherwise pay that, 2-2.5x per step; see docs/performance.md).
export const torchEnv = () => ({
  ...process.env,
  MALLOC_MMAP_THRESHOLD_: String(1 << 30),
  MALLOC_TRIM_THRESHOLD_: String(1 << 30),
});
