// Registration of the project's training kernels for the 'wasm' backend.
//
//   Conv2D, FusedConv2D    register-blocked SIMD loop on the pool's threads when it has
//                          a fused multiply-add, else XNNPACK's; linear, ReLU and ReLU6
//                          applied as it stores (conv-forward.ts)
//   Conv2DBackpropFilter   register-blocked SIMD loop, batch split between threads;
//                          SIMD taps for Cin ≤ 4; else transposed forward convolution
//                          (XNNPACK), batch-chunked (conv-backprop-filter.ts)
//   Conv2DBackpropInput    forward convolution with the flipped filter (the SIMD loop
//                          or XNNPACK); strided: one stride-1 convolution per output
//                          phase (no zero-dilation) (conv-backprop-input.ts)
//   DepthwiseConv2dNative- BackpropFilter / BackpropInput (depthwise-backprop.ts)
//   MaxPoolGrad            first-maximum rule, correct for all-negative windows;
//                          2×2/2 (unpadded or 'same') in SIMD on the pool's threads
//                          (pooling-grad.ts); AvgPoolGrad likewise (in JS); MaxPool
//                          2×2/2 likewise (others: stock)
//   BatchMatMul            single products: the SIMD loop as a 1×1 convolution (with a
//                          fused multiply-add); else explicit transposes + XNNPACK
//                          fully-connected (matmul.ts)
//   Sum / Mean             contiguous leading/middle axes as column sums (reduce.ts)
//   Tile                   row copies (reduce.ts)
//   Identity               shares data instead of copying (the engine clones
//                          every tensor it saves for backprop); so does a Cast
//                          to the same dtype (the gradient of a clone)
//   FusedBatchNorm, Relu, Relu6, ClipByValue: inference passes (BatchNorm with moving
//                          statistics, clamps) in SIMD on the pool's threads; Slice:
//                          contiguous slices as one copy (inference.ts)
//   AutomlBatchNormTrain[Grad], AutomlReluGrad, AutomlAdamWUpdate, AutomlSgdUpdate:
//                          fused one/two-pass kernels (SIMD) used by TrainStep, split
//                          between the pool's threads (split.ts); the BatchNorm pair
//                          optionally with the ReLU that follows it fused in
//   Add                    same-size float32 sums (residual blocks) in SIMD on the
//                          pool's threads (add.ts)
// The SIMD kernels are WebAssembly generated at run time (simd/), operating on
// the backend's heap; the convolution loops run on helper threads that share it
// (simd/threads.ts).
//
// Two kernel sets can be active:
//   'project' — our kernels (fast backprops, fixed MaxPoolGrad, transposing
//               BatchMatMul, row-wise Tile, column-wise Sum/Mean, …);
//   'stock'   — tfjs-backend-wasm's own kernels plus the one kernel it lacks to
//               train a CNN at all, a naive Conv2DBackpropFilter ("stock + naive
//               backprop filter"). Used as the benchmark baseline.
// Switching is cheap and can happen at any time: the engine looks kernels up in
// the global registry on every call. Kernels are registered for 'wasm' only.
import {
  Add,
  Cast,
  AvgPoolGrad,
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  FusedConv2D,
  Conv2DBackpropInput,
  engine,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  getKernel,
  Identity,
  MaxPool,
  MaxPoolGrad,
  Mean,
  registerKernel,
  Sum,
  Tile,
  unregisterKernel,
  type KernelConfig,
  type KernelFunc,
} from '@tensorflow/tfjs-core';
import { conv2D, fusedConv2D } from './conv-forward';
import { conv2DBackpropFilter, naiveConv2DBackpropFilter } from './conv-backprop-filter';
import { conv2DBackpropInput } from './conv-backprop-input';
import { depthwiseConv2dNativeBackpropFilter, depthwiseConv2dNativeBackpropInput } from './depthwise-backprop';
import { captureStockKernel, type KernelArgs } from './kernel-utils';
import { batchMatMul } from './matmul';
import { avgPoolGrad, maxPool, maxPoolGrad } from './pooling-grad';
import { mean, sum, tile } from './reduce';
import { projectExtraKernels } from './fused';
import { inferenceKernels } from './inference';
import { RELU_GRAD_KERNEL, reluGrad, sharedCast, sharedIdentity } from './activation-grad';
import { DROPOUT_MASK_KERNEL, dropoutMaskKernel } from './dropout';
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL, batchNormTrain, batchNormTrainGrad } from './batchnorm';
import { installGradientOverrides } from './gradients';
import { add } from './add';

