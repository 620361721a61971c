// The GEMM micro-kernels the gemm bench part measures (src/bench/gemm-programs.ts), against the
// definition: every tile, with and without the fused multiply-add, with row tails (M not a multiple
// of MR), k tails (K not a multiple of the unroll), a slice of rows and columns, bias and clamp.
import * as assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { assemble } from '../../../src/engine/runtime/wasm/simd/wasm-asm';
import { GEMM_TILES, gemmProgram, packPanels } from '../../../src/bench/gemm-programs';
import { rand } from '../engine/wasm-test-utils';

const bits = (v: number): number => new Int32Array(new Float32Array([v]).buffer)[0]!;

function build(fma: boolean): Record<string, (...args: number[]) => void> | null {
  const defs = GEMM_TILES.map((t) => gemmProgram(fma, t.MR, t.NR, t.U));
  if (fma) setFlagsFromString('--experimental-wasm-relaxed-simd');
  const bytes = assemble(defs, false);
  if (!WebAssembly.validate(bytes)) return null;
  const memory = new WebAssembly.Memory({ initial: 64 });
  return {
    ...(new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as Record<string, (...args: number[]) => void>),
    memory,
  } as never;
}

describe('GEMM micro-kernels (bench)', () => {
  for (const fma of [false, true]) {
    it(`match the definition ${fma ? 'with' : 'without'} the fused multiply-add`, function () {
      const ex = build(fma);
      if (ex === null) this.skip(); // relaxed SIMD unavailable in this runtime
      const memory = (ex as unknown as { memory: WebAssembly.Memory }).memory;
      const M = 23;
      const K = 19;
      const N = 48;
      const lda = K + 3; // a row stride wider than K
      const ldc = N + 4;
      const a = rand(M * lda, 1);
      const b = rand(K * N, 2);
      const bias = rand(N, 3);
      const [lo, hi] = [-0.5, 2];
      for (const t of GEMM_TILES) {
        const name = `gemm${t.MR}x${t.NR}${t.U ? `u${t.U}` : ''}`;
        const F = new Float32Array(memory.buffer);
        const aAt = 0;
        const bAt = 4 * M * lda;
        const cAt = bAt + 4 * K * N;
        const biasAt = cAt + 4 * M * ldc;
        F.set(a, aAt / 4);
        packPanels(b, K, N, t.NR, F.subarray(bAt / 4, bAt / 4 + K * N));
        F.fill(-7, cAt / 4, cAt / 4 + M * ldc);
        F.set(bias, biasAt / 4);
        const [m0, m1, n0, n1] = [2, M, t.NR, N]; // skip two rows and the first panel
        ex![name]!(aAt, 4 * lda, bAt, cAt, 4 * ldc, biasAt, K, m0, m1, n0, n1, bits(lo), bits(hi));
        for (let m = 0; m < M; m++) {
          for (let n = 0; n < ldc; n++) {
            const got = F[cAt / 4 + m * ldc + n]!;
            if (m < m0 || n < n0 || n >= n1) {
              assert.equal(got, -7, `${name}: c[${m}, ${n}] outside the slice was written`);
              continue;
            }
            let s = bias[n]!;
            for (let k = 0; k < K; k++) s += a[m * lda + k]! * b[k * N + n]!;
            const want = Math.min(Math.max(s, lo), hi);
            assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${name}: c[${m}, ${n}] = ${got}, want ${want}`);
          }
        }
      }
    });
  }
});
