// The hot training step: forward (training mode), loss, backward, optimizer
// update with decoupled weight decay. Works on any tfjs backend; on 'wasm' with
// the project's kernels registered it uses fused kernels where they exist.
//
// Metrics without syncs: reading a scalar back forces the CPU to wait for the
// step, so `run` returns the batch loss and correct count as tensors owned by
// the TrainStep (valid until the next `run`), and also adds them to on-device
// running sums. Call `takeMetrics()` (one sync) every N steps / once per epoch.
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { fusedKernelsAvailable, sgdUpdate, adamwUpdate } from '../runtime/optimizer-update';
import { enableFusedLayers } from './fused-layers';

export type OptimizerName = 'adamw' | 'sgd';

export interface TrainStepOptions {
  optimizer: OptimizerName;
  learningRate: number;
  /** Decoupled weight decay (AdamW / SGDW): θ ← θ − lr·wd·θ, applied to kernels only (rank ≥ 2). */
  weightDecay: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  nesterov?: boolean;
  /** ε of label smoothing: targets become y·(1−ε) + ε/K (K = classes; 2 for multi-label). */
  labelSmoothing: number;
  /** Sigmoid binary cross-entropy per label instead of softmax cross-entropy. */
  multiLabel: boolean;
  /** Adam β1, β2, ε (defaults 0.9, 0.999, 1e-7). */
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Also decay biases and normalisation parameters (default false). */
  decayAllParameters?: boolean;
}

export interface StepResult {
  /** Mean loss of the batch (scalar, owned by the TrainStep: valid until the next run). */
  loss: tf.Scalar;
  /** Correct predictions in the batch (scalar; per label for multi-label). */
  correct: tf.Scalar;
  /** What `correct` counts out of: batch size, or batch × labels for multi-label. */
  total: number;
}

export interface StepMetrics {
  /** Mean loss over the samples since the last call. */
  loss: number;
  /** correct / total since the last call. */
  accuracy: number;
  samples: number;
  steps: number;
}

interface ParamState {
  variable: tf.Variable;
  decay: boolean;
  /** AdamW: first/second moments. SGD: momentum buffer in m. */
  m: tf.Tensor | null;
  v: tf.Tensor | null;
}

/** Loss and correct count from logits (shared with the reference implementation in the tests). */
export function lossAndCorrect(logits: tf.Tensor2D, y: tf.Tensor2D, labelSmoothing: number, multiLabel: boolean): { loss: tf.Scalar; correct: tf.Scalar } {
  return tf.tidy(() => {
    const k = y.shape[1];
    if (multiLabel) {
      const target = labelSmoothing > 0 ? tf.add(tf.mul(y, 1 - labelSmoothing), labelSmoothing / 2) : y;
      // max(z, 0) − z·t + log(1 + e^(−|z|)): stable sigmoid cross-entropy.
      const perLabel = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, target)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
      const loss = tf.mean(perLabel) as tf.Scalar;
      const predicted = tf.greater(logits, 0);
      const actual = tf.greater(y, 0.5);
      const correct = tf.sum(tf.cast(tf.equal(predicted, actual), 'float32')) as tf.Scalar;
      return { loss, correct };
    }
    const target = labelSmoothing > 0 ? tf.add(tf.mul(y, 1 - labelSmoothing), labelSmoothing / k) : y;
    const logProb = tf.logSoftmax(logits);
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(target, logProb), 1))) as tf.Scalar;
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32')) as tf.Scalar;
    return { loss, correct };
  });
}

export class TrainStep {
  private readonly model: LayersModel;
  private readonly opts: Required<Omit<TrainStepOptions, 'momentum' | 'nesterov'>> & { momentum: number; nesterov: boolean };
  private readonly params: ParamState[];
  private lr: number;
  private t = 0;
  private last: StepResult | null = null;
  private lossSum: tf.Scalar | null = null;
  private correctSum: tf.Scalar | null = null;
  private samples = 0;
  private totalCount = 0;
  private steps = 0;

  constructor(model: LayersModel, options: TrainStepOptions) {
    this.model = model;
    this.opts = {
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-7,
      decayAllParameters: false,
      ...options,
      momentum: options.momentum ?? 0.9,
      nesterov: options.nesterov ?? false,
    };
    this.lr = options.learningRate;
    // Training-mode fast paths on the model's layers (fused BatchNorm when the
    // backend has it; no input gradient for the first convolution).
    enableFusedLayers(model);
    this.params = model.trainableWeights.map((w) => {
      const variable = w.read() as tf.Variable;
      return { variable, decay: this.opts.decayAllParameters || variable.rank >= 2, m: null, v: null };
    });
  }

  setLearningRate(lr: number): void {
    this.lr = lr;
  }

  get learningRate(): number {
    return this.lr;
  }

  /** Steps taken so far (the Adam bias-correction counter). */
  get iterations(): number {
    return this.t;
  }

