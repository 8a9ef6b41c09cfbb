/**
 * Antialiased bilinear resampling, as PIL and torchvision's `antialias=True` compute it: each output pixel of an axis
 * is a weighted mean of the input pixels under a triangle filter of support max(scale, 1) around its centre,
 * normalised to sum to 1 (enlarging, that is bilinear interpolation with the edge pixel repeated). The weights are
 * what both the batch transform (`resize(..., { antialias: true })`) and image folders of mixed sizes use.
 */

/** The weights [outSize, inSize] (row-major) by which each output pixel of one axis averages the input's. */
export function antialiasWeights(inSize: number, outSize: number): Float32Array {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const weights = new Float32Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const first = Math.max(Math.trunc(center - support + 0.5), 0);
    const last = Math.min(Math.trunc(center + support + 0.5), inSize);
    const row = Array.from({ length: last - first }, (_, k) =>
      Math.max(0, 1 - Math.abs((first + k - center + 0.5) / support)),
    );
    const sum = row.reduce((a, b) => a + b, 0);
    row.forEach((v, k) => {
      weights[i * inSize + first + k] = sum > 0 ? v / sum : 0;
    });
  }
  return weights;
}

/** One [h, w, c] uint8 image resized to [oh, ow, c], rounded to the nearest level (as PIL gives 8-bit images). */
export function resizeImage(data: Uint8Array, [h, w, c]: readonly number[], [oh, ow]: readonly number[]): Uint8Array {
  const [rows, columns] = [antialiasWeights(h!, oh!), antialiasWeights(w!, ow!)];
  const tall = new Float32Array(oh! * w! * c!); // rows first: [oh, w, c]
  for (let i = 0; i < oh!; i++)
    for (let y = 0; y < h!; y++) {
      const weight = rows[i * h! + y]!;
      if (weight === 0) continue;
      for (let k = 0; k < w! * c!; k++) tall[i * w! * c! + k]! += weight * data[y * w! * c! + k]!;
    }
  const out = new Uint8Array(oh! * ow! * c!);
  for (let i = 0; i < oh!; i++)
    for (let j = 0; j < ow!; j++)
      for (let ch = 0; ch < c!; ch++) {
        let v = 0;
        for (let x = 0; x < w!; x++) v += columns[j * w! + x]! * tall[(i * w! + x) * c! + ch]!;
        out[(i * ow! + j) * c! + ch] = Math.min(255, Math.max(0, Math.round(v)));
      }
  return out;
}
