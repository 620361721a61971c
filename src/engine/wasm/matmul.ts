// BatchMatMul for the wasm backend. The stock kernel only reaches XNNPACK when
// there is no transpose and the batch is 1; otherwise it runs a scalar loop
// (~1–2 GFLOP/s). Dense-layer gradients always transpose one side, so we
// transpose explicitly (cheap, memory-bound) and then take the fast path, per
// batch matrix when the product is batched.
import { broadcast_util, type TensorInfo } from '@tensorflow/tfjs-core';
import {
  alloc, free, sizeOf, transpose, xnnMatMulInto, withShape,
  type BackendWasm, type KernelArgs,
} from './kernel-utils';
import { subTensorView, disposeView } from './views';

export function batchMatMul(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const a = args.inputs.a!;
  const b = args.inputs.b!;
  const transposeA = Boolean(args.attrs?.transposeA);
  const transposeB = Boolean(args.attrs?.transposeB);
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error('BatchMatMul supports float32 only on wasm');
  }
  const ra = a.shape.length;
  const rb = b.shape.length;
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== Kb) {
    throw new Error(`Error in matMul: inner shapes (${K}) and (${Kb}) of Tensors with shapes ${a.shape} and ${b.shape} must match.`);
  }
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  const outer = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new Error(`BatchMatMul: batch dimensions ${batchA} and ${batchB} do not broadcast`);
  }

  // Bring both operands to [batch, M, K] and [batch, K, N] row-major.
  const a3 = withShape(a, transposeA ? [batchA, K, M] : [batchA, M, K]);
  const b3 = withShape(b, transposeB ? [batchB, N, K] : [batchB, K, N]);
  const aN = transposeA ? transpose(backend, a3, [0, 2, 1]) : a3;
  const bN = transposeB ? transpose(backend, b3, [0, 2, 1]) : b3;

  const out = alloc(backend, [batch, M, N]);
  if (batch === 1) {
    xnnMatMulInto(backend, aN, bN, M, K, N, out);
  } else {
    for (let i = 0; i < batch; i++) {
      const av = subTensorView(backend, aN, batchA === 1 ? 0 : i * M * K, [M, K]);
      const bv = subTensorView(backend, bN, batchB === 1 ? 0 : i * K * N, [K, N]);
      const ov = subTensorView(backend, out, i * M * N, [M, N]);
      xnnMatMulInto(backend, av, bv, M, K, N, ov);
      disposeView(backend, av);
      disposeView(backend, bv);
      disposeView(backend, ov);
    }
  }
  if (aN !== a3) free(backend, aN);
  if (bN !== b3) free(backend, bN);
  out.shape = [...outer, M, N];
  return out;
}
