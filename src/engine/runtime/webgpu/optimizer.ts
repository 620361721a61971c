// Optimizer updates for the WebGPU backend: each state tensor and the new weights in one WGSL
// dispatch each, with the hyperparameters as uniforms. The op-by-op AdamW costs about 12 kernels
// per weight tensor, each with its scalar operands uploaded as new GPU buffers; a CPU profile of
// a WebGPU training step in Node put half of its time there. WebGPU programs write one output,
// so the state is not updated in place (as the wasm kernels do): three dispatches for AdamW, two
// for SGD, returning new tensors.
//
// tfjs-backend-webgpu is passed in rather than imported: it registers its backend only if
// `navigator.gpu` exists when it is first loaded (see backend.ts).
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { MOMENT_KERNEL, ADAMW_PARAM_KERNEL, SGD_PARAM_KERNEL } from '../optimizer-update';

/** What this module needs from tfjs-backend-webgpu's exports. */
export interface WebgpuModule {
  webgpu_util: {
    flatDispatchLayout(shape: number[]): { x: number[] };
    computeDispatch(layout: { x: number[] }, outputShape: number[], workgroupSize?: [number, number, number]): [number, number, number];
  };
}

export interface WebgpuBackendLike {
  runWebGPUProgram(program: object, inputs: TensorInfo[], outputDtype: 'float32', uniforms: { type: 'float32' | 'int32'; data: number[] }[]): TensorInfo;
  disposeData(dataId: object): boolean;
}

/**
 * A flat elementwise program over `shape`: `body` runs for each index with the inputs as arrays.
 * Uniforms are f32 unless declared `name : i32`.
 */
export function elementwise(mod: WebgpuModule, shape: number[], inputs: string[], uniforms: string[], body: string, key: string): object {
  const workgroupSize: [number, number, number] = [128, 1, 1];
  const dispatchLayout = mod.webgpu_util.flatDispatchLayout(shape);
  return {
    outputShape: shape,
    variableNames: inputs,
    uniforms: uniforms.map((u) => (u.includes(':') ? `${u}, ` : `${u} : f32, `)).join(''),
    size: true,
    workgroupSize,
    dispatchLayout,
    dispatch: mod.webgpu_util.computeDispatch(dispatchLayout, shape, workgroupSize),
    shaderKey: key,
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
        }
      }`,
  };
}

export const f = (x: unknown) => ({ type: 'float32' as const, data: [Number(x)] });
export const i = (x: number) => ({ type: 'int32' as const, data: [x] });

/** The kernels, for the webgpu backend whose module is `mod`. */
export function webgpuOptimizerKernels(mod: WebgpuModule): KernelConfig[] {
  return [
    {
      // s ← decay·s + scale·g (or g² when `square`): Adam's moments, SGD's momentum buffer.
      kernelName: MOMENT_KERNEL,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { s, g } = inputs as { s: TensorInfo; g: TensorInfo };
        const square = Boolean(attrs?.square);
        const program = elementwise(
          mod,
          s.shape,
          ['S', 'G'],
          ['decay', 'scale'],
          `let g = G[index];
          setOutputAtIndex(index, uniforms.decay * S[index] + uniforms.scale * ${square ? 'g * g' : 'g'});`,
          `automl_moment_${square}`,
        );
        return (backend as unknown as WebgpuBackendLike).runWebGPUProgram(program, [s, g], 'float32', [f(attrs?.decay), f(attrs?.scale)]);
      },
    },
    {
      // θ ← θ − lr·( (m/bc1) / (√(v/bc2) + ε) + wd·θ )
      kernelName: ADAMW_PARAM_KERNEL,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { p, m, v } = inputs as { p: TensorInfo; m: TensorInfo; v: TensorInfo };
        const program = elementwise(
          mod,
          p.shape,
          ['P', 'M', 'V'],
          ['lr', 'bc1', 'bc2', 'eps', 'wd'],
          `let p = P[index];
          let step = (M[index] / uniforms.bc1) / (sqrt(V[index] / uniforms.bc2) + uniforms.eps) + uniforms.wd * p;
          setOutputAtIndex(index, p - uniforms.lr * step);`,
          'automl_adamw_param',
        );
        const a = attrs ?? {};
        return (backend as unknown as WebgpuBackendLike).runWebGPUProgram(program, [p, m, v], 'float32', [
          f(a.lr),
          f(a.bc1),
          f(a.bc2),
          f(a.epsilon),
          f(a.weightDecay),
        ]);
      },
    },
    {
      // d = nesterov ? g + μ·b : b;  θ ← θ − lr·(d + wd·θ)   (b already updated)
      kernelName: SGD_PARAM_KERNEL,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { p, g, b } = inputs as { p: TensorInfo; g: TensorInfo; b: TensorInfo };
        const nesterov = Boolean(attrs?.nesterov);
        const program = elementwise(
          mod,
          p.shape,
          ['P', 'G', 'B'],
          ['lr', 'mu', 'wd'],
          `let p = P[index];
          let d = ${nesterov ? 'G[index] + uniforms.mu * B[index]' : 'B[index]'};
          setOutputAtIndex(index, p - uniforms.lr * (d + uniforms.wd * p));`,
          `automl_sgd_param_${nesterov}`,
        );
        const a = attrs ?? {};
        return (backend as unknown as WebgpuBackendLike).runWebGPUProgram(program, [p, g, b], 'float32', [f(a.lr), f(a.momentum), f(a.weightDecay)]);
      },
    },
  ];
}
