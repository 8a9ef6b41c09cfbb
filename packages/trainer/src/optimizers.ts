/**
 * SGD (momentum, Nesterov, weight decay) and Adam (L2 weight decay, or decoupled as AdamW), with PyTorch's
 * update rules. Written here rather than taken from tf.train so that weight decay exists and the state
 * is plain named tensors that a checkpoint can save.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FUSED_ADAM, FUSED_SGD } from '@convnets/nn';

/**
 * A parameter group (PyTorch's `param_groups`): its parameters train with `lrScale` times the step's learning rate
 * (so a schedule scales every group alike) and with their own weight decay. Parameters in no group use the
 * optimizer's settings.
 */
export interface ParamGroup {
  params: readonly tf.Variable[];
  /** This group's learning rate as a multiple of the step's (default 1). */
  lrScale?: number;
  /** This group's weight decay (default: the optimizer's). */
  weightDecay?: number;
}

/** Each grouped parameter's learning-rate scale and weight decay; a parameter in two groups is refused. */
function groupsByParam(groups: readonly ParamGroup[], who: string): Map<tf.Variable, ParamGroup> {
  const byParam = new Map<tf.Variable, ParamGroup>();
  groups.forEach((group, g) => {
    if (group.lrScale !== undefined && !(group.lrScale >= 0))
      throw new RangeError(`${who}: group ${g}'s lrScale must be a non-negative number, got ${group.lrScale}`);
    for (const p of group.params) {
      if (byParam.has(p)) throw new RangeError(`${who}: parameter ${p.name} is in more than one group`);
      byParam.set(p, group);
    }
  });
  return byParam;
}

export interface Optimizer {
  /** Applies one update with learning rate `lr` to `params` given `grads` (same order). */
  step(params: tf.Variable[], grads: tf.Tensor[], lr: number): void;
  /** The optimizer's state (momentum buffers etc.) by name; the tensors stay the optimizer's. */
  state(): Map<string, tf.Tensor>;
  /** Restores what `state()` returned (copies the tensors). */
  /** Takes the tensors `state()` gave (a resumed run's); may read them asynchronously. */
  loadState(state: Map<string, tf.Tensor>): void | Promise<void>;
  dispose(): void;
}

export interface SgdOptions {
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  groups?: readonly ParamGroup[];
}

export class Sgd implements Optimizer {
  private readonly buffers = new Map<number, tf.Variable>();
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  private readonly groups: Map<tf.Variable, ParamGroup>;

  constructor({ momentum = 0, nesterov = false, weightDecay = 0, groups = [] }: SgdOptions = {}) {
    if (nesterov && momentum <= 0) throw new RangeError('Sgd: Nesterov momentum needs momentum > 0');
    this.momentum = momentum;
    this.nesterov = nesterov;
    this.weightDecay = weightDecay;
    this.groups = groupsByParam(groups, 'Sgd');
  }

  step(params: tf.Variable[], grads: tf.Tensor[], stepLr: number): void {
    // One kernel per parameter where the backend provides it, with the float operations of the ops below in order.
    const fused = this.momentum && tf.getKernel(FUSED_SGD, tf.getBackend());
    params.forEach((p, i) => {
      const group = this.groups.get(p);
      const lr = stepLr * (group?.lrScale ?? 1);
      const weightDecay = group?.weightDecay ?? this.weightDecay;
      tf.tidy(() => {
        const previous = this.buffers.get(i);
        if (fused && previous) {
          const attrs = { lr, momentum: this.momentum, weightDecay, nesterov: this.nesterov };
          const [param, buffer] = tf
            .engine()
            .runKernel(FUSED_SGD, { param: p, grad: grads[i]!, buffer: previous }, attrs) as tf.Tensor[];
          previous.assign(buffer!);
          p.assign(param!);
          return;
        }
        // g = grad + wd * p;  buf = momentum * buf + g;  update = nesterov ? g + momentum * buf : buf
        let g = weightDecay ? tf.add(grads[i]!, tf.mul(p, weightDecay)) : grads[i]!;
        if (this.momentum) {
          const buf = previous ? tf.add(tf.mul(previous, this.momentum), g) : g;
          if (previous) previous.assign(buf);
          else this.buffers.set(i, tf.variable(buf, false));
          g = this.nesterov ? tf.add(g, tf.mul(buf, this.momentum)) : buf;
        }
        p.assign(tf.sub(p, tf.mul(g, lr)));
      });
    });
  }

  state(): Map<string, tf.Tensor> {
    return new Map([...this.buffers].map(([i, v]) => [`${i}.momentum_buffer`, v]));
  }

