import { describe, expect, it } from 'vitest';
import * as nn from './index.js';
import { Module } from './module.js';

// Bundlers' minifiers rename classes, so a printed model or summary would show `Qe(...)` where PyTorch prints
// `Conv2d(...)` unless each layer names itself.
describe('typeName', () => {
  const layers = Object.entries(nn).filter(
    ([, value]) => typeof value === 'function' && value.prototype instanceof Module,
  ) as Array<[string, typeof Module]>;

  it('is set by every exported layer class, as its PyTorch name', () => {
    expect(layers.length).toBeGreaterThanOrEqual(11);
    for (const [name, layer] of layers) expect(Object.hasOwn(layer, 'typeName'), name).toBe(true);
    expect(layers.map(([, layer]) => (layer as { typeName?: string }).typeName)).toEqual(layers.map(([n]) => n));
  });

  it('survives a renamed class; a class that does not set it (a subclass too) prints its class name', () => {
    class Qe extends nn.Identity {
      static override readonly typeName = 'Conv2d';
    }
    expect(new Qe().typeName).toBe('Conv2d');
    class MyBlock extends nn.Sequential {}
    expect(new MyBlock().typeName).toBe('MyBlock');
    class MyReLU extends nn.ReLU {}
    expect(new MyReLU().typeName).toBe('MyReLU');
  });
});
