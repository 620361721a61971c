// Evaluates a saved model on a partition and stores what the evaluation panel and the CLI read:
// `evaluation.json` (summary metrics, confusion matrix, per-class metrics) and `predictions.json`
// (every example's scores, so any threshold is recomputed instantly without the model).
import { join } from 'node:path';
import type { ImageSet } from '../data/image-set';
import { loadModel } from '../engine/model/io';
import { predictScores } from '../engine/training/loop';
import type { TestMetrics } from '../shared/protocol';
import { writeJsonAtomic } from '../store/files';
import {
  accuracy,
  bestF1Thresholds,
  confusionMatrix,
  logLoss,
  macroAuc,
  macroAveragePrecision,
  mostConfusedPairs,
  multiLabelMetrics,
  perClass,
  topKAccuracy,
} from './metrics';

export async function evaluateModel(
  modelDir: string,
  set: ImageSet,
  partition: 'TEST' | 'VALIDATION',
  classes: string[],
  multiLabel: boolean,
  outDir: string,
): Promise<TestMetrics> {
  const model = await loadModel(modelDir);
  try {
    const scores = await predictScores(model, set);
    const k = classes.length;
    let metrics: TestMetrics;
    let details: Record<string, unknown>;
    if (multiLabel) {
      const md = { n: set.count, k, scores, truth: set.labels };
      const m = multiLabelMetrics(md);
      // For multi-label data "accuracy" is the per-label accuracy at 0.5 (1 − Hamming loss).
      metrics = {
        partition,
        count: set.count,
        accuracy: m.labelAccuracy,
        macroAuc: m.macroAuc,
        macroAveragePrecision: m.macroAveragePrecision,
        loss: m.hammingLoss,
      };
      details = {
        confusion: [],
        perClass: { auc: m.auc, averagePrecision: m.averagePrecision, support: m.support },
        multiLabelMetrics: { ...m, bestF1Thresholds: bestF1Thresholds(md) },
      };
    } else {
      const d = { n: set.count, k, scores, labels: set.labels as Int32Array };
      metrics = {
        partition,
        count: set.count,
        accuracy: accuracy(d),
        top5Accuracy: k > 5 ? topKAccuracy(d, 5) : undefined,
        macroAuc: macroAuc(d),
        macroAveragePrecision: macroAveragePrecision(d),
        loss: logLoss(d),
      };
      const confusion = confusionMatrix(d);
      details = { confusion, perClass: perClass(d), confusedPairs: mostConfusedPairs(confusion) };
    }
    writeJsonAtomic(join(outDir, 'evaluation.json'), { ...metrics, classes, multiLabel, ...details });
    writeJsonAtomic(join(outDir, 'predictions.json'), {
      partition,
      classes,
      multiLabel,
      itemIds: Array.from(set.itemIds),
      labels: Array.from(set.labels),
      scores: Array.from(scores, (s) => Math.round(s * 1e5) / 1e5),
    });
    return metrics;
  } finally {
    model.dispose();
  }
}
