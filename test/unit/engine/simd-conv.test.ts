// The register-blocked filter-gradient programs (simd/conv-programs.ts) on a bare shared
// memory, against the definition; and the helper-thread pool (simd/threads.ts) that runs them.
import * as assert from 'node:assert/strict';
import { setFlagsFromString } from 'v8';
import { assemble, op, i32, type FnDef } from '../../../src/engine/runtime/wasm/simd/wasm-asm';
import { convPrograms, FILTER_GRAD_TILES, FORWARD_TILES } from '../../../src/engine/runtime/wasm/simd/conv-programs';
import { SimdPool } from '../../../src/engine/runtime/wasm/simd/threads';
import { rand } from './wasm-test-utils';
import { f32Bits } from '../../../src/engine/runtime/wasm/conv-forward';

interface Case {
  B: number;
  H: number;
  W: number;
  Cin: number;
  Cout: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
  OH: number;
  OW: number;
}

function caseOf(
  B: number,
  H: number,
  W: number,
  Cin: number,
  Cout: number,
  k: [number, number],
  s: [number, number],
  d: [number, number],
  pad: [number, number],
  out?: [number, number],
): Case {
  const [KH, KW] = k;
  const OH = out?.[0] ?? Math.floor((H + 2 * pad[0] - (d[0] * (KH - 1) + 1)) / s[0]) + 1;
  const OW = out?.[1] ?? Math.floor((W + 2 * pad[1] - (d[1] * (KW - 1) + 1)) / s[1]) + 1;
  return { B, H, W, Cin, Cout, KH, KW, sh: s[0], sw: s[1], dh: d[0], dw: d[1], top: pad[0], left: pad[1], OH, OW };
}

function byDefinition(c: Case, x: Float32Array, dy: Float32Array, b0: number, b1: number): Float64Array {
  const acc = new Float64Array(c.KH * c.KW * c.Cin * c.Cout);
  for (let b = b0; b < b1; b++)
    for (let oh = 0; oh < c.OH; oh++)
      for (let ow = 0; ow < c.OW; ow++) {
        for (let kh = 0; kh < c.KH; kh++)
          for (let kw = 0; kw < c.KW; kw++) {
            const ih = oh * c.sh + kh * c.dh - c.top;
            const iw = ow * c.sw + kw * c.dw - c.left;
            if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
            for (let ci = 0; ci < c.Cin; ci++) {
              const xv = x[((b * c.H + ih) * c.W + iw) * c.Cin + ci];
              for (let co = 0; co < c.Cout; co++) acc[((kh * c.KW + kw) * c.Cin + ci) * c.Cout + co] += xv * dy[((b * c.OH + oh) * c.OW + ow) * c.Cout + co];
            }
          }
      }
  return acc;
}

function ranges(K: number, size: number, out: number, s: number, d: number, pad: number): number[] {
  const r: number[] = [];
  for (let k = 0; k < K; k++) {
    const lo = Math.max(0, Math.ceil((pad - k * d) / s));
    r.push(lo, Math.max(lo, Math.min(out, Math.floor((size - 1 + pad - k * d) / s) + 1)));
  }
  return r;
}

/** Lays the case out in `memory` and returns the argument list for images [b0, b1) plus the views. */
function layout(memory: WebAssembly.Memory, c: Case, seed: number) {
  const xN = c.B * c.H * c.W * c.Cin;
  const dyN = c.B * c.OH * c.OW * c.Cout;
  const aN = c.KH * c.KW * c.Cin * c.Cout;
  const xAt = 4096;
  const dyAt = xAt + 4 * xN;
  const acc0 = dyAt + 4 * dyN;
  const acc1 = acc0 + 4 * aN;
  const owAt = acc1 + 4 * aN;
  const ohAt = owAt + 8 * c.KW;
  const need = ohAt + 8 * c.KH;
  if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
  const F = new Float32Array(memory.buffer);
  const I = new Int32Array(memory.buffer);
  const x = rand(xN, seed);
  const dy = rand(dyN, seed + 1);
  F.set(x, xAt / 4);
  F.set(dy, dyAt / 4);
  F.fill(0, acc0 / 4, acc1 / 4 + aN);
  I.set(ranges(c.KW, c.W, c.OW, c.sw, c.dw, c.left), owAt / 4);
  I.set(ranges(c.KH, c.H, c.OH, c.sh, c.dh, c.top), ohAt / 4);
  const args = (acc: number, b0: number, b1: number): number[] => [
    xAt,
    dyAt,
    acc,
    b0,
    b1,
    c.H,
    c.W,
    c.Cin,
    c.OH,
    c.OW,
    c.Cout,
    c.KW,
    c.sh,
    c.dh,
    c.top,
    c.sw,
    c.dw,
    c.left,
    owAt,
    ohAt,
    c.KH,
  ];
  return { x, dy, aN, acc0, acc1, args, F: () => new Float32Array(memory.buffer) };
}

