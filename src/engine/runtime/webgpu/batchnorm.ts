// BatchNorm in training for the WebGPU backend: the project's fused-BatchNorm kernels (the same
// contract as the wasm ones, see ../wasm/batchnorm.ts) as a few dispatches each. tfjs-layers'
// BatchNorm in training runs a dozen kernels per layer and uploads its scalars (ε, momentum)
// as new GPU buffers every step; on an H100 the networks with BatchNorm stayed slower than
// wasm on that machine's CPU because of it.
//
//   forward: mean = Σx/R, var = Σ(x − mean)²/R per channel (the backend's Mean over rows),
//            invstd = 1/√(var + ε), y = (x − mean)·invstd·γ + β
//   backward: dβ = Σdy, dγ = Σdy·x̂, dx = γ·invstd·(dy − dβ/R − x̂·dγ/R), x̂ = (x − mean)·invstd
// Channels are the last axis (NHWC), so an element's channel is its flat index modulo C.
import { util, type KernelBackend, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL } from '../wasm/batchnorm';
import { release, run, reshape, type Ctx } from './conv-backprop';
import { elementwise, f, i, type WebgpuBackendLike, type WebgpuModule } from './optimizer';

/** Per-channel mean (or sum) over the rows of x viewed as [R, C]. */
function perChannel(c: Ctx, op: 'Mean' | 'Sum', x: TensorInfo, C: number): TensorInfo {
  return run(c, op, { x: reshape(c, x, [-1, C]) }, { axis: [0], keepDims: false });
}

export function webgpuBatchNormKernels(mod: WebgpuModule): KernelConfig[] {
  const program = (shape: number[], inputs: string[], uniforms: string[], body: string, key: string) => elementwise(mod, shape, inputs, uniforms, body, key);
  return [
    {
      kernelName: BN_TRAIN_KERNEL,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, gamma, beta } = inputs as Record<string, TensorInfo>;
        const b = backend as unknown as WebgpuBackendLike & KernelBackend;
        const C = x.shape[x.shape.length - 1];
        const c: Ctx = { backendName: 'webgpu', backend: b, temps: [] };
        const mean = perChannel(c, 'Mean', x, C);
        const sq = b.runWebGPUProgram(
          program(
            x.shape,
            ['X', 'Mean'],
            ['C : i32'],
            `let d = X[index] - Mean[index % uniforms.C];
          setOutputAtIndex(index, d * d);`,
            'automl_bn_sqdev',
          ),
          [x, mean],
          'float32',
          [i(C)],
        );
        c.temps.push(sq);
        const variance = perChannel(c, 'Mean', sq, C);
        const invstd = b.runWebGPUProgram(
          program([C], ['V'], ['eps'], 'setOutputAtIndex(index, inverseSqrt(V[index] + uniforms.eps));', 'automl_bn_invstd'),
          [variance],
          'float32',
          [f(attrs?.epsilon)],
        );
        const y = b.runWebGPUProgram(
          program(
            x.shape,
            ['X', 'Mean', 'Invstd', 'Gamma', 'Beta'],
            ['C : i32'],
            `let c = index % uniforms.C;
          setOutputAtIndex(index, (X[index] - Mean[c]) * Invstd[c] * Gamma[c] + Beta[c]);`,
            'automl_bn_forward',
          ),
          [x, mean, invstd, gamma, beta],
          'float32',
          [i(C)],
        );
        release(c, [mean, variance]);
        return [y, mean, variance, invstd];
      },
    },
    {
      kernelName: BN_TRAIN_GRAD_KERNEL,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend }) => {
        const { dy, x, mean, invstd, gamma } = inputs as Record<string, TensorInfo>;
        const b = backend as unknown as WebgpuBackendLike & KernelBackend;
        const C = x.shape[x.shape.length - 1];
        const R = util.sizeFromShape(x.shape) / C;
        const c: Ctx = { backendName: 'webgpu', backend: b, temps: [] };
        const dbeta = perChannel(c, 'Sum', dy, C);
        const dyxhat = b.runWebGPUProgram(
          program(
            x.shape,
            ['DY', 'X', 'Mean', 'Invstd'],
            ['C : i32'],
            `let c = index % uniforms.C;
          setOutputAtIndex(index, DY[index] * (X[index] - Mean[c]) * Invstd[c]);`,
            'automl_bn_dyxhat',
          ),
          [dy, x, mean, invstd],
          'float32',
          [i(C)],
        );
        c.temps.push(dyxhat);
        const dgamma = perChannel(c, 'Sum', dyxhat, C);
        const dx = b.runWebGPUProgram(
          program(
            x.shape,
            ['DY', 'X', 'Mean', 'Invstd', 'Gamma', 'DB', 'DG'],
            ['C : i32', 'invR'],
            `let c = index % uniforms.C;
          let xhat = (X[index] - Mean[c]) * Invstd[c];
          setOutputAtIndex(index, Gamma[c] * Invstd[c] * (DY[index] - DB[c] * uniforms.invR - xhat * DG[c] * uniforms.invR));`,
            'automl_bn_dx',
          ),
          [dy, x, mean, invstd, gamma, dbeta, dgamma],
          'float32',
          [i(C), f(1 / R)],
        );
        release(c, [dbeta, dgamma]);
        return [dx, dgamma, dbeta];
      },
    },
  ];
}