  /**
   * One optimisation step on a batch. Safe to call inside tf.tidy (the state it
   * keeps is marked with tf.keep). The returned tensors stay valid until the
   * next run(), takeMetrics() does not invalidate them.
   */
  run(x: tf.Tensor4D, y: tf.Tensor2D): StepResult {
    this.disposeLast();
    const { labelSmoothing, multiLabel } = this.opts;
    const out: { correct?: tf.Scalar } = {};
    const vars = this.params.map((p) => p.variable);
    const { value, grads } = tf.variableGrads(() => {
      const logits = this.model.apply(x, { training: true }) as tf.Tensor2D;
      const r = lossAndCorrect(logits, y, labelSmoothing, multiLabel);
      out.correct = tf.keep(r.correct); // not part of the loss: keep it past the forward tidy
      // Layer regularizers, if the model has any (as model.fit adds them).
      const extra = this.model.calculateLosses();
      return extra.length === 0 ? r.loss : (tf.addN([r.loss, ...extra]) as tf.Scalar);
    }, vars);
    this.t += 1;
    this.applyUpdates(grads);
    for (const name of Object.keys(grads)) grads[name].dispose();

    const total = multiLabel ? y.shape[0] * y.shape[1] : y.shape[0];
    const correct = out.correct!;
    this.accumulate(value, correct, y.shape[0], total);
    // Kept: run() may be called inside the caller's tf.tidy.
    this.last = { loss: tf.keep(value), correct, total };
    return this.last;
  }

  /** Reads (one sync) and resets the running loss/accuracy sums. */
  async takeMetrics(): Promise<StepMetrics> {
    const out: StepMetrics = { loss: NaN, accuracy: NaN, samples: this.samples, steps: this.steps };
    if (this.lossSum !== null && this.correctSum !== null && this.samples > 0) {
      const [l, c] = await Promise.all([this.lossSum.data(), this.correctSum.data()]);
      out.loss = l[0] / this.samples;
      out.accuracy = c[0] / this.totalCount;
    }
    this.lossSum?.dispose();
    this.correctSum?.dispose();
    this.lossSum = null;
    this.correctSum = null;
    this.samples = 0;
    this.totalCount = 0;
    this.steps = 0;
    return out;
  }

  /** Frees the optimizer state and the last result. */
  dispose(): void {
    this.disposeLast();
    for (const p of this.params) {
      p.m?.dispose();
      p.v?.dispose();
      p.m = null;
      p.v = null;
    }
    this.lossSum?.dispose();
    this.correctSum?.dispose();
    this.lossSum = null;
    this.correctSum = null;
  }

  private disposeLast(): void {
    if (this.last !== null) {
      this.last.loss.dispose();
      this.last.correct.dispose();
      this.last = null;
    }
  }

  private accumulate(loss: tf.Scalar, correct: tf.Scalar, batch: number, total: number): void {
    const prevL = this.lossSum;
    const prevC = this.correctSum;
    this.lossSum = tf.keep(tf.tidy(() => (prevL === null ? tf.mul(loss, batch) : tf.add(prevL, tf.mul(loss, batch)))) as tf.Scalar);
    this.correctSum = tf.keep(tf.tidy(() => (prevC === null ? tf.clone(correct) : tf.add(prevC, correct))) as tf.Scalar);
    prevL?.dispose();
    prevC?.dispose();
    this.samples += batch;
    this.totalCount += total;
    this.steps += 1;
  }

  private applyUpdates(grads: tf.NamedTensorMap): void {
    const o = this.opts;
    const fused = fusedKernelsAvailable();
    for (const p of this.params) {
      const g = grads[p.variable.name];
      if (g === undefined) continue;
      const wd = p.decay ? o.weightDecay : 0;
      if (o.optimizer === 'adamw') {
        if (p.m === null) p.m = tf.keep(tf.zerosLike(p.variable));
        if (p.v === null) p.v = tf.keep(tf.zerosLike(p.variable));
        const r = adamwUpdate(fused, p.variable, g, p.m, p.v, {
          lr: this.lr,
          beta1: o.beta1,
          beta2: o.beta2,
          epsilon: o.epsilon,
          weightDecay: wd,
          step: this.t,
        });
        p.variable.assign(r.param);
        r.param.dispose();
        if (r.m !== p.m) {
          p.m.dispose();
          p.m = tf.keep(r.m);
        }
        if (r.v !== p.v) {
          p.v.dispose();
          p.v = tf.keep(r.v);
        }
      } else {
        if (p.m === null) p.m = tf.keep(tf.zerosLike(p.variable));
        const r = sgdUpdate(fused, p.variable, g, p.m, {
          lr: this.lr,
          momentum: o.momentum,
          nesterov: o.nesterov,
          weightDecay: wd,
        });
        p.variable.assign(r.param);
        r.param.dispose();
        if (r.m !== p.m) {
          p.m.dispose();
          p.m = tf.keep(r.m);
        }
      }
    }
  }
}
