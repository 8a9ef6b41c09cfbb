import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, formatShape, type Shape } from './shape.js';
import { traceForward } from './trace.js';

/**
 * Marks variables that are state but not trained (BatchNorm's running statistics). A WeakSet so the
 * mark travels with the variable and modules need no registration calls.
 */
const buffers = new WeakSet<tf.Variable>();

/**
 * A trainable tensor owned by a module (`nn.Parameter`). It takes `initial` over (disposes it): a variable shares its
 * initial tensor's data, which would otherwise outlive the module's `dispose`.
 */
export function parameter(initial: tf.Tensor): tf.Variable {
  const v = tf.variable(initial, true);
  initial.dispose();
  return v;
}

/** A non-trainable tensor owned by a module and saved with it (`register_buffer`); it takes `initial` over too. */
export function buffer(initial: tf.Tensor): tf.Variable {
  const v = tf.variable(initial, false);
  initial.dispose();
  buffers.add(v);
  return v;
}

export function isBuffer(v: tf.Variable): boolean {
  return buffers.has(v);
}

/** One module's place in a shape trace: what went in and what came out. */
export interface TraceEntry {
  module: Module;
  input: Shape;
  output?: Shape;
}

/** Collects, in call order, every module that shape inference passes through. */
export type ShapeTrace = TraceEntry[];

/**
 * The base of every layer and net, after `torch.nn.Module`. Children, parameters and buffers are
 * found by ownership: an own property holding a Module is a child, one holding a tf.Variable is a
 * parameter (or a buffer, if made with `buffer`). Property names are the PyTorch names, so
 * `namedParameters()` yields dotted names such as `1.0.bn1.weight` that match a PyTorch state dict.
 */
export abstract class Module {
  /** Train mode (batch statistics, dropout on) or eval mode. Change it with `train()` / `eval()`. */
  training = true;

  /** Stays in eval mode through `train()`: a frozen BatchNorm keeps its running statistics (see `freeze`). */
  heldInEval = false;

  /** The computation, on NHWC tensors. Call inside `tf.tidy` (or a gradient function). */
  abstract forward(x: tf.Tensor): tf.Tensor;

  /**
   * The output shape for an input shape. A layer gives its own shape arithmetic. A module made of others (a block, a
   * net) needs none: its `forward` is traced on zeros with each layer in it standing in by its own rule, so no
   * convolution runs, and the wiring between layers is the one `forward` writes.
   */
  protected computeShape(input: Shape, trace?: ShapeTrace): Shape {
    return traceShape(this, input, trace);
  }

  /** Whether this module gives its own shape arithmetic (a layer) rather than having its `forward` traced. */
  get hasShapeRule(): boolean {
    return (this as unknown as { computeShape: unknown }).computeShape !== Module.prototype.computeShape;
  }

  /** Shape inference with an optional trace of every module passed through. */
  inferShape(input: Shape, trace?: ShapeTrace): Shape {
    const entry: TraceEntry = { module: this, input };
    trace?.push(entry);
    const output = this.computeShape(input, trace);
    if (output.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new ShapeError(
        `would produce an empty output ${formatShape(output)} from input ${formatShape(input)}`,
        this,
        input,
      );
    }
    entry.output = output;
    return output;
  }

  /** Forward FLOPs of this module alone (2 x multiply-adds), children excluded. */
  flops(_input: Shape): number {
    return 0;
  }

  /**
   * The name PyTorch prints for this layer type: its class's own static `typeName` (minifiers rename classes, so
   * ours say it), else the class name (a subclass prints its own name, as in PyTorch).
   */
  get typeName(): string {
    const type = this.constructor as { typeName?: string; name: string };
    return Object.hasOwn(type, 'typeName') ? type.typeName! : type.name;
  }

  /** The arguments shown inside the parentheses when printed, like PyTorch's `extra_repr`. */
  protected extraRepr(): string {
    return '';
  }

