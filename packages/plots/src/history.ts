/**
 * The notebook's training curves — accuracy and loss against epoch, 'Training' and 'Validation' — as
 * Vega-Lite specs. The points live in a named data source, `history`, so a live chart in the browser can
 * stream new epochs into the same spec.
 */
import type { TopLevelSpec } from 'vega-lite';
import { PlotError } from './errors.js';

export interface HistoryLike {
  trainLoss: readonly number[];
  trainAcc: readonly number[];
  validLoss: readonly number[];
  validAcc: readonly number[];
}

export type Metric = 'accuracy' | 'loss';

/** One point of a curve: what the `history` data source holds. */
export interface CurvePoint {
  epoch: number;
  value: number;
  series: 'Training' | 'Validation';
}

export const HISTORY_DATA = 'history';

const KEYS = { accuracy: ['trainAcc', 'validAcc'], loss: ['trainLoss', 'validLoss'] } as const;

/** The points of one metric's two curves, epochs counted from 1. Checks lengths and values. */
export function curvePoints(history: HistoryLike, metric: Metric): CurvePoint[] {
  const [train, valid] = KEYS[metric].map((key) => {
    const values = history[key];
    if (!Array.isArray(values))
      throw new PlotError(`${metric} chart: history.${key} is missing: expected an array of numbers per epoch`);
    const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
    if (bad >= 0)
      throw new PlotError(
        `${metric} chart: history.${key}[${bad}] is ${String(values[bad])}: expected a finite number`,
      );
    return values;
  }) as unknown as [readonly number[], readonly number[]];
  if (train.length === 0) throw new PlotError(`${metric} chart: the history is empty: expected at least one epoch`);
  if (train.length !== valid.length) {
    throw new PlotError(
      `${metric} chart: history.${KEYS[metric][0]} has ${train.length} epochs but ` +
        `history.${KEYS[metric][1]} has ${valid.length}: expected the same number`,
    );
  }
  return [
    ...train.map((value, i): CurvePoint => ({ epoch: i + 1, value, series: 'Training' })),
    ...valid.map((value, i): CurvePoint => ({ epoch: i + 1, value, series: 'Validation' })),
  ];
}

const TITLES = { accuracy: 'Accuracy vs. No. of epochs', loss: 'Loss vs. No. of epochs' } as const;
// The notebook's colours: accuracy '-rx' training / '-bx' validation, loss the other way round.
const COLOURS = { accuracy: ['#d62728', '#1f77b4'], loss: ['#1f77b4', '#d62728'] } as const;

/** A line chart of one metric. `history` may be empty only for a live chart that will be streamed into. */
export function curveChart(metric: Metric, history?: HistoryLike): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: TITLES[metric],
    width: 420,
    height: 280,
    data: { name: HISTORY_DATA, values: history ? curvePoints(history, metric) : [] },
    // 'x' markers, as matplotlib's '-rx' (an SVG path: Vega's own 'cross' is a '+').
    mark: { type: 'line', point: { shape: 'M-1,-1L1,1M-1,1L1,-1', filled: false, size: 50, strokeWidth: 2 } },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'value', type: 'quantitative', title: metric, scale: { zero: false } },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        scale: { domain: ['Training', 'Validation'], range: [...COLOURS[metric]] },
      },
    },
  };
}

export const accuracyChart = (history: HistoryLike) => curveChart('accuracy', history);
export const lossChart = (history: HistoryLike) => curveChart('loss', history);
