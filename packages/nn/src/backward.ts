/**
 * Gradients as `tf.grads` / `engine.gradients` take them, with memory freed as the backward pass goes. tfjs-core (4.22)
 * keeps every intermediate gradient and every tensor saved for the backward pass until the pass ends, so a step's
 * peak is about twice its forward's activations. Here a node's saved tensors are freed once its gradient ran, and a
 * tensor's gradient once every node that used the tensor has passed its share on: the peak is the forward's
 * activations. Same gradient functions, same order, same sums: the same numbers.
 *
 * It records on tfjs's tape through the engine's own (private) start and end of a tape; where a tape is already
 * recording (a gradient of a gradient), it leaves the work to `engine.gradients`.
 */
import * as tf from '@tensorflow/tfjs-core';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

interface EngineTape {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
}

export interface Gradients {
  /** What `f` returned. */
  value: tf.Tensor;
  /** The gradient of each of `xs`, or null where `f` does not depend on it. */
  grads: Array<tf.Tensor | null>;
}

export interface GradientsOptions {
  /** The gradient of `f()`'s result (default: ones); the caller keeps it. */
  dy?: tf.Tensor;
  /**
   * Running sums, one per x (or null): each gradient is added to its sum as the backward pass makes it, and the sums
   * are taken over (returned as the gradients). Gradient accumulation without a second copy of every gradient.
   */
  addTo?: ReadonlyArray<tf.Tensor | null>;
}

/** The gradients of `f()` with respect to each of `xs`, as `engine.gradients(f, xs, dy, true)`. */
export function gradients(f: () => tf.Tensor, xs: tf.Tensor[], { dy, addTo = [] }: GradientsOptions = {}): Gradients {
  const engine = tf.engine();
  const tape = engine as unknown as EngineTape;
  if (tape.state.gradientDepth > 0) {
    const { value, grads } = engine.gradients(f, xs, dy, true);
    const summed = grads.map((g, i) => {
      const sum = addTo[i];
      if (!sum || !g) return g ?? sum ?? null;
      const total = tf.add(sum, g);
      tf.dispose([sum, g]);
      return total;
    });
    return { value, grads: summed };
  }
  // A gradient taken inside another's backward pass (a recomputed block) puts the other's tape back after.
  const outer = tape.state.activeTape;
  tape.startTape();
  let nodes: TapeNode[] = [];
  try {
    let y: tf.Tensor;
    try {
      y = engine.tidy('forward', f) as tf.Tensor;
    } finally {
      tape.endTape();
      nodes = tape.state.activeTape ?? [];
    }
    if (!(y instanceof tf.Tensor)) throw new TypeError('gradients: f must return a tensor');
    const path = nodesFromXsToY(nodes, xs, y);
    // tidy keeps the tensors it returns; the nulls pass through.
    const grads = engine.tidy('backward', () => {
      const acc = new Map<number, tf.Tensor>([[y.id, dy ?? tf.onesLike(y)]]);
      for (const [i, x] of xs.entries()) if (addTo[i]) acc.set(x.id, addTo[i]!);
      const keep = new Set<number>(xs.map((x) => x.id));
      if (dy) keep.add(y.id);
      backpropagate(path, acc, keep);
      return xs.map((x) => acc.get(x.id) ?? null) as tf.Tensor[];
    }) as Array<tf.Tensor | null>;
    return { value: y, grads };
  } finally {
    for (const node of nodes) for (const t of node.saved ?? []) t.dispose();
    tape.state.activeTape = outer;
  }
}

/** Walks the path backward, summing each tensor's gradient, and frees what no later node needs. */
function backpropagate(path: TapeNode[], acc: Map<number, tf.Tensor>, keep: Set<number>) {
  for (let i = path.length - 1; i >= 0; i--) {
    const node = path[i]!;
    if (!node.gradient) throw new Error(`gradients: no gradient function for ${node.kernelName}`);
    // Every user of these outputs came later on the tape and has passed its share on: the sums are complete.
    const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
    const fns = node.gradient(dys);
    const spent = new Set<tf.Tensor>();
    for (const [name, x] of Object.entries(node.inputs)) {
      const fn = fns[name];
      if (!fn) throw new Error(`gradients: ${node.kernelName} gives no gradient for its input ${name}`);
      const dx = tf.tidy(fn);
      if (dx.dtype !== 'float32' || !tf.util.arraysEqual(dx.shape, x.shape))
        throw new Error(
          `gradients: ${node.kernelName}'s gradient for ${name} is ${dx.dtype} ${JSON.stringify(dx.shape)}, ` +
            `its input float32 ${JSON.stringify(x.shape)}`,
        );
      const sum = acc.get(x.id);
      acc.set(x.id, sum ? tf.add(sum, dx) : dx);
      if (sum) spent.add(sum).add(dx);
    }
    for (const o of node.outputs) {
      const g = acc.get(o.id);
      if (!g || keep.has(o.id)) continue;
      acc.delete(o.id);
      spent.add(g);
    }
    // A gradient function may hand its dy on as a dx: only what no sum holds any more is freed.
    const live = new Set(acc.values());
    for (const t of spent) if (!live.has(t)) t.dispose();
    for (const t of node.saved ?? []) t.dispose();
  }
}

/** The nodes on a path from one of `xs` to `y`, in tape order, each with only the inputs that come from `xs`. */
function nodesFromXsToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const reached = tape.filter((node) => {
    if (!Object.values(node.inputs).some((t) => fromX.has(t.id))) return false;
    for (const o of node.outputs) fromX.add(o.id);
    return true;
  });
  const toY = new Set([y.id]);
  const onPath = new Set<TapeNode>();
  for (let i = reached.length - 1; i >= 0; i--) {
    const node = reached[i]!;
    if (!node.outputs.some((o) => toY.has(o.id))) continue;
    onPath.add(node);
    for (const t of Object.values(node.inputs)) toY.add(t.id);
  }
  return reached
    .filter((node) => onPath.has(node))
    .map((node) => ({
      ...node,
      inputs: Object.fromEntries(Object.entries(node.inputs).filter(([, t]) => fromX.has(t.id))),
    }));
}
