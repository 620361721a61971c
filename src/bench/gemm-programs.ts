// A register-blocked matrix product with the right operand packed in panels (the GEMM
// micro-kernel of BLAS libraries, in WebAssembly SIMD), generated like the engine's programs
// (src/engine/runtime/wasm/simd/). Measured by the gemm bench part (gemm.ts) against XNNPACK and
// the engine's convolution loop (conv-programs.ts); not used by the engine, because it is not
// faster than that loop (BENCHMARKS.md, 2026-12-06, "Own GEMM micro-kernel").
//
// Tiles of MR rows × NR columns of the product stay in registers; B is read from panels
// [N/NR][K][NR] so that each k step's NR columns are contiguous. With f32x4.relaxed_madd (relaxed
// SIMD) each update is one fused multiply-add; without it, a multiply and an add. On x64, V8 gives
// wasm 15 SIMD registers (xmm15 is its scratch) and its scheduler issues a k step's loads before
// its multiply-adds: a tile whose accumulators, B vectors and splats exceed 15 spills inside the
// k loop (6×8: 12 + 2 + 6; 3×16: 12 + 4 + 3), and so does unrolling k (U > 1).
import { block, br, brIf, forLoop, i32, loop, op, v128, type Code, type FnDef } from '../engine/runtime/wasm/simd/wasm-asm';

const { get, set } = op;

/**
 * gemm{MR}x{NR}[u{U}](a, lda, bp, c, ldc, bias, K, m0, m1, n0, n1, lo, hi), k steps U at a time:
 * c[m, n] = min(max(bias[n] + Σ_k a[m, k] · b[k, n], lo), hi) for rows m0 ≤ m < m1 and columns
 * n0 ≤ n < n1 (multiples of NR). a is row-major with a row stride of lda bytes; bp holds B in
 * panels of NR columns, [N/NR][K][NR]; c has a row stride of ldc bytes; bias has N floats (zeros
 * for none); lo and hi are f32 bits (the clamp of the activation). Rows past the last whole
 * tile of MR take one-row tiles.
 */
