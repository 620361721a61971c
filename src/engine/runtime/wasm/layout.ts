// Data-layout moves used by the convolution gradients: SIMD versions when the
// sizes allow (multiples of 4 floats), the backend's C++ transpose otherwise.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, f32, transpose, withShape, type BackendWasm } from './kernel-utils';
import { simdFor } from './simd';

/** [A, M, C] → [C, M, A] (e.g. x [B, H·W, Cin] → [Cin, H·W, B]). */
export function swapOuterAndInner(backend: BackendWasm, x: TensorInfo, A: number, M: number, C: number): TensorInfo {
  const simd = A % 4 === 0 && C % 4 === 0 ? simdFor(backend) : null;
  if (simd === null) return transpose(backend, withShape(x, [A, M, C]), [2, 1, 0]);
  const out = alloc(backend, [C, M, A]);
  simd.transposeOuterInner(byteOffset(backend, out), byteOffset(backend, x), A, M, C);
  return out;
}

/** [R, C] → [C, R]: SIMD 4×4 blocks when both sides are multiples of 4, else the backend's transpose. */
export function transpose2d(backend: BackendWasm, x: TensorInfo, R: number, C: number): TensorInfo {
  return swapOuterAndInner(backend, x, R, 1, C);
}

/** Nanoseconds per element transpose2d takes (measured on 2 cores: SIMD ~0.5, stock ~1.5). */
export function transpose2dNs(R: number, C: number): number {
  return R * C * (R % 4 === 0 && C % 4 === 0 ? 0.5 : 1.5);
}

/** [A, M, C] → [M, A, C], rows of C kept whole (e.g. dy [B, OH·OW, C] → [OH·OW, B, C]). */
export function swapOuter(backend: BackendWasm, x: TensorInfo, A: number, M: number, C: number): TensorInfo {
  const simd = C % 4 === 0 ? simdFor(backend) : null;
  if (simd === null) return transpose(backend, withShape(x, [A, M, C]), [1, 0, 2]);
  const out = alloc(backend, [M, A, C]);
  const row = 4 * C;
  simd.copyRows(byteOffset(backend, out), byteOffset(backend, x), A, M, row, row, A * row, M * row, row);
  return out;
}

/**
 * Writes src [B, U, V, C] into dst [B, H, W, C] at rows i0 + si·u and
 * columns j0 + sj·v (one phase of a strided output).
 */
export function scatterPhase(backend: BackendWasm, dst: TensorInfo, src: TensorInfo, i0: number, j0: number, si: number, sj: number): void {
  const [B, H, W, C] = dst.shape;
  const [, U, V] = src.shape;
  const simd = C % 4 === 0 ? simdFor(backend) : null;
  if (simd !== null) {
    const row = 4 * C;
    const d0 = byteOffset(backend, dst);
    const s0 = byteOffset(backend, src);
    for (let b = 0; b < B; b++) {
      simd.copyRows(d0 + ((b * H + i0) * W + j0) * row, s0 + b * U * V * row, U, V, row, si * W * row, sj * row, V * row, row);
    }
    return;
  }
  const d = f32(backend, dst);
  const s = f32(backend, src);
  for (let b = 0; b < B; b++) {
    for (let u = 0; u < U; u++) {
      for (let v = 0; v < V; v++) {
        const from = ((b * U + u) * V + v) * C;
        d.set(s.subarray(from, from + C), ((b * H + i0 + si * u) * W + j0 + sj * v) * C);
      }
    }
  }
}
