// Gradient overrides that route to the project's one-pass kernels when the
// active backend has them (wasm with the project kernels) and otherwise run
// tfjs-core's own gradient, unchanged. The gradient registry is global (not per
// backend), hence the per-call check.
import { getGradient, getKernel, getBackend, registerGradient, engine, Relu, type GradConfig, type Tensor } from '@tensorflow/tfjs-core';
import { RELU_GRAD_KERNEL } from './activation-grad';

let ours: GradConfig | null = null;

function hasKernel(name: string): boolean {
  return getKernel(name, getBackend()) !== undefined;
}

/**
 * Installs the overrides (idempotent; re-installs them if something registered
 * tfjs-core's gradients again after us).
 */
export function installGradientOverrides(): void {
  const current = getGradient(Relu);
  if (current === undefined || current === ours) return; // not registered yet, or already ours
  const stockRelu: GradConfig = current;
  ours = {
    kernelName: Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      if (!hasKernel(RELU_GRAD_KERNEL)) return stockRelu.gradFunc(dy, saved, attrs);
      const [x] = saved;
      return { x: () => engine().runKernel(RELU_GRAD_KERNEL, { dy: dy as Tensor, x }) as Tensor };
    },
  };
  registerGradient(ours);
}
