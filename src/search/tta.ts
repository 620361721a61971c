// Whether test-time augmentation (the mean of a model's scores for an image and its mirror image)
// is worth keeping: decided on held-out VALIDATION scores, like the ensemble. Flipping is right for
// photos of objects and wrong for text, digits or anything with a handedness; the data decides.
// Pure: the caller supplies both score sets and the scoring function.

export interface TtaDecision {
  use: boolean;
  plain: { loss: number; accuracy: number };
  flipped: { loss: number; accuracy: number };
  /** Accuracy the flipped mean had to gain. */
  margin: number;
}

/**
 * TTA is kept when it is more accurate on VALIDATION by the margin (0.1 points, and at least two
 * images: on a small set one image is noise) without a worse log loss. It doubles inference time,
 * so a tie keeps the plain model.
 */
export function judgeFlipTta(
  plainScores: Float32Array,
  ttaScores: Float32Array,
  score: (scores: Float32Array) => { loss: number; accuracy: number },
  validationCount: number,
): TtaDecision {
  const plain = score(plainScores);
  const flipped = score(ttaScores);
  const margin = Math.max(0.001, 2 / Math.max(1, validationCount));
  const use = flipped.accuracy >= plain.accuracy + margin - 1e-12 && flipped.loss <= plain.loss;
  return { use, plain, flipped, margin };
}
