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
// in place (they are private to the TrainStep). On a backend with the split
// kernels (webgpu: a program writes one output), each state tensor and θ take
// one kernel each and come back as new tensors. Elsewhere the same arithmetic
// runs as ordinary tf ops.
import * as tf from '@tensorflow/tfjs-core';

export const ADAMW_KERNEL = 'AutomlAdamWUpdate';
export const SGD_KERNEL = 'AutomlSgdUpdate';
/** Split kernels: s ← decay·s + scale·(g or g²); the AdamW and SGD weight updates from the new state. */
export const MOMENT_KERNEL = 'AutomlMoment';
export const ADAMW_PARAM_KERNEL = 'AutomlAdamWParam';
export const SGD_PARAM_KERNEL = 'AutomlSgdParam';

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

/** Whether the current backend has the split optimizer kernels (one output each). */
export function splitKernelsAvailable(): boolean {
  const backend = tf.getBackend();
  return [MOMENT_KERNEL, ADAMW_PARAM_KERNEL, SGD_PARAM_KERNEL].every((k) => tf.getKernel(k, backend) !== undefined);
}

/** Whether the current backend has the project's fused optimizer kernels. */
export function fusedKernelsAvailable(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(ADAMW_KERNEL, backend) !== undefined && tf.getKernel(SGD_KERNEL, backend) !== undefined;
}

export function adamwUpdate(
  fused: boolean,
  param: tf.Tensor,
  grad: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  h: AdamWHyper,
): { param: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  if (fused) {
    // In place on m and v; returns the new θ.
    const out = tf.engine().runKernel(ADAMW_KERNEL, { param, grad, m, v }, { ...h }) as tf.Tensor;
    return { param: out, m, v };
  }
  const bc1 = 1 - Math.pow(h.beta1, h.step);
  const bc2 = 1 - Math.pow(h.beta2, h.step);
  if (splitKernelsAvailable()) {
    const e = tf.engine();
    const m2 = e.runKernel(MOMENT_KERNEL, { s: m, g: grad }, { decay: h.beta1, scale: 1 - h.beta1, square: false }) as tf.Tensor;
    const v2 = e.runKernel(MOMENT_KERNEL, { s: v, g: grad }, { decay: h.beta2, scale: 1 - h.beta2, square: true }) as tf.Tensor;
    const p2 = e.runKernel(ADAMW_PARAM_KERNEL, { p: param, m: m2, v: v2 }, { lr: h.lr, bc1, bc2, epsilon: h.epsilon, weightDecay: h.weightDecay }) as tf.Tensor;
    return { param: p2, m: m2, v: v2 };
  }
  return tf.tidy(() => {
    const m2 = tf.add(tf.mul(m, h.beta1), tf.mul(grad, 1 - h.beta1));
    const v2 = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(grad), 1 - h.beta2));
    let step = tf.div(tf.div(m2, bc1), tf.add(tf.sqrt(tf.div(v2, bc2)), h.epsilon));
    if (h.weightDecay !== 0) step = tf.add(step, tf.mul(param, h.weightDecay));
    const p2 = tf.sub(param, tf.mul(step, h.lr));
    return { param: p2, m: m2, v: v2 };
  });
}

export function sgdUpdate(fused: boolean, param: tf.Tensor, grad: tf.Tensor, buf: tf.Tensor, h: SgdHyper): { param: tf.Tensor; m: tf.Tensor } {
  if (fused) {
    const out = tf.engine().runKernel(SGD_KERNEL, { param, grad, buf }, { ...h }) as tf.Tensor;
    return { param: out, m: buf };
  }
  if (splitKernelsAvailable()) {
    const e = tf.engine();
    const b2 = e.runKernel(MOMENT_KERNEL, { s: buf, g: grad }, { decay: h.momentum, scale: 1, square: false }) as tf.Tensor;
    const p2 = e.runKernel(
      SGD_PARAM_KERNEL,
      { p: param, g: grad, b: b2 },
      { lr: h.lr, momentum: h.momentum, nesterov: h.nesterov, weightDecay: h.weightDecay },
    ) as tf.Tensor;
    return { param: p2, m: b2 };
  }
  return tf.tidy(() => {
    const b2 = h.momentum !== 0 ? tf.add(tf.mul(buf, h.momentum), grad) : tf.clone(grad);
    let d = h.nesterov ? tf.add(grad, tf.mul(b2, h.momentum)) : b2;
    if (h.weightDecay !== 0) d = tf.add(d, tf.mul(param, h.weightDecay));
    const p2 = tf.sub(param, tf.mul(d, h.lr));
    return { param: p2, m: b2 };
  });
}
