// Calibrates the out-of-distribution check of a saved model (./ood.ts): every VALIDATION image's OOD
// score with the model, the threshold 95 % of them stay at or below, and the training images'
// sizes and colour; written to `ood.json` in the model's folder, where prediction reads it.
import { join } from 'node:path';
import { type ImageSet, readRows } from '../data/image-set';
import { loadModel } from '../engine/model/io';
import { borderBrightness, oodScoreKind, oodScores, scoreInputModel } from '../engine/model/ood-score';
import { predictScores } from '../engine/training/loop';
import type { OodCalibration, TrainingImageStats } from '../shared/protocol';
import { writeJsonAtomic } from '../store/files';
import { calibrateScores, OOD_FILE, OOD_QUANTILE, spreadOf } from './ood';

export async function calibrateOod(
  modelDir: string,
  validation: ImageSet,
  o: { multiLabel: boolean; seenInTraining: boolean; images: TrainingImageStats | undefined; train?: ImageSet; quantile?: number },
): Promise<OodCalibration> {
  const images = o.images && o.train && o.train.count > 0 ? { ...o.images, border: spreadOf(borders(o.train)) } : o.images;
  const calibration: OodCalibration = { version: 1, ...(images ? { images } : {}) };
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

/** The border brightness of up to `sample` training images spread evenly over the set. */
function borders(set: ImageSet, sample = 2000): number[] {
  const n = Math.min(sample, set.count);
  const positions = Array.from({ length: n }, (_, k) => Math.floor((k * set.count) / n));
  const size = set.height * set.width * set.channels;
  const rows = readRows(set, positions);
  return positions.map((_, k) => borderBrightness(rows, set.height, set.width, set.channels, k * size));
}
