// Maps a trial config to the training step's options (optimizer, weight decay, label smoothing).
import type * as tfl from '@tensorflow/tfjs-layers';
import type { TrialConfig } from '../../shared/protocol';
import { learningRate } from '../../search/space';
import { logitsModel } from '../model/build';
import { TrainStep } from './step';

export function createStepper(model: tfl.LayersModel, config: TrialConfig, multiLabel: boolean): TrainStep {
  const sgd = config['train/optimizer'] === 'sgd';
  return new TrainStep(logitsModel(model), {
    optimizer: sgd ? 'sgd' : 'adamw',
    learningRate: learningRate(config),
    weightDecay: Number(config['train/weight_decay'] ?? 0),
    momentum: 0.9,
    nesterov: sgd,
    labelSmoothing: Number(config['train/label_smoothing'] ?? 0),
    multiLabel,
  });
}
