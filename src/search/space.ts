// The search space: hyperparameters namespaced per block (`convnet/filters`, `train/lr`,
// `aug/flip`), some conditional on the architecture family. Pure logic, no tfjs.
import type { TrialConfig } from '../shared/protocol';

export type ParamValue = number | string | boolean;

interface ParamBase {
  name: string;
  /** The parameter exists only when this holds (e.g. `family === 'resnet'`). */
  when?: { param: string; equals: ParamValue };
}
export interface CategoricalParam extends ParamBase {
  kind: 'choice';
  values: ParamValue[];
}
export interface FloatParam extends ParamBase {
  kind: 'float';
  low: number;
  high: number;
  log: boolean;
}
export interface IntParam extends ParamBase {
  kind: 'int';
  low: number;
  high: number;
  log: boolean;
}
export type Param = CategoricalParam | FloatParam | IntParam;

export interface SpaceOptions {
  /** Input image side chosen for the data (square). */
  imageSizes: number[];
  channels: number;
  numClasses: number;
  /** Include families whose gradients need depthwise kernels. */
  separable: boolean;
  /** A pretrained backbone is available: include the `transfer` family (a new head on it). */
  transfer?: boolean;
}

/**
 * Builds the search space for a dataset. Families: plain conv blocks (the Auto-Keras default),
 * ResNet-style residual networks, MobileNet-style separable blocks and, with a pretrained
 * backbone, transfer learning (a new head; the top fraction of the backbone fine-tuned after the
 * head's warm-up). Training and augmentation hyperparameters are shared by all families.
 */
export function buildSpace(opts: SpaceOptions): Param[] {
  const families: string[] = ['convnet', 'resnet'];
  if (opts.separable) families.push('mobilenet');
  if (opts.transfer) families.push('transfer');
  const p: Param[] = [
    { name: 'family', kind: 'choice', values: families },
    { name: 'input/size', kind: 'choice', values: opts.imageSizes },

    { name: 'convnet/blocks', kind: 'int', low: 2, high: 3, log: false, when: { param: 'family', equals: 'convnet' } },
    { name: 'convnet/filters', kind: 'choice', values: [16, 32, 48, 64], when: { param: 'family', equals: 'convnet' } },
    { name: 'convnet/convs_per_block', kind: 'int', low: 1, high: 2, log: false, when: { param: 'family', equals: 'convnet' } },
    { name: 'convnet/batchnorm', kind: 'choice', values: [true, false], when: { param: 'family', equals: 'convnet' } },
    { name: 'convnet/head', kind: 'choice', values: ['flatten', 'gap'], when: { param: 'family', equals: 'convnet' } },
    { name: 'convnet/dense', kind: 'choice', values: [0, 128, 256], when: { param: 'family', equals: 'convnet' } },
    { name: 'convnet/dropout', kind: 'float', low: 0, high: 0.5, log: false, when: { param: 'family', equals: 'convnet' } },

    { name: 'resnet/depth', kind: 'choice', values: [8, 14, 20], when: { param: 'family', equals: 'resnet' } },
    { name: 'resnet/width', kind: 'choice', values: [16, 24, 32], when: { param: 'family', equals: 'resnet' } },
    { name: 'resnet/dropout', kind: 'float', low: 0, high: 0.3, log: false, when: { param: 'family', equals: 'resnet' } },

    { name: 'mobilenet/width', kind: 'choice', values: [16, 32, 48], when: { param: 'family', equals: 'mobilenet' } },
    { name: 'mobilenet/blocks_per_stage', kind: 'int', low: 1, high: 3, log: false, when: { param: 'family', equals: 'mobilenet' } },
    { name: 'mobilenet/dropout', kind: 'float', low: 0, high: 0.3, log: false, when: { param: 'family', equals: 'mobilenet' } },

    { name: 'transfer/unfreeze', kind: 'choice', values: [0, 0.25, 0.5, 1], when: { param: 'family', equals: 'transfer' } },
    { name: 'transfer/dropout', kind: 'float', low: 0, high: 0.5, log: false, when: { param: 'family', equals: 'transfer' } },

    { name: 'train/optimizer', kind: 'choice', values: ['adamw', 'sgd'] },
    { name: 'train/lr', kind: 'float', low: 3e-4, high: 3e-3, log: true, when: { param: 'train/optimizer', equals: 'adamw' } },
    { name: 'train/sgd_lr', kind: 'float', low: 0.01, high: 0.2, log: true, when: { param: 'train/optimizer', equals: 'sgd' } },
    { name: 'train/weight_decay', kind: 'float', low: 1e-5, high: 5e-4, log: true },
    { name: 'train/schedule', kind: 'choice', values: ['onecycle', 'cosine'] },
    { name: 'train/batch_size', kind: 'choice', values: [64, 128] },
    { name: 'train/label_smoothing', kind: 'choice', values: [0, 0.1] },

    { name: 'aug/crop_pad', kind: 'choice', values: [0, 2, 4] },
    { name: 'aug/flip', kind: 'choice', values: [false, true] },
    { name: 'aug/erase', kind: 'float', low: 0, high: 0.5, log: false },
    { name: 'aug/mix', kind: 'choice', values: ['none', 'mixup', 'cutmix'] },
  ];
  return p;
}

