/**
 * Seeded randomness. Every random draw in convnets comes from a seed: layers take their initial
 * weights from a generator (`manualSeed` sets the default one, like `torch.manual_seed`), and
 * Dropout owns a generator of its own, so a run is reproducible and its state can be checkpointed.
 */

/** A small, fast 32-bit generator (mulberry32). Its whole state is one integer. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`Rng: seed must be a finite number, got ${seed}`);
    this.#state = Math.trunc(seed) >>> 0;
  }

  /** The next uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A seed for tfjs random ops (a non-negative 31-bit integer). */
  nextSeed(): number {
    return this.nextUint32() >>> 1;
  }

  /** The state, to checkpoint; `setState` restores it exactly. */
  getState(): number {
    return this.#state;
  }

  setState(state: number): void {
    this.#state = state >>> 0;
  }
}

let defaultGenerator = new Rng(0);

/** Re-seeds the generator that layers draw their initial weights from. */
export function manualSeed(seed: number): void {
  defaultGenerator = new Rng(seed);
}

/** The generator layers use when constructed without an explicit seed. */
export function defaultRng(): Rng {
  return defaultGenerator;
}

/** Runs `build` with the default generator seeded to `seed`, then restores the previous one. */
export function withSeed<T>(seed: number, build: () => T): T {
  const previous = defaultGenerator;
  defaultGenerator = new Rng(seed);
  try {
    return build();
  } finally {
    defaultGenerator = previous;
  }
}
