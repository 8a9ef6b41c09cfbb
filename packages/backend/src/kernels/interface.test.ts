import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a build script (plain ESM, no types)
import { HEADER, TARGET, parseInterface, renderInterface } from '../../scripts/kernel-interface.mjs';
import { NATIVE_KERNELS, STRUCTS, WASM_KERNELS } from './interface.generated.js';
import { ARGS_BYTES, packArgs, structWords } from './interface.js';

describe('the declared kernel interface (native/kernels.h)', () => {
  it('is what interface.generated.ts says: the TypeScript side is generated from the header, never typed by hand', () => {
    expect(readFileSync(TARGET, 'utf8')).toBe(renderInterface(parseInterface(readFileSync(HEADER, 'utf8'))));
  });

  it('reads enums, nested structs, arrays and kernel lists, and refuses what it cannot lay out', () => {
    const header = `
      enum Sizes { RANK = 3, NEXT };  // a comment
      typedef struct { int32_t n, h; } Inner;
      /* a block comment */
      typedef struct { operand_in x; operand_out y; float scale; Inner g; int32_t shape[RANK]; } Outer;
      #define CONVNETS_SHARED_KERNELS(X) X(outer, Outer)
      #define CONVNETS_WASM_KERNELS(X) CONVNETS_SHARED_KERNELS(X) X(inner, Inner)
      #define CONVNETS_NATIVE_KERNELS(X) CONVNETS_SHARED_KERNELS(X)
    `;
    expect(parseInterface(header)).toEqual({
      enums: { Sizes: { RANK: 3, NEXT: 4 } },
      structs: {
        Inner: [
          ['n', 'i'],
          ['h', 'i'],
        ],
        Outer: [
          ['x', 'p'],
          ['y', 'p'],
          ['scale', 'f'],
          ['g', 'Inner'],
          ['shape', 'i', 3],
        ],
      },
      wasm: { outer: 'Outer', inner: 'Inner' },
      native: { outer: 'Outer' },
    });
    expect(() => parseInterface('typedef struct { double d; } S;')).toThrow('S has a field of unknown type double');
    expect(() => parseInterface(`${header.replace('X(inner, Inner)', 'X(inner, Missing)')}`)).toThrow(
      'inner takes Missing, which is not declared',
    );
  });

  it('packs arguments by name into the struct words, floats as float32 and nested structs in place', () => {
    expect(structWords('Operand')).toBe(24);
    expect(structWords('Gemm')).toBe(2 * 24 + 7);
    expect(structWords('Pad')).toBe(3 + 3 * 6);
    const buffer = new ArrayBuffer(1024);
    const g = Object.fromEntries(STRUCTS.PoolWindow.map(([name], i) => [name, i + 1]));
    expect(packArgs('max_pool_grad', { x: 8, dy: 16, dx: 24, g } as never, buffer)).toBe(15);
    expect(Array.from(new Int32Array(buffer, 0, 15))).toEqual([8, 16, 24, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const sgd = { param: 0, grad: 4, buf: 8, param_out: 12, buf_out: 16, size: 1, nesterov: 0 };
    packArgs('sgd_update', { ...sgd, lr: 0.1, momentum: 0.9, weight_decay: 5e-4 }, buffer);
    expect(Array.from(new Float32Array(buffer, 7 * 4, 3))).toEqual([0.1, 0.9, 5e-4].map(Math.fround));
    expect(() => packArgs('sgd_update', sgd as never, buffer)).toThrow('SgdUpdate.lr is missing');
  });

  it("fits every kernel's arguments in the argument block, and packs into a new buffer (a grown heap) afresh", () => {
    for (const struct of [...Object.values(WASM_KERNELS), ...Object.values(NATIVE_KERNELS)])
      expect(structWords(struct) * 4, struct).toBeLessThanOrEqual(ARGS_BYTES);
    const sgd = { param: 0, grad: 4, buf: 8, param_out: 12, buf_out: 16, size: 1, nesterov: 0, momentum: 0.9 };
    const [first, grown] = [new ArrayBuffer(4096), new ArrayBuffer(8192)];
    packArgs('sgd_update', { ...sgd, lr: 0.1, weight_decay: 0 }, first, 64);
    packArgs('sgd_update', { ...sgd, lr: 0.2, weight_decay: 0 }, grown, 64);
    packArgs('sgd_update', { ...sgd, lr: 0.3, weight_decay: 0 }, grown, 128);
    const lr = (buffer: ArrayBuffer, at: number) => new Float32Array(buffer, at + 7 * 4, 1)[0];
    expect([lr(first, 64), lr(grown, 64), lr(grown, 128)]).toEqual([0.1, 0.2, 0.3].map(Math.fround));
  });
});
