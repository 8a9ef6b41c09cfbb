/** Learning-rate schedules: the rate for step `step` (0-based) of `total` optimizer steps. */
export type Schedule = (step: number, total: number) => number;

export function constant(lr: number): Schedule {
  return () => lr;
}

/** lr * gamma^floor(step / stepSize), PyTorch's StepLR counted in optimizer steps. */
export function stepDecay(lr: number, stepSize: number, gamma = 0.1): Schedule {
  return (step) => lr * gamma ** Math.floor(step / stepSize);
}

/** Cosine annealing from lr to minLr over the run. */
export function cosine(lr: number, minLr = 0): Schedule {
  return (step, total) => minLr + ((lr - minLr) * (1 + Math.cos((Math.PI * step) / Math.max(1, total)))) / 2;
}

/**
 * One-cycle: linear warm-up from lr/divFactor to lr over the first `warmup` fraction, then cosine down to
 * lr/finalDivFactor (PyTorch's OneCycleLR with linear warm-up).
 */
export function oneCycle(lr: number, { warmup = 0.3, divFactor = 25, finalDivFactor = 1e4 } = {}): Schedule {
  return (step, total) => {
    const peak = Math.max(1, Math.round(warmup * total));
    const start = lr / divFactor;
    if (step < peak) return start + ((lr - start) * step) / peak;
    const end = start / finalDivFactor;
    const t = (step - peak) / Math.max(1, total - peak);
    return end + ((lr - end) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}

export const SCHEDULES = ['constant', 'step', 'cosine', 'onecycle'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

/** A schedule by name, as the CLI's --schedule takes it (step: x0.1 every third of the run). */
export function scheduleByName(name: ScheduleName, lr: number, totalSteps: number): Schedule {
  switch (name) {
    case 'constant':
      return constant(lr);
    case 'step':
      return stepDecay(lr, Math.max(1, Math.ceil(totalSteps / 3)));
    case 'cosine':
      return cosine(lr);
    case 'onecycle':
      return oneCycle(lr);
  }
}