export function isActive(param: Param, config: TrialConfig): boolean {
  return !param.when || config[param.when.param] === param.when.equals;
}

/** Draws a config uniformly (log-uniformly for log params) from the space. */
export function sampleConfig(space: Param[], random: () => number): TrialConfig {
  const config: TrialConfig = {};
  for (const p of space) {
    if (!isActive(p, config)) continue;
    config[p.name] = sampleParam(p, random);
  }
  return config;
}

export function sampleParam(p: Param, random: () => number): ParamValue {
  switch (p.kind) {
    case 'choice':
      return p.values[Math.floor(random() * p.values.length)];
    case 'float':
      return p.log ? Math.exp(Math.log(p.low) + random() * (Math.log(p.high) - Math.log(p.low))) : p.low + random() * (p.high - p.low);
    case 'int': {
      const v = p.log ? Math.exp(Math.log(p.low) + random() * (Math.log(p.high + 1) - Math.log(p.low))) : p.low + random() * (p.high + 1 - p.low);
      return Math.min(p.high, Math.floor(v));
    }
  }
}

/** Fills parameters missing from a partial config (a portfolio entry) with defaults, drops inactive ones. */
export function completeConfig(space: Param[], partial: TrialConfig, random: () => number): TrialConfig {
  const config: TrialConfig = {};
  for (const p of space) {
    if (!isActive(p, config)) continue;
    config[p.name] = p.name in partial && validValue(p, partial[p.name]) ? partial[p.name] : sampleParam(p, random);
  }
  return config;
}

export function validValue(p: Param, v: ParamValue): boolean {
  if (p.kind === 'choice') return p.values.includes(v);
  return typeof v === 'number' && v >= p.low && v <= p.high && (p.kind === 'float' || Number.isInteger(v));
}

/** A stable string key of a config, to avoid proposing the same config twice. */
export function configKey(config: TrialConfig): string {
  return Object.keys(config)
    .sort()
    .map((k) => `${k}=${typeof config[k] === 'number' ? Number((config[k] as number).toPrecision(3)) : config[k]}`)
    .join(';');
}

/** The family-specific learning rate: AdamW and SGD live on different scales. */
export function learningRate(config: TrialConfig): number {
  return config['train/optimizer'] === 'sgd' ? Number(config['train/sgd_lr']) : Number(config['train/lr']);
}

/** Short human description of a config, e.g. `convnet 3×32 bn` or `resnet-14 w24`. */
export function describeConfig(config: TrialConfig): string {
  switch (config.family) {
    case 'convnet':
      return `convnet ${config['convnet/blocks']}×${config['convnet/filters']}${config['convnet/batchnorm'] ? ' bn' : ''} ${config['convnet/head']}`;
    case 'resnet':
      return `resnet-${config['resnet/depth']} w${config['resnet/width']}`;
    case 'mobilenet':
      return `mobilenet w${config['mobilenet/width']}×${config['mobilenet/blocks_per_stage']}`;
    case 'transfer': {
      if (config['transfer/head'] === 'linear') return `transfer, linear head on ${config['transfer/cut']} features (L2 ${config['transfer/l2']})`;
      const open = Number(config['transfer/unfreeze'] ?? 0);
      return `transfer, ${open > 0 ? `top ${Math.round(open * 100)} % fine-tuned` : 'backbone frozen'}`;
    }
    default:
      return String(config.family);
  }
}