export type WasmKernelSet = 'stock' | 'project';

type ProjectKernel = (args: KernelArgs) => unknown;

/** Kernels the project replaces or adds, by tfjs kernel name. */
const PROJECT_KERNELS: Record<string, ProjectKernel> = {
  [Conv2D]: conv2D,
  [FusedConv2D]: fusedConv2D,
  [Conv2DBackpropFilter]: conv2DBackpropFilter,
  [Conv2DBackpropInput]: conv2DBackpropInput,
  [DepthwiseConv2dNativeBackpropFilter]: depthwiseConv2dNativeBackpropFilter,
  [DepthwiseConv2dNativeBackpropInput]: depthwiseConv2dNativeBackpropInput,
  [MaxPool]: maxPool,
  [MaxPoolGrad]: maxPoolGrad,
  [AvgPoolGrad]: avgPoolGrad,
  [BatchMatMul]: batchMatMul,
  [Tile]: tile,
  [Sum]: sum,
  [Mean]: mean,
  [Identity]: sharedIdentity,
  [Add]: add,
  [Cast]: sharedCast,
  [RELU_GRAD_KERNEL]: reluGrad,
  [DROPOUT_MASK_KERNEL]: dropoutMaskKernel,
  [BN_TRAIN_KERNEL]: batchNormTrain,
  [BN_TRAIN_GRAD_KERNEL]: batchNormTrainGrad,
  ...projectExtraKernels,
  ...inferenceKernels,
};

const OURS: ReadonlySet<unknown> = new Set(Object.values(PROJECT_KERNELS));

/** What the baseline needs beyond the stock kernels to train convolutions. */
const NAIVE_SHIMS: Record<string, ProjectKernel> = {
  [Conv2DBackpropFilter]: naiveConv2DBackpropFilter,
};

let active: WasmKernelSet | 'none' = 'none';

function install(name: string, kernelFunc: ProjectKernel | undefined, stock: KernelConfig | undefined): void {
  if (getKernel(name, 'wasm') !== undefined) unregisterKernel(name, 'wasm');
  if (kernelFunc !== undefined) {
    registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc as KernelFunc });
  } else if (stock !== undefined) {
    registerKernel(stock);
    // A backend initialised while our kernel was registered never ran the stock
    // kernel's setup (its C function bindings): run it now.
    const backend = engine().registry.wasm;
    if (backend !== undefined) stock.setupFunc?.(backend);
  }
}

/** Makes `set` the active set of wasm kernels (idempotent). */
export function useWasmKernelSet(set: WasmKernelSet): void {
  // Gradients that call project kernels fall back to tfjs-core's own when the
  // active backend lacks them, so they can stay installed in both modes.
  installGradientOverrides();
  if (active === set) return;
  for (const name of Object.keys(PROJECT_KERNELS)) {
    // Remember the stock kernel before the first replacement, so that we can
    // restore it and delegate to it.
    const stock = captureStockKernel(name, OURS);
    install(name, set === 'project' ? PROJECT_KERNELS[name] : stock === undefined ? NAIVE_SHIMS[name] : undefined, stock);
  }
  active = set;
}

/** Registers the project's wasm training kernels (idempotent). */
export function registerWasmTrainingKernels(): void {
  useWasmKernelSet('project');
}

/** Restores the stock kernels plus the naive Conv2DBackpropFilter. */
export function useStockWasmKernels(): void {
  useWasmKernelSet('stock');
}

export function activeWasmKernelSet(): WasmKernelSet | 'none' {
  return active;
}

/** Names of the kernels the project provides for 'wasm'. */
export function projectWasmKernelNames(): string[] {
  return Object.keys(PROJECT_KERNELS);
}