  *namedChildren(): Generator<[string, Module]> {
    for (const [name, value] of Object.entries(this)) {
      if (value instanceof Module) yield [name, value];
    }
  }

  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }

  /** This module and all below it, depth first, with dotted paths ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.namedChildren()) {
      yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
    }
  }

  /** Own variables (not children's), in declaration order. */
  *ownVariables(): Generator<[string, tf.Variable]> {
    for (const [name, value] of Object.entries(this)) {
      if (value instanceof tf.Variable) yield [name, value];
    }
  }

  /** Parameters (trainable tensors, frozen or not) with dotted PyTorch-style names. */
  *namedParameters(): Generator<[string, tf.Variable]> {
    for (const [path, module] of this.namedModules()) {
      for (const [name, v] of module.ownVariables()) {
        if (!isBuffer(v)) yield [path ? `${path}.${name}` : name, v];
      }
    }
  }

  parameters(): tf.Variable[] {
    return [...this.namedParameters()].map(([, v]) => v);
  }

  *namedBuffers(): Generator<[string, tf.Variable]> {
    for (const [path, module] of this.namedModules()) {
      for (const [name, v] of module.ownVariables()) {
        if (isBuffer(v)) yield [path ? `${path}.${name}` : name, v];
      }
    }
  }

  /**
   * Every saved tensor (parameters and buffers) in PyTorch's `state_dict()` order: each module's
   * own variables before its children's.
   */
  *namedState(): Generator<[string, tf.Variable]> {
    for (const [path, module] of this.namedModules()) {
      for (const [name, v] of module.ownVariables()) yield [path ? `${path}.${name}` : name, v];
    }
  }

  /**
   * The parameters that get gradients: those whose `trainable` (PyTorch's `requires_grad`) is on. A frozen one
   * (see `freeze`) gets no gradient, no weight decay and no optimizer state.
   */
  trainableParameters(): tf.Variable[] {
    return this.parameters().filter((p) => p.trainable);
  }

  /** Number of parameter scalars: all of them, or only the trainable or the frozen ones. */
  numParameters(which: 'all' | 'trainable' | 'frozen' = 'all'): number {
    let n = 0;
    for (const p of this.parameters()) if (which === 'all' || p.trainable === (which === 'trainable')) n += p.size;
    return n;
  }

  /** Sets train (true) or eval (false) mode on this module and every descendant (but those held in eval). */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode && !m.heldInEval;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Calls `fn` on every descendant and then on this module (PyTorch's order). */
  apply(fn: (module: Module) => void): this {
    for (const child of this.children()) child.apply(fn);
    fn(this);
    return this;
  }

  /** Frees every variable this module and its descendants own. */
  dispose(): void {
    for (const [, v] of this.namedState()) v.dispose();
  }

  /** The module tree as PyTorch prints it. */
  toString(): string {
    const children = [...this.namedChildren()];
    const extra = this.extraRepr();
    if (children.length === 0) return `${this.typeName}(${extra})`;
    const lines = extra ? extra.split('\n') : [];
    for (const [name, child] of children) {
      lines.push(`(${name}): ${indent(child.toString())}`);
    }
    return `${this.typeName}(\n${lines.map((l) => `  ${l}`).join('\n')}\n)`;
  }
}

function indent(text: string): string {
  return text.split('\n').join('\n  ');
}

/**
 * `module`'s output shape for `input` by tracing its forward on zeros: layers with a shape rule stand in with zeros
 * of the shape it gives (traced in `trace`); the kernels between them run for real, on those zeros. A kernel that
 * fails (two branches that do not add up, say) is a ShapeError of the innermost module running it.
 */
function traceShape(module: Module, input: Shape, trace?: ShapeTrace): Shape {
  const open: TraceEntry[] = [];
  return tf.tidy(() => {
    try {
      const y = traceForward(module, tf.zeros([...input]), {
        enter: (m, _path, x) => {
          if (m === module) return undefined;
          if (m.hasShapeRule) return tf.zeros([...m.inferShape(x.shape, trace)]);
          const entry: TraceEntry = { module: m, input: x.shape };
          trace?.push(entry);
          open.push(entry);
          return undefined;
        },
        exit: (m, _path, _x, y) => {
          if (m !== module && !m.hasShapeRule) open.pop()!.output = [...y.shape];
          return y;
        },
      });
      return [...y.shape];
    } catch (err) {
      if (err instanceof ShapeError || !(err instanceof Error)) throw err;
      const where = open.at(-1) ?? { module, input };
      throw new ShapeError(
        `its forward fails on input ${formatShape(where.input)}: ${err.message}`,
        where.module,
        where.input,
      );
    }
  });
}
