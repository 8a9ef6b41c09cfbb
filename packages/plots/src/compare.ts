/** The notebook's nets side by side: test accuracy against training time, each net a mark sized by its parameters. */
import type { TopLevelSpec } from 'vega-lite';
import { PlotError } from './errors.js';

export interface ComparedNet {
  model: string;
  /** Wall time of its training, in seconds. */
  seconds: number;
  /** Test accuracy in [0, 1]. */
  accuracy: number;
  params: number;
}

export function compareChart(nets: readonly ComparedNet[], { title }: { title?: string } = {}): TopLevelSpec {
  if (!nets.length) throw new PlotError('compare: no nets to draw');
  for (const n of nets)
    if (![n.seconds, n.accuracy, n.params].every(Number.isFinite))
      throw new PlotError(`compare: ${n.model} has a non-finite time, accuracy or parameter count`);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: title ?? 'Test accuracy vs. training time',
    width: 480,
    height: 320,
    data: { values: nets.map((n) => ({ ...n, millions: n.params / 1e6 })) },
    encoding: {
      x: { field: 'seconds', type: 'quantitative', title: 'training time (s)', scale: { zero: true } },
      y: { field: 'accuracy', type: 'quantitative', title: 'test accuracy', axis: { format: '.0%' } },
    },
    layer: [
      {
        mark: { type: 'circle', opacity: 0.6 },
        encoding: {
          size: { field: 'millions', type: 'quantitative', title: 'parameters (M)', scale: { range: [60, 1200] } },
          color: { field: 'model', type: 'nominal', legend: null },
        },
      },
      {
        mark: { type: 'text', dy: -14, fontSize: 11 },
        encoding: { text: { field: 'model', type: 'nominal' } },
      },
    ],
  };
}
