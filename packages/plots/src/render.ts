/**
 * Rendering a chart description (a Vega-Lite spec): to an SVG string anywhere, or live into a page element
 * whose data can be replaced as training goes on. PNG files are in `@convnets/plots/node`.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { curvePoints, HISTORY_DATA, type HistoryLike, type Metric } from './history.js';

function view(spec: TopLevelSpec, options: ConstructorParameters<typeof vega.View>[1] = {}): vega.View {
  return new vega.View(vega.parse(compile(spec).spec), { renderer: 'none', ...options });
}

/** The chart as a standalone SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const v = view(spec);
  try {
    return await v.toSVG();
  } finally {
    v.finalize();
  }
}

export interface MountedChart {
  view: vega.View;
  /** Replaces the rows of a named data source (e.g. `history`) and re-renders. */
  setData(name: string, rows: object[]): Promise<void>;
  finalize(): void;
}

/** Renders a chart into a page element (canvas by default; 'svg' for crisp text), or headless without one. */
export async function mountChart(
  element: HTMLElement | undefined,
  spec: TopLevelSpec,
  renderer: 'canvas' | 'svg' = 'canvas',
): Promise<MountedChart> {
  const v = element ? view(spec, { renderer, container: element, hover: true }) : view(spec);
  await v.runAsync();
  return {
    view: v,
    async setData(name, rows) {
      // resize(): re-run the layout, so axes make room for labels the new data brings.
      await v
        .change(
          name,
          vega
            .changeset()
            .remove(() => true)
            .insert(rows),
        )
        .resize()
        .runAsync();
    },
    finalize: () => v.finalize(),
  };
}

/** Streams a training history into mounted accuracy/loss curves (made with `curveChart(metric)`). */
export async function updateCurves(chart: MountedChart, metric: Metric, history: HistoryLike): Promise<void> {
  await chart.setData(HISTORY_DATA, history.trainLoss.length === 0 ? [] : curvePoints(history, metric));
}