function assertNear(got: Float32Array, want: Float64Array, what: string): void {
  let scale = 1;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * scale, `${what}: slot ${i}: ${got[i]} vs ${want[i]}`);
  }
}

function relaxedSimd(): boolean {
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
    new WebAssembly.Module(assemble(convPrograms(true), true));
    return true;
  } catch {
    return false;
  }
}

/** Both builds of the module, over a shared memory; the fused one is null without relaxed SIMD. */
const BUILDS: { fma: boolean; module: WebAssembly.Module | null }[] = [false, true].map((fma) => ({
  fma,
  module: fma && !relaxedSimd() ? null : new WebAssembly.Module(assemble(convPrograms(fma), true)),
}));

const CASES: [string, Case][] = [
  ['3×3 same, 14×14, 32→64', caseOf(3, 14, 14, 32, 64, [3, 3], [1, 1], [1, 1], [1, 1])],
  ['3×3 valid, odd sizes, 8→16', caseOf(2, 7, 9, 8, 16, [3, 3], [1, 1], [1, 1], [0, 0])],
  ['3×3 stride 2 same, 4→8', caseOf(2, 9, 8, 4, 8, [3, 3], [2, 2], [1, 1], [1, 1])],
  ['5×3 anisotropic stride (2, 1), 6→32', caseOf(2, 11, 7, 6, 32, [5, 3], [2, 1], [1, 1], [2, 1])],
  ['3×3 dilation 2, 2→16', caseOf(2, 9, 9, 2, 16, [3, 3], [1, 1], [2, 2], [2, 2])],
  ['1×1 stride 2, 12→32', caseOf(2, 8, 8, 12, 32, [1, 1], [2, 2], [1, 1], [0, 0])],
  ['3×3 padding 3 (rows with no valid tap), 4→8', caseOf(1, 5, 5, 4, 8, [3, 3], [1, 1], [1, 1], [3, 3])],
  ['stride 2 with an unused last input row, 8→8', caseOf(2, 10, 10, 8, 8, [3, 3], [2, 2], [1, 1], [0, 0])],
];

describe('SIMD filter-gradient programs', () => {
  for (const build of BUILDS) {
    for (const tile of FILTER_GRAD_TILES) {
      for (const [name, c] of CASES) {
        if (c.Cin % tile.tileIn !== 0 || c.Cout % tile.tileOut !== 0) continue;
        it(`${tile.name} ${build.fma ? 'fused multiply-add' : 'multiply and add'}: ${name}`, function () {
          if (build.module === null) this.skip(); // no relaxed SIMD in this runtime
          const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
          const fn = (new WebAssembly.Instance(build.module!, { env: { memory } }).exports as Record<string, (...a: number[]) => void>)[tile.name]!;
          const L = layout(memory, c, 7);
          // All images at once, and the batch in two parts into two accumulators.
          fn(...L.args(L.acc0, 0, c.B));
          assertNear(L.F().subarray(L.acc0 / 4, L.acc0 / 4 + L.aN), byDefinition(c, L.x, L.dy, 0, c.B), 'whole batch');
          const half = Math.floor(c.B / 2);
          L.F().fill(0, L.acc0 / 4, L.acc0 / 4 + L.aN);
          fn(...L.args(L.acc0, 0, half));
          fn(...L.args(L.acc1, half, c.B));
          assertNear(L.F().subarray(L.acc0 / 4, L.acc0 / 4 + L.aN), byDefinition(c, L.x, L.dy, 0, half), 'first part');
          assertNear(L.F().subarray(L.acc1 / 4, L.acc1 / 4 + L.aN), byDefinition(c, L.x, L.dy, half, c.B), 'second part');
        });
      }
    }
  }
});

