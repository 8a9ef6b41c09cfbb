/** A confusion matrix (rows: true class, columns: predicted) as a Vega-Lite heatmap with counts in the cells. */
import type { TopLevelSpec } from 'vega-lite';
import { PlotError } from './errors.js';

export function confusionMatrixChart(
  matrix: readonly (readonly number[])[],
  classes: readonly string[],
  title = 'Confusion matrix',
): TopLevelSpec {
  const k = classes.length;
  if (k === 0) throw new PlotError('confusion matrix: no classes given');
  if (matrix.length !== k || matrix.some((row) => row.length !== k)) {
    throw new PlotError(
      `confusion matrix: got ${matrix.length} rows of lengths ` +
        `[${matrix.map((r) => r.length).join(', ')}]: expected ${k} x ${k} for ${k} classes`,
    );
  }
  const cells = matrix.flatMap((row, t) =>
    row.map((count, p) => {
      if (!Number.isInteger(count) || count < 0)
        throw new PlotError(`confusion matrix: cell [${t}][${p}] is ${count}: expected a count (integer >= 0)`);
      return { actual: classes[t]!, predicted: classes[p]!, count };
    }),
  );
  const max = Math.max(1, ...cells.map((c) => c.count));
  const order = [...classes];
  const size = Math.max(24, Math.min(48, Math.floor(480 / k)));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: k * size,
    height: k * size,
    data: { values: cells.map((c) => ({ ...c, dark: c.count > max / 2 })) },
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: order, title: 'predicted', axis: { labelAngle: -45 } },
      y: { field: 'actual', type: 'ordinal', sort: order, title: 'true' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: { color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues' }, title: 'images' } },
      },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.dark', value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}
