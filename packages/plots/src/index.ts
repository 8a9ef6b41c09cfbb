export { PlotError } from './errors.js';
export {
  accuracyChart,
  lossChart,
  curveChart,
  curvePoints,
  HISTORY_DATA,
  type HistoryLike,
  type Metric,
  type CurvePoint,
} from './history.js';
export {
  imageGridChart,
  channelHeatmapChart,
  type Images,
  type PixelArray,
  type DatasetLike,
  type Denormalize,
  type ImageGridOptions,
  type ChannelHeatmapOptions,
} from './images.js';
export { confusionMatrixChart } from './confusion.js';
export { compareChart, type ComparedNet } from './compare.js';
export { notebookChart, type LoggedRun } from './notebook.js';
export { featureMapsChart, gradCamChart, type FeatureMapsOptions, type GradCamPanel } from './inside.js';
export { renderSvg, mountChart, updateCurves, type MountedChart } from './render.js';