export function gemmProgram(fma: boolean, MR: number, NR: number, U = 1, name = `gemm${MR}x${NR}${U > 1 ? `u${U}` : ''}`): FnDef {
  const NV = NR / 4;
  const Pn = ['a', 'lda', 'bp', 'c', 'ldc', 'bias', 'K', 'm0', 'm1', 'n0', 'n1', 'lo', 'hi'];
  const Ln = ['m', 'mEnd', 'nb', 'nbEnd', 'bq', 'bpanel', 'pstep', 'k', 'kEnd4', 'cq', ...Array.from({ length: MR }, (_, i) => `aq${i}`)];
  const Vn: string[] = [];
  for (let i = 0; i < MR; i++) for (let j = 0; j < NV; j++) Vn.push(`acc${i}_${j}`);
  for (let j = 0; j < NV; j++) Vn.push(`b${j}`);
  Vn.push('as');
  const idx: Record<string, number> = {};
  [...Pn, ...Ln, ...Vn].forEach((n, i) => (idx[n] = i));
  const g = (n: string): Code => get(idx[n]!);
  const s = (n: string): Code => set(idx[n]!);
  const add = (n: string, v: number): Code => [...g(n), ...op.i32c(v), ...op.i32add, ...s(n)];
  const cols = Array.from({ length: NV }, (_, j) => j);
  const madd = (acc: string, b: string): Code =>
    fma ? [...g('as'), ...g(b), ...g(acc), ...op.f32x4madd, ...s(acc)] : [...g('as'), ...g(b), ...op.f32x4mul, ...g(acc), ...op.f32x4add, ...s(acc)];

  /** One k step of an mr-row tile, B at bq + 16·NV·u, A at aq_i + 4·u. */
  const kStep = (mr: number, u: number): Code => [
    ...cols.flatMap((j): Code => [...g('bq'), ...op.v128load(16 * (NV * u + j)), ...s(`b${j}`)]),
    ...Array.from({ length: mr }, (_, i) => i).flatMap((i): Code => [
      ...g(`aq${i}`),
      ...op.load32splat(4 * u),
      ...s('as'),
      ...cols.flatMap((j) => madd(`acc${i}_${j}`, `b${j}`)),
    ]),
  ];
  // The clamp's bounds are splatted where they are used: kept in registers through the k loop they
  // would push accumulators out of them.
  const clamp: Code = [
    ...g('lo'),
    ...op.f32reinterpret,
    ...op.f32x4splat,
    ...op.f32x4pmax,
    ...g('hi'),
    ...op.f32reinterpret,
    ...op.f32x4splat,
    ...op.f32x4pmin,
  ];
  const rowsOf = (mr: number): number[] => Array.from({ length: mr }, (_, i) => i);
  /** A tile of mr rows at row m of the panel nb: init, k loop (by U, then by 1), clamp and store. */
  const tile = (mr: number): Code => [
    // aq_i = a + (m + i)·lda
    ...rowsOf(mr).flatMap((i): Code => [...g('m'), ...op.i32c(i), ...op.i32add, ...g('lda'), ...op.i32mul, ...g('a'), ...op.i32add, ...s(`aq${i}`)]),
    ...rowsOf(mr).flatMap((i) => cols.flatMap((j): Code => [...g('bias'), ...g('nb'), ...op.i32add, ...op.v128load(16 * j), ...s(`acc${i}_${j}`)])),
    ...g('bpanel'),
    ...s('bq'),
    ...forLoop(
      idx.k!,
      op.i32c(0),
      idx.kEnd4!,
      U,
      ...Array.from({ length: U }, (_, u) => kStep(mr, u)),
      add('bq', 16 * NV * U),
      ...rowsOf(mr).map((i) => add(`aq${i}`, 4 * U)),
    ),
    ...block(loop(g('k'), g('K'), op.i32geS, brIf(1), kStep(mr, 0), add('bq', 16 * NV), ...rowsOf(mr).map((i) => add(`aq${i}`, 4)), add('k', 1), br(0))),
    // cq = c + m·ldc + nb
    ...g('m'),
    ...g('ldc'),
    ...op.i32mul,
    ...g('c'),
    ...op.i32add,
    ...g('nb'),
    ...op.i32add,
    ...s('cq'),
    ...rowsOf(mr).flatMap((i): Code => [
      ...cols.flatMap((j): Code => [...g('cq'), ...g(`acc${i}_${j}`), ...clamp, ...op.v128store(16 * j)]),
      ...g('cq'),
      ...g('ldc'),
      ...op.i32add,
      ...s('cq'),
    ]),
    ...add('m', mr),
  ];
  const body: Code = [
    // kEnd4 = K − K mod U; pstep = K·NR·4 bytes per panel
    ...g('K'),
    ...op.i32c(U),
    ...op.i32divU,
    ...op.i32c(U),
    ...op.i32mul,
    ...s('kEnd4'),
    ...g('K'),
    ...op.i32c(4 * NR),
    ...op.i32mul,
    ...s('pstep'),
    ...g('m1'),
    ...op.i32c(MR - 1),
    ...op.i32sub,
    ...s('mEnd'),
    ...g('n1'),
    ...op.i32c(2),
    ...op.i32shl,
    ...s('nbEnd'),
    ...g('n0'),
    ...op.i32c(NR),
    ...op.i32divU,
    ...g('pstep'),
    ...op.i32mul,
    ...g('bp'),
    ...op.i32add,
    ...s('bpanel'),
    ...forLoop(
      idx.nb!,
      [...g('n0'), ...op.i32c(2), ...op.i32shl],
      idx.nbEnd!,
      4 * NR,
      g('m0'),
      s('m'),
      block(loop(g('m'), g('mEnd'), op.i32geS, brIf(1), tile(MR), br(0))),
      MR === 1 ? [] : block(loop(g('m'), g('m1'), op.i32geS, brIf(1), tile(1), br(0))),
      g('bpanel'),
      g('pstep'),
      op.i32add,
      s('bpanel'),
    ),
  ];
  return {
    name,
    params: new Array<number>(Pn.length).fill(i32) as FnDef['params'],
    locals: [...new Array<number>(Ln.length).fill(i32), ...new Array<number>(Vn.length).fill(v128)] as FnDef['locals'],
    body,
  };
}

/** The tiles measured: 12 accumulators (spill in V8), 8 (the engine's loop uses these two shapes), and 2×16 with k unrolled by 4. */
export const GEMM_TILES: readonly { MR: number; NR: number; U?: number }[] = [
  { MR: 6, NR: 8 },
  { MR: 3, NR: 16 },
  { MR: 4, NR: 8 },
  { MR: 2, NR: 16 },
  { MR: 2, NR: 16, U: 4 },
] as const;

/** Packs B [K, N] (row-major, N a multiple of NR) into panels [N/NR][K][NR]. */
export function packPanels(b: Float32Array, K: number, N: number, NR: number, out: Float32Array): void {
  let q = 0;
  for (let n0 = 0; n0 < N; n0 += NR) {
    for (let k = 0; k < K; k++) {
      const row = k * N + n0;
      for (let j = 0; j < NR; j++) out[q++] = b[row + j]!;
    }
  }
}
