/**
 * `convnets train --from W`: a trained net as the start of another task, torchvision's fine-tuning recipe. The net
 * and its input (size, channels, normalisation) come from W's model card; a task with other classes gets a new head;
 * `--freeze` turns gradients off for part of the net (its BatchNorm layers keep their statistics); `--head-lr` gives
 * the classifier its own peak learning rate.
 */
import { featurePaths, getModelInfo, replaceHead } from '@convnets/architectures';
import { freeze, getModule, type Module } from '@convnets/nn';
import type { ModelCard, ParamGroup } from '@convnets/trainer';
import { cardOf, loadNet, readWeights } from './weights.js';

export interface FineTuneFlags {
  from?: string;
  freeze?: string;
  headLr?: number;
  lr: number;
  seed: number;
  model: string;
  imageSize?: number;
}

/** The start a `--from` run takes: the weights' card (read before the data, which it shapes) and the file. */
export interface FineTuneStart {
  card: ModelCard;
  /** The net with the weights loaded (they are then freed). */
  load: () => Promise<Module>;
  /** Frees the weights where `load` is not called (the run stopped before). */
  dispose: () => void;
}

/** Reads `--from`'s card; `modelGiven`: whether `--model` was on the command line (not its default). */
export async function readStart(flags: FineTuneFlags, modelGiven: boolean): Promise<FineTuneStart | undefined> {
  if (!flags.from) {
    for (const [flag, set] of [
      ['--freeze', flags.freeze !== undefined],
      ['--head-lr', flags.headLr !== undefined],
    ] as const) {
      if (set) throw new Error(`${flag} needs --from: the trained weights to fine-tune`);
    }
    return undefined;
  }
  const weights = await readWeights(flags.from, '--from');
  const card = cardOf(weights);
  const dispose = () => {
    for (const t of weights.tensors.values()) t.dispose();
  };
  const refuse = (why: string) => {
    dispose();
    throw new Error(`--from: ${flags.from} ${why}`);
  };
  if (!card) return refuse('has no model card (weights saved by convnets train have one): its input is not known');
  if (modelGiven && flags.model !== card.model) return refuse(`holds a ${card.model}, not a ${flags.model} (--model)`);
  if (flags.imageSize !== undefined && flags.imageSize !== card.inputSize)
    return refuse(
      `was trained at ${card.inputSize}x${card.inputSize}: fine-tuning keeps its input size, not ${flags.imageSize}`,
    );
  return {
    card,
    load: async () => loadNet(weights, { model: card.model }, { inChannels: card.inChannels, numClasses: 0 }).model,
    dispose,
  };
}

/** What `prepare` made of the start: the net to train, its optimizer's groups, and lines to print. */
export interface FineTune {
  model: Module;
  groups: ParamGroup[];
  fineTunedFrom: NonNullable<ModelCard['fineTunedFrom']>;
  report: string[];
}

const count = (n: number) => n.toLocaleString('en-US');

/** The classes, or for many (ImageNet's 1000) their count and the first few. */
const someClasses = (classes: readonly string[]) =>
  classes.length <= 10 ? classes.join(', ') : `${classes.length} classes: ${classes.slice(0, 3).join(', ')}, ...`;

/** The net to fine-tune for `classes`: a new head where they differ from the card's, frozen parts, groups. */
export async function prepare(
  start: FineTuneStart,
  classes: readonly string[],
  flags: FineTuneFlags,
): Promise<FineTune> {
  const model = await start.load();
  try {
    const report = [
      `fine-tuning ${start.card.model} from ${flags.from} (trained for ${someClasses(start.card.classes)})`,
    ];
    if (start.card.classes.join('\n') !== classes.join('\n')) {
      replaceHead(model, classes.length, { seed: flags.seed });
      report.push(`a new head for ${classes.length} classes: ${classes.join(', ')}`);
    }
    if (flags.freeze !== undefined) {
      const paths = flags.freeze === 'features' ? featurePaths(model) : flags.freeze.split(',').map((p) => p.trim());
      try {
        freeze(model, paths, { freezeBatchNorm: true });
      } catch (err) {
        throw new Error(`--freeze: ${(err as Error).message.replace(/^freeze: /, '')}`);
      }
    }
    report.push(
      `trainable parameters: ${count(model.numParameters('trainable'))}, frozen: ${count(model.numParameters('frozen'))}`,
    );
    const groups: ParamGroup[] = [];
    if (flags.headLr !== undefined) {
      // The classifier: the top-level modules after the features (its head, and any layers before it there).
      const { classifierStart } = getModelInfo(start.card.model).head;
      const classifier = [...model.namedChildren()]
        .slice(classifierStart)
        .flatMap(([path]) => getModule(model, path).parameters());
      if (flags.lr === 0)
        throw new Error('--head-lr needs a non-zero --lr: the classifier learns at --head-lr / --lr times it');
      groups.push({ params: classifier, lrScale: flags.headLr / flags.lr });
      report.push(`the classifier learns at --head-lr ${flags.headLr}, the rest at --lr ${flags.lr} (peaks)`);
    }
    return { model, groups, fineTunedFrom: { weights: flags.from!, classes: [...start.card.classes] }, report };
  } catch (err) {
    model.dispose();
    throw err;
  }
}
