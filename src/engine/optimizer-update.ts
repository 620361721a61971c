// Per-parameter optimizer updates with decoupled weight decay. The returned
// state tensors are the given ones when they were updated in place.
//
// AdamW (Loshchilov & Hutter; PyTorch's formulation):
//   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//   θ ← θ − lr·( (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε) + wd·θ )
// SGD with momentum (PyTorch's formulation, decoupled decay = SGDW):
//   b ← μ·b + g,  d = nesterov ? g + μ·b : b,  θ ← θ − lr·(d + wd·θ)
//
// On a backend with the project's fused kernel (wasm), one kernel call reads
// θ, g and the state once and writes the new θ; the state tensors are updated
// in place (they are private to the TrainStep). Elsewhere the same arithmetic
// runs as ordinary tf ops.
import * as tf from '@tensorflow/tfjs-core';

export const ADAMW_KERNEL = 'AutomlAdamWUpdate';
export const SGD_KERNEL = 'AutomlSgdUpdate';

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** 1-based step count (bias correction). */
  step: number;
}

export interface SgdHyper {
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/** Whether the current backend has the project's fused optimizer kernels. */
export function fusedKernelsAvailable(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(ADAMW_KERNEL, backend) !== undefined && tf.getKernel(SGD_KERNEL, backend) !== undefined;
}

export function adamwUpdate(
  fused: boolean, param: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, h: AdamWHyper,
): { param: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  if (fused) {
    // In place on m and v; returns the new θ.
    const out = tf.engine().runKernel(ADAMW_KERNEL, { param, grad, m, v }, { ...h }) as tf.Tensor;
    return { param: out, m, v };
  }
  return tf.tidy(() => {
    const bc1 = 1 - Math.pow(h.beta1, h.step);
    const bc2 = 1 - Math.pow(h.beta2, h.step);
    const m2 = tf.add(tf.mul(m, h.beta1), tf.mul(grad, 1 - h.beta1));
    const v2 = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(grad), 1 - h.beta2));
    let step = tf.div(tf.div(m2, bc1), tf.add(tf.sqrt(tf.div(v2, bc2)), h.epsilon));
    if (h.weightDecay !== 0) step = tf.add(step, tf.mul(param, h.weightDecay));
    const p2 = tf.sub(param, tf.mul(step, h.lr));
    return { param: p2, m: m2, v: v2 };
  });
}

export function sgdUpdate(
  fused: boolean, param: tf.Tensor, grad: tf.Tensor, buf: tf.Tensor, h: SgdHyper,
): { param: tf.Tensor; m: tf.Tensor } {
  if (fused) {
    const out = tf.engine().runKernel(SGD_KERNEL, { param, grad, buf }, { ...h }) as tf.Tensor;
    return { param: out, m: buf };
  }
  return tf.tidy(() => {
    const b2 = h.momentum !== 0 ? tf.add(tf.mul(buf, h.momentum), grad) : tf.clone(grad);
    let d = h.nesterov ? tf.add(grad, tf.mul(b2, h.momentum)) : b2;
    if (h.weightDecay !== 0) d = tf.add(d, tf.mul(param, h.weightDecay));
    const p2 = tf.sub(param, tf.mul(d, h.lr));
    return { param: p2, m: b2 };
  });
}
