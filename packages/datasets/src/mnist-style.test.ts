import { describe, expect, it } from 'vitest';
import { mnistStyle } from './mnist-style.js';

/** A w x h image with a filled rectangle of `value` at [x, x + rw) x [y, y + rh). */
function rect(w: number, h: number, [x, y, rw, rh]: number[], value = 255) {
  const img = new Uint8Array(w * h);
  for (let j = y!; j < y! + rh!; j++) img.fill(value, j * w + x!, j * w + x! + rw!);
  return img;
}

/** The ink's bounding box [x0, y0, x1, y1] and centre of mass of a 28 x 28 image. */
function inkOf(img: Uint8Array, size = 28) {
  let [x0, y0, x1, y1, m, mx, my] = [size, size, -1, -1, 0, 0, 0];
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const v = img[y * size + x]!;
      if (!v) continue;
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
      [m, mx, my] = [m + v, mx + v * (x + 0.5), my + v * (y + 0.5)];
    }
  return { box: [x0, y0, x1, y1], centre: [mx / m, my / m] };
}

describe('mnistStyle', () => {
  it('scales the ink to 20 px on its long side, aspect kept, centred by mass, wherever it was drawn', () => {
    // A 40 x 100 bar in the top-left corner of a 280 x 280 canvas: 8 x 20 after scaling.
    const out = mnistStyle(rect(280, 280, [10, 5, 40, 100]), 280, 280);
    const { box, centre } = inkOf(out);
    expect(box[2]! - box[0]! + 1).toBe(8);
    expect(box[3]! - box[1]! + 1).toBe(20);
    expect(centre[0]).toBeCloseTo(14, 0);
    expect(centre[1]).toBeCloseTo(14, 0);
    expect(Math.max(...out)).toBe(255); // a solid area stays solid
  });

  it('averages the pixels it shrinks (a half-bright checkerboard becomes mid grey), and gives zeros without ink', () => {
    const checker = new Uint8Array(40 * 40).map((_, i) => (((i % 40) + Math.floor(i / 40)) % 2 ? 200 : 100));
    const out = mnistStyle(checker, 40, 40);
    const inside = [...out].filter((v) => v > 0);
    expect(inside).toHaveLength(400);
    for (const v of inside) expect(v).toBe(150);
    expect(mnistStyle(new Uint8Array(100), 10, 10).every((v) => v === 0)).toBe(true);
    expect(() => mnistStyle(new Uint8Array(5), 2, 2)).toThrow('mnistStyle: 5 pixels are not a 2x2 image');
  });
});