  loadState(state: Map<string, tf.Tensor>): void {
    this.dispose();
    for (const [key, t] of state) {
      const match = /^(\d+)\.momentum_buffer$/.exec(key);
      if (!match) throw new Error(`Sgd.loadState: unexpected entry '${key}'`);
      this.buffers.set(Number(match[1]), tf.variable(t, false));
    }
  }

  dispose(): void {
    this.buffers.forEach((v) => {
      v.dispose();
    });
    this.buffers.clear();
  }
}

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** AdamW: decay the weights directly instead of adding wd * p to the gradient. */
  decoupled?: boolean;
  groups?: readonly ParamGroup[];
}

export class Adam implements Optimizer {
  private readonly m = new Map<number, tf.Variable>();
  private readonly v = new Map<number, tf.Variable>();
  private t = 0;
  readonly options: Required<Omit<AdamOptions, 'groups'>>;
  private readonly groups: Map<tf.Variable, ParamGroup>;

  constructor({
    beta1 = 0.9,
    beta2 = 0.999,
    eps = 1e-8,
    weightDecay = 0,
    decoupled = false,
    groups = [],
  }: AdamOptions = {}) {
    this.options = { beta1, beta2, eps, weightDecay, decoupled };
    this.groups = groupsByParam(groups, 'Adam');
  }

  step(params: tf.Variable[], grads: tf.Tensor[], stepLr: number): void {
    const { beta1, beta2, eps, decoupled } = this.options;
    this.t += 1;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    const fused = tf.getKernel(FUSED_ADAM, tf.getBackend()); // likewise
    params.forEach((p, i) => {
      const group = this.groups.get(p);
      const lr = stepLr * (group?.lrScale ?? 1);
      const weightDecay = group?.weightDecay ?? this.options.weightDecay;
      tf.tidy(() => {
        if (fused) {
          const m = this.moment(this.m, i, p);
          const v = this.moment(this.v, i, p);
          const l2 = Boolean(weightDecay) && !decoupled;
          const keep = weightDecay && decoupled ? 1 - lr * weightDecay : 1;
          const attrs = {
            lr,
            beta1,
            oneMinusBeta1: 1 - beta1,
            beta2,
            oneMinusBeta2: 1 - beta2,
            c1,
            c2,
            eps,
            weightDecay,
            keep,
            l2,
            decoupled: Boolean(weightDecay && decoupled),
          };
          const [param, mNext, vNext] = tf
            .engine()
            .runKernel(FUSED_ADAM, { param: p, grad: grads[i]!, m, v }, attrs) as tf.Tensor[];
          m.assign(mNext!);
          v.assign(vNext!);
          p.assign(param!);
          return;
        }
        let g = grads[i]!;
        if (weightDecay && !decoupled) g = tf.add(g, tf.mul(p, weightDecay));
        const m = this.moment(this.m, i, p);
        const v = this.moment(this.v, i, p);
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        const decayed = weightDecay && decoupled ? tf.mul(p, 1 - lr * weightDecay) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    });
  }

  private moment(store: Map<number, tf.Variable>, i: number, like: tf.Tensor): tf.Variable {
    let s = store.get(i);
    if (!s) {
      s = tf.variable(tf.zerosLike(like), false);
      store.set(i, s);
    }
    return s;
  }

  private stepTensor: tf.Tensor | null = null;

  state(): Map<string, tf.Tensor> {
    this.stepTensor?.dispose();
    this.stepTensor = tf.scalar(this.t, 'int32');
    const out = new Map<string, tf.Tensor>([['step', this.stepTensor]]);
    this.m.forEach((t, i) => {
      out.set(`${i}.exp_avg`, t);
    });
    this.v.forEach((t, i) => {
      out.set(`${i}.exp_avg_sq`, t);
    });
    return out;
  }

  async loadState(state: Map<string, tf.Tensor>): Promise<void> {
    this.dispose();
    for (const [key, t] of state) {
      const match = /^(\d+)\.(exp_avg|exp_avg_sq)$/.exec(key);
      if (key === 'step') this.t = (await t.data())[0]!;
      else if (match) (match[2] === 'exp_avg' ? this.m : this.v).set(Number(match[1]), tf.variable(t, false));
      else throw new Error(`Adam.loadState: unexpected entry '${key}'`);
    }
  }

  dispose(): void {
    this.stepTensor?.dispose();
    this.stepTensor = null;
    [...this.m.values(), ...this.v.values()].forEach((t) => {
      t.dispose();
    });
    this.m.clear();
    this.v.clear();
  }
}
