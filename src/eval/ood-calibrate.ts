// Calibrates the out-of-distribution check of a saved model (./ood.ts): every VALIDATION image's OOD
// score with the model, the threshold 95 % of them stay at or below, and the training images'
// sizes and colour; written to `ood.json` in the model's folder, where prediction reads it.
import { join } from 'node:path';
import type { ImageSet } from '../data/image-set';
import { loadModel } from '../engine/model/io';
import { oodScoreKind, oodScores, scoreInputModel } from '../engine/model/ood-score';
import { predictScores } from '../engine/training/loop';
import type { OodCalibration, TrainingImageStats } from '../shared/protocol';
import { writeJsonAtomic } from '../store/files';
import { calibrateScores, OOD_FILE, OOD_QUANTILE } from './ood';

export async function calibrateOod(
  modelDir: string,
  validation: ImageSet,
  o: { multiLabel: boolean; seenInTraining: boolean; images: TrainingImageStats | undefined; quantile?: number },
): Promise<OodCalibration> {
  const calibration: OodCalibration = { version: 1, ...(o.images ? { images: o.images } : {}) };
  const model = await loadModel(modelDir);
  try {
    const kind = oodScoreKind(model, o.multiLabel);
    if (kind && validation.count > 0) {
      const values = await predictScores(scoreInputModel(model, kind), validation);
      const k = values.length / validation.count;
      const scores = oodScores(values, validation.count, k, kind);
      calibration.score = calibrateScores(scores, kind, o.seenInTraining, o.quantile ?? OOD_QUANTILE);
    }
  } finally {
    model.dispose();
  }
  writeJsonAtomic(join(modelDir, OOD_FILE), calibration);
  return calibration;
}