/** out = act(bias + conv(xPadded, w)) by the definition, for a padded input (every tap inside). */
function forwardByDefinition(c: Case, Hp: number, Wp: number, xp: Float32Array, w: Float32Array, bias: Float32Array, relu: boolean): Float64Array {
  const out = new Float64Array(c.B * c.OH * c.OW * c.Cout);
  for (let b = 0; b < c.B; b++)
    for (let oh = 0; oh < c.OH; oh++)
      for (let ow = 0; ow < c.OW; ow++)
        for (let co = 0; co < c.Cout; co++) {
          let v = bias[co];
          for (let kh = 0; kh < c.KH; kh++)
            for (let kw = 0; kw < c.KW; kw++)
              for (let ci = 0; ci < c.Cin; ci++) {
                v += xp[((b * Hp + oh * c.sh + kh * c.dh) * Wp + ow * c.sw + kw * c.dw) * c.Cin + ci] * w[((kh * c.KW + kw) * c.Cin + ci) * c.Cout + co];
              }
          out[((b * c.OH + oh) * c.OW + ow) * c.Cout + co] = relu ? Math.max(0, v) : v;
        }
  return out;
}

describe('SIMD forward-convolution programs', () => {
  const cases: [string, Case][] = [
    ['3×3, 14×14 (padded 16×16), 32→64, ReLU', caseOf(2, 16, 16, 32, 64, [3, 3], [1, 1], [1, 1], [0, 0])],
    ['3×3, one input channel, odd width (a tail of one-pixel tiles), 1→32', caseOf(2, 9, 11, 1, 32, [3, 3], [1, 1], [1, 1], [0, 0])],
    ['stride 2, 3→16', caseOf(2, 9, 10, 3, 16, [3, 3], [2, 2], [1, 1], [0, 0])],
    ['5×3 dilation (2, 1), 4→8', caseOf(1, 13, 9, 4, 8, [5, 3], [1, 1], [2, 1], [0, 0])],
    ['1×1 stride (1, 2), 8→24', caseOf(3, 5, 7, 8, 24, [1, 1], [1, 2], [1, 1], [0, 0])],
  ];
  for (const build of BUILDS) {
    for (const tile of FORWARD_TILES) {
      for (const [name, c] of cases) {
        if (c.Cout % tile.tileOut !== 0) continue;
        for (const relu of [false, true]) {
          it(`${tile.name} ${build.fma ? 'fused multiply-add' : 'multiply and add'}: ${name}${relu ? ', ReLU' : ''}`, function () {
            if (build.module === null) this.skip();
            const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
            const fn = (new WebAssembly.Instance(build.module!, { env: { memory } }).exports as Record<string, (...a: number[]) => void>)[tile.name]!;
            const xN = c.B * c.H * c.W * c.Cin;
            const wN = c.KH * c.KW * c.Cin * c.Cout;
            const oN = c.B * c.OH * c.OW * c.Cout;
            const [xAt, wAt, bAt, oAt] = [4096, 4096 + 4 * xN, 4096 + 4 * (xN + wN), 4096 + 4 * (xN + wN + c.Cout)];
            const need = oAt + 4 * oN;
            if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
            const F = new Float32Array(memory.buffer);
            const x = rand(xN, 3);
            const w = rand(wN, 4);
            const bias = rand(c.Cout, 5);
            F.set(x, xAt / 4);
            F.set(bias, bAt / 4);
            // The filter packed per block of the tile's output channels.
            let k = wAt / 4;
            for (let ob = 0; ob < c.Cout; ob += tile.tileOut) {
              for (let t = 0; t < c.KH * c.KW; t++)
                for (let ci = 0; ci < c.Cin; ci++) for (let o = 0; o < tile.tileOut; o++) F[k++] = w[(t * c.Cin + ci) * c.Cout + ob + o];
            }
            F.fill(NaN, oAt / 4, oAt / 4 + oN);
            const rows = c.B * c.OH;
            const call = (r0: number, r1: number, c0: number, c1: number): void =>
              fn(
                xAt,
                wAt,
                bAt,
                oAt,
                r0,
                r1,
                c.H,
                c.W,
                c.Cin,
                c.OH,
                c.OW,
                c.Cout,
                c.KH,
                c.KW,
                c.sh,
                c.sw,
                c.dh,
                c.dw,
                f32Bits(relu ? 0 : -Infinity),
                f32Bits(Infinity),
                c0,
                c1,
              );
            const want = forwardByDefinition(c, c.H, c.W, x, w, bias, relu);
            // In two calls over row ranges, as the pool splits a convolution…
            call(0, Math.floor(rows / 3), 0, c.Cout);
            call(Math.floor(rows / 3), rows, 0, c.Cout);
            assertNear(F.subarray(oAt / 4, oAt / 4 + oN), want, 'split by rows');
            // …and over blocks of output channels, as it splits a matrix product.
            F.fill(NaN, oAt / 4, oAt / 4 + oN);
            const cut = c.Cout > tile.tileOut ? tile.tileOut : c.Cout;
            call(0, rows, 0, cut);
            if (cut < c.Cout) call(0, rows, cut, c.Cout);
            assertNear(F.subarray(oAt / 4, oAt / 4 + oN), want, 'split by channels');
          });
        }
      }
    }
  }
});

