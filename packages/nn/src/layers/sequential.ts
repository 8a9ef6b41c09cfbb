import type * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module.js';

/** Runs its children in order. They are own properties named "0", "1", ..., as PyTorch names them (or as `named` gives). */
export class Sequential extends Module {
  static readonly typeName: string = 'Sequential';

  readonly [index: number]: Module;

  constructor(...layers: Module[]) {
    super();
    layers.forEach((layer, i) => {
      if (!(layer instanceof Module)) throw new TypeError(`Sequential: item ${i} is not a Module`);
      // Read-only (a net's layers are not reassigned by accident); configurable, so setModule can swap one.
      Object.defineProperty(this, String(i), { value: layer, enumerable: true, configurable: true });
    });
  }

  /**
   * A Sequential whose layers have names, in order (PyTorch's `nn.Sequential(OrderedDict(...))`): what lets a net
   * whose forward is a chain carry another library's module names, such as torchvision's `conv1`, `layer1`, `fc`.
   */
  static named(layers: Record<string, Module>): Sequential {
    const sequential = new Sequential();
    for (const [name, layer] of Object.entries(layers)) {
      if (!(layer instanceof Module)) throw new TypeError(`Sequential.named: ${name} is not a Module`);
      if (/^\d+$/.test(name)) throw new TypeError(`Sequential.named: ${name} is an index; name the layers`);
      Object.defineProperty(sequential, name, { value: layer, enumerable: true, configurable: true });
    }
    return sequential;
  }

  get length(): number {
    return this.children().length;
  }

  /** The layers in order. */
  get layers(): Module[] {
    return this.children();
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.layers.reduce((h, layer) => layer.forward(h), x);
  }
}
