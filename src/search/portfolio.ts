// Known-good starting configurations, tried before any proposal so that the first minutes of a
// search already produce a strong model (the "portfolio" idea of Auto-sklearn 2.0). Each entry is
// partial: the rest is filled from the space. Ordered by what tends to win on small budgets.
import type { TrialConfig } from '../shared/protocol';

export function portfolio(opts: { separable: boolean; transfer?: boolean }): TrialConfig[] {
  const list: TrialConfig[] = [
    // A plain 2-conv network: the fast, strong baseline of small-image tasks.
    {
      family: 'convnet',
      'convnet/blocks': 2,
      'convnet/filters': 32,
      'convnet/convs_per_block': 1,
      'convnet/batchnorm': false,
      'convnet/head': 'flatten',
      'convnet/dense': 128,
      'convnet/dropout': 0.25,
      'train/optimizer': 'adamw',
      'train/lr': 1e-3,
      'train/weight_decay': 5e-5,
      'train/schedule': 'onecycle',
      'train/batch_size': 64,
      'train/label_smoothing': 0,
      'aug/crop_pad': 2,
      'aug/flip': true,
      'aug/erase': 0,
      'aug/mix': 'none',
    },
    // The Auto-Keras default shape: conv-BN-ReLU ×2 per block, three blocks, global pooling.
    {
      family: 'convnet',
      'convnet/blocks': 3,
      'convnet/filters': 32,
      'convnet/convs_per_block': 2,
      'convnet/batchnorm': true,
      'convnet/head': 'gap',
      'convnet/dense': 0,
      'convnet/dropout': 0.2,
      'train/optimizer': 'adamw',
      'train/lr': 2e-3,
      'train/weight_decay': 1e-4,
      'train/schedule': 'onecycle',
      'train/batch_size': 128,
      'train/label_smoothing': 0.1,
      'aug/crop_pad': 2,
      'aug/flip': true,
      'aug/erase': 0.25,
      'aug/mix': 'none',
    },
    // A small residual network with SGD + Nesterov, the classic CIFAR recipe.
    {
      family: 'resnet',
      'resnet/depth': 8,
      'resnet/width': 16,
      'resnet/dropout': 0,
      'train/optimizer': 'sgd',
      'train/sgd_lr': 0.1,
      'train/weight_decay': 2e-4,
      'train/schedule': 'onecycle',
      'train/batch_size': 128,
      'train/label_smoothing': 0.1,
      'aug/crop_pad': 4,
      'aug/flip': true,
      'aug/erase': 0,
      'aug/mix': 'none',
    },
  ];
  // With a pretrained backbone, its features usually beat anything trained from scratch on the
  // same data: a new head with the top quarter fine-tuned goes first.
  if (opts.transfer) list.unshift(TRANSFER);
  if (opts.separable) {
    list.push({
      family: 'mobilenet',
      'mobilenet/width': 32,
      'mobilenet/blocks_per_stage': 1,
      'mobilenet/dropout': 0.1,
      'train/optimizer': 'adamw',
      'train/lr': 2e-3,
      'train/weight_decay': 1e-4,
      'train/schedule': 'onecycle',
      'train/batch_size': 128,
      'train/label_smoothing': 0.1,
      'aug/crop_pad': 2,
      'aug/flip': true,
      'aug/erase': 0,
      'aug/mix': 'none',
    });
  }
  return list;
}

const TRANSFER: TrialConfig = {
  family: 'transfer',
  'transfer/unfreeze': 0.25,
  'transfer/dropout': 0.2,
  'train/optimizer': 'adamw',
  'train/lr': 1e-3,
  'train/weight_decay': 1e-4,
  'train/schedule': 'onecycle',
  'train/batch_size': 64,
  'train/label_smoothing': 0.1,
  'aug/crop_pad': 2,
  'aug/flip': true,
  'aug/erase': 0,
  'aug/mix': 'none',
};

/**
 * The configuration a budget too short for a search trains (see planSearch's searchWorthwhile): the
 * portfolio's first network without crop augmentation, which trades slower learning for less
 * overfitting that a network seeing only a few epochs does not need. The mirror-image flip stays: it
 * costs little in speed of learning, and it lets test-time augmentation average the mirror image in.
 */
export function shortBudgetConfig(opts: { separable: boolean; transfer?: boolean }): TrialConfig {
  return { ...portfolio(opts)[0], 'aug/crop_pad': 0, 'aug/erase': 0, 'aug/mix': 'none' };
}