describe('SIMD helper-thread pool', () => {
  // fill(at, n, v): n floats at byte offset `at` set to v (a trap when out of bounds).
  const fill: FnDef = {
    name: 'fill',
    params: [i32, i32, i32],
    locals: [i32],
    body: [
      ...op.i32c(0),
      ...op.set(3),
      0x02,
      0x40,
      0x03,
      0x40,
      ...op.get(3),
      ...op.get(1),
      ...op.i32geS,
      0x0d,
      1,
      ...op.get(0),
      ...op.get(3),
      ...op.i32c(2),
      ...op.i32shl,
      ...op.i32add,
      ...op.get(2),
      0xb2, // f32.convert_i32_s
      ...op.f32store(),
      ...op.get(3),
      ...op.i32c(1),
      ...op.i32add,
      ...op.set(3),
      0x0c,
      0,
      0x0b,
      0x0b,
    ],
  };
  const module = new WebAssembly.Module(assemble([fill], true));

  it('runs each argument list once, in parallel on the helpers, and returns when all are done', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const pool = new SimdPool(module, memory, 3);
    try {
      assert.equal(pool.size, 3);
      const F = new Float32Array(memory.buffer);
      for (let round = 1; round <= 50; round++) {
        // Four lists on three threads: the fourth runs on the calling thread after its own.
        pool.run(
          'fill',
          [0, 1, 2, 3].map((p) => [p * 4000, 1000, round * 10 + p]),
        );
        for (let p = 0; p < 4; p++) {
          assert.equal(F[p * 1000], round * 10 + p, `round ${round}, list ${p}: first`);
          assert.equal(F[p * 1000 + 999], round * 10 + p, `round ${round}, list ${p}: last`);
        }
      }
    } finally {
      pool.close();
    }
  });

  it('reports a trap on a helper as an error, and keeps working', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const pool = new SimdPool(module, memory, 2);
    try {
      assert.throws(
        () =>
          pool.run('fill', [
            [0, 10, 1],
            [65536 - 8, 10, 2],
          ]),
        /fill failed on a helper thread/,
      );
      assert.throws(
        () =>
          pool.run('fill', [
            [65536 - 8, 10, 2],
            [0, 10, 1],
          ]),
        /out of bounds/,
      );
      pool.run('fill', [
        [0, 10, 5],
        [40, 10, 6],
      ]);
      const F = new Float32Array(memory.buffer);
      assert.deepEqual([F[0], F[9], F[10], F[19]], [5, 5, 6, 6]);
    } finally {
      pool.close();
    }
  });

  it('runs everything on the calling thread over a memory that is not shared', () => {
    const plain = new WebAssembly.Module(assemble([fill], false));
    const memory = new WebAssembly.Memory({ initial: 1 });
    const pool = new SimdPool(plain, memory, 4);
    assert.equal(pool.size, 1);
    pool.run('fill', [
      [0, 4, 3],
      [16, 4, 4],
    ]);
    assert.deepEqual(Array.from(new Float32Array(memory.buffer, 0, 8)), [3, 3, 3, 3, 4, 4, 4, 4]);
    pool.close();
  });
});
