/** Input a chart cannot be drawn from: names the chart, the input, and what was expected. */
export class PlotError extends Error {
  override name = 'PlotError';
}
