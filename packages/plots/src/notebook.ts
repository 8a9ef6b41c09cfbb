/**
 * A run of the notebook's experiments beside the notebook's own log: validation accuracy against epoch, one panel
 * per experiment, convnets' run and the notebook's logged numbers as two lines.
 */
import type { TopLevelSpec } from 'vega-lite';
import { PlotError } from './errors.js';

export interface LoggedRun {
  experiment: string;
  /** Validation accuracy per epoch, in [0, 1], of this run ... */
  validAcc: readonly number[];
  /** ... and as the notebook logged it (10 epochs; the run may have fewer). */
  notebookValidAcc: readonly number[];
}

export function notebookChart(runs: readonly LoggedRun[], { title }: { title?: string } = {}): TopLevelSpec {
  if (!runs.length) throw new PlotError('notebook chart: no experiments to draw');
  const values = runs.flatMap((run) => {
    for (const [series, accs] of [
      ['validAcc', run.validAcc],
      ['notebookValidAcc', run.notebookValidAcc],
    ] as const) {
      const bad = accs.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new PlotError(`notebook chart: ${run.experiment}'s ${series}[${bad}] is not a finite number`);
    }
    return [
      ...run.validAcc.map((value, i) => ({ experiment: run.experiment, epoch: i + 1, value, series: 'convnets' })),
      ...run.notebookValidAcc.map((value, i) => ({
        experiment: run.experiment,
        epoch: i + 1,
        value,
        series: 'the notebook',
      })),
    ];
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: title ?? 'Validation accuracy vs. epoch: convnets beside the notebook',
    data: { values },
    facet: { field: 'experiment', type: 'nominal', title: null, sort: runs.map((r) => r.experiment) },
    columns: 4,
    spec: {
      width: 200,
      height: 150,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'value', type: 'quantitative', title: 'valid accuracy', axis: { format: '.0%' } },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          scale: { domain: ['convnets', 'the notebook'], range: ['#d62728', '#7f7f7f'] },
        },
      },
    },
  };
}
