// Convolutions as register-blocked SIMD loops: the filter gradient, and the forward
// convolution (also the stride-1 input gradient and, as a 1×1 convolution, matrix products).
//
// XNNPACK has no filter-gradient operator; expressed through its forward convolution
// (conv-backprop-filter.ts) the gradient of a 32→64 layer at 14×14 costs two transposes and the
// packing of a 400k-float "filter" on every step, on top of the product: 20 ms of a 73 ms
// step for the 2×32 network at batch 64. The filter-gradient loop reads x and dy where they
// are: for each filter tap, a tile of input × output channels stays in registers while the
// image's output pixels stream past. The forward loop keeps a tile of output pixels ×
// output channels in registers while the taps and input channels go by.
//
// Two builds: with f32x4.relaxed_madd (fused multiply-add, relaxed SIMD) and with a
// multiply and an add. Relaxed SIMD is a separate WebAssembly feature, so each build is
// its own module; index.ts picks the one the runtime accepts.
import { ELEMENTWISE_PROGRAMS } from './elementwise-programs';
import { addRange, bnReluGradApply, bnReluGradStats, maxPool2x2 } from './bn-programs';
import { adamw, affine, bnGradApply, bnGradStats, broadcastFilterGrad, colStats, depthwiseFilterGrad, maxPoolGrad2x2, reluGrad, sgd } from './programs';
import { bitsWrapper, block, br, brIf, forLoop, i32, loop, op, v128, type Code, type FnDef } from './wasm-asm';

const { get, set } = op;

/**
 * The tiles, as input channels (each splatted) × output channels (vectors of four): the
 * accumulators, the dy vectors and the splat must fit V8's 16 SIMD registers. 2×16 was the
 * fastest measured with a fused multiply-add (33 GFLOP/s on one thread for a 48→96 layer
 * at 14×14, against 30 for 4×8); without it the two are level (24). Larger tiles spill.
 */
export const FILTER_GRAD_TILES = [
  { name: 'convFilterGrad2x16', tileIn: 2, tileOut: 16 },
  { name: 'convFilterGrad4x8', tileIn: 4, tileOut: 8 },
] as const;

/**
 * convFilterGrad2x16 / convFilterGrad4x8(x, dy, acc, b0, b1, H, W, Cin, OH, OW, Cout, KW, sh, dh,
 * top, sw, dw, left, owRange, ohRange, KH):
 * acc (f32 [KH, KW, Cin, Cout], accumulated into) += Σ over images b0 ≤ b < b1 and output
 * pixels of x[b, oh·sh + kh·dh − top, ow·sw + kw·dw − left, ci] · dy[b, oh, ow, co].
 * Cin a multiple of the tile's input channels, Cout of its output channels. owRange
 * (i32 [KW][2]) and ohRange (i32 [KH][2]) hold the output columns and rows whose input lies
 * inside the image, as [lo, hi).
 */
export function convFilterGradProgram(fma: boolean, name: string, TI: number, TO: number): FnDef {
  const TV = TO / 4;
  const P = ['x', 'dy', 'acc', 'b0', 'b1', 'H', 'W', 'Cin', 'OH', 'OW', 'Cout', 'KW', 'sh', 'dh', 'top', 'sw', 'dw', 'left', 'owr', 'ohr', 'KH'] as const;
  const L = ['b', 'kh', 'kw', 'cb', 'ob', 'oh', 'ohLo', 'ohHi', 'owLo', 'owHi', 'xp', 'dp', 'dpEnd', 'xstep', 'cinB', 'coutB', 'accp', 'xcol', 'span'] as const;
  const V: string[] = [];
  for (let i = 0; i < TI; i++) for (let j = 0; j < TV; j++) V.push(`a${i}${j}`);
  for (let j = 0; j < TV; j++) V.push(`d${j}`);
  V.push('xs');
  const idx: Record<string, number> = {};
  [...P, ...L, ...V].forEach((n, i) => (idx[n] = i));
  const g = (n: string): Code => get(idx[n]!);
  const s = (n: string): Code => set(idx[n]!);
  const acc = (i: number, j: number): string => `a${i}${j}`;
  const tile: [number, number][] = [];
  for (let i = 0; i < TI; i++) for (let j = 0; j < TV; j++) tile.push([i, j]);
  // Byte offset of accumulator row i (input channel cb/4 + i) and vector j from accp.
  const accOff = (i: number): Code => [...g('accp'), ...g('coutB'), ...op.i32c(i), ...op.i32mul, ...op.i32add];
  const madd = (a: string, xs: string, d: string): Code => fma
    ? [...g(xs), ...g(d), ...g(a), ...op.f32x4madd, ...s(a)]
    : [...g(xs), ...g(d), ...op.f32x4mul, ...g(a), ...op.f32x4add, ...s(a)];
  const lanes = Array.from({ length: TV }, (_, j) => j);
  const pixel: Code = [
    ...lanes.flatMap((j): Code => [...g('dp'), ...op.v128load(16 * j), ...s(`d${j}`)]),
    ...Array.from({ length: TI }, (_, i) => i).flatMap((i): Code => [
      ...g('xp'), ...op.load32splat(4 * i), ...s('xs'),
      ...lanes.flatMap((j) => madd(acc(i, j), 'xs', `d${j}`)),
    ]),
    ...g('xp'), ...g('xstep'), ...op.i32add, ...s('xp'),
    ...g('dp'), ...g('coutB'), ...op.i32add, ...s('dp'),
  ];
  const rows: Code = forLoop(idx.oh!, g('ohLo'), idx.ohHi!, 1,
    // xp = x + ((b·H + oh·sh + kh·dh − top)·W)·cinB + xcol + cb, xcol = (owLo·sw + kw·dw − left)·cinB
    g('b'), g('H'), op.i32mul, g('oh'), g('sh'), op.i32mul, op.i32add, g('kh'), g('dh'), op.i32mul, op.i32add,
    g('top'), op.i32sub, g('W'), op.i32mul, g('cinB'), op.i32mul, g('x'), op.i32add, g('xcol'), op.i32add, g('cb'), op.i32add, s('xp'),
    // dp = dy + ((b·OH + oh)·OW + owLo)·coutB + ob
    g('b'), g('OH'), op.i32mul, g('oh'), op.i32add, g('OW'), op.i32mul, g('owLo'), op.i32add,
    g('coutB'), op.i32mul, g('dy'), op.i32add, g('ob'), op.i32add, s('dp'),
    g('dp'), g('span'), op.i32add, s('dpEnd'),
    block(loop(
      g('dp'), g('dpEnd'), op.i32geS, brIf(1),
      pixel,
      br(0),
    )),
  );
  const tileLoop: Code = forLoop(idx.ob!, op.i32c(0), idx.coutB!, 16 * TV,
    // accp = acc + ((kh·KW + kw)·Cin)·coutB + cb·Cout + ob  (cb is a byte offset: cb·Cout = (cb/4)·coutB)
    g('kh'), g('KW'), op.i32mul, g('kw'), op.i32add, g('Cin'), op.i32mul, g('coutB'), op.i32mul,
    g('cb'), g('Cout'), op.i32mul, op.i32add, g('ob'), op.i32add, g('acc'), op.i32add, s('accp'),
    tile.flatMap(([i, j]): Code => [...accOff(i), ...op.v128load(16 * j), ...s(acc(i, j))]),
    rows,
    tile.flatMap(([i, j]): Code => [...accOff(i), ...g(acc(i, j)), ...op.v128store(16 * j)]),
  );
  const body: Code = [
    ...g('Cin'), ...op.i32c(2), ...op.i32shl, ...s('cinB'),
    ...g('Cout'), ...op.i32c(2), ...op.i32shl, ...s('coutB'),
    ...g('sw'), ...g('cinB'), ...op.i32mul, ...s('xstep'),
    ...forLoop(idx.b!, g('b0'), idx.b1!, 1,
      forLoop(idx.kh!, op.i32c(0), idx.KH!, 1,
        g('ohr'), g('kh'), op.i32c(3), op.i32shl, op.i32add, op.i32load(0), s('ohLo'),
        g('ohr'), g('kh'), op.i32c(3), op.i32shl, op.i32add, op.i32load(4), s('ohHi'),
        forLoop(idx.kw!, op.i32c(0), idx.KW!, 1,
          g('owr'), g('kw'), op.i32c(3), op.i32shl, op.i32add, op.i32load(0), s('owLo'),
          g('owr'), g('kw'), op.i32c(3), op.i32shl, op.i32add, op.i32load(4), s('owHi'),
          g('owHi'), g('owLo'), op.i32sub, g('coutB'), op.i32mul, s('span'),
          g('owLo'), g('sw'), op.i32mul, g('kw'), g('dw'), op.i32mul, op.i32add, g('left'), op.i32sub,
          g('cinB'), op.i32mul, s('xcol'),
          forLoop(idx.cb!, op.i32c(0), idx.cinB!, 4 * TI, tileLoop)))),
  ];
  return {
    name,
    params: new Array<number>(P.length).fill(i32) as FnDef['params'],
    locals: [...new Array<number>(L.length).fill(i32), ...new Array<number>(V.length).fill(v128)] as FnDef['locals'],
    body,
  };
}

/**
 * The forward tiles, as output pixels × output channels, one input channel at a time:
 * unrolling over input channels measured slower (V8 then spills: 28 → 19 GFLOP/s when unrolled over 4).
 * On one thread with a fused multiply-add, a 32→64 layer at 14×14: 28–29 GFLOP/s for both
 * (XNNPACK's forward convolution: about 19 a thread); a first layer (one input channel):
 * 12.5 for 2×16, 8.4 for 4×8.
 */
export const FORWARD_TILES = [
  { name: 'convForward2x16', pixels: 2, tileOut: 16 },
  { name: 'convForward4x8', pixels: 4, tileOut: 8 },
] as const;

/**
 * The pool's functions: the filter gradients and forward convolutions, one per tile, the
 * tap-loop filter gradients of programs.ts (first layers, depthwise), split by images, and the
 * element-wise passes of inference (elementwise-programs.ts), split by rows.
 */
export function convPrograms(fma: boolean): FnDef[] {
  const list = [
    depthwiseFilterGrad, broadcastFilterGrad,
    ...FILTER_GRAD_TILES.map((t) => convFilterGradProgram(fma, t.name, t.tileIn, t.tileOut)),
    ...FORWARD_TILES.map((t) => convForwardProgram(fma, t.name, t.pixels, t.tileOut)),
    ...ELEMENTWISE_PROGRAMS,
    // The memory-bound training passes, split between the threads by rows or bytes (split.ts).
    reluGrad, colStats, bnGradStats, affine, bnGradApply, maxPoolGrad2x2, bnReluGradStats, bnReluGradApply, addRange, maxPool2x2,
    adamw, sgd,
  ];
  // adamwBits, sgdBits: their float arguments as i32 bits, as the pool passes them.
  return [...list, bitsWrapper(adamw, list.indexOf(adamw)), bitsWrapper(sgd, list.indexOf(sgd))];
}

/**
 * convForward2x16 / convForward4x8(x, w, bias, out, r0, r1, Hp, Wp, Cin, OH, OW, Cout, KH, KW, sh, sw,
 * dh, dw, loBits, hiBits, c0, c1):
 * out[b, oh, ow, co] = min(max(bias[co] + Σ x[b, oh·sh + kh·dh, ow·sw + kw·dw, ci] · w[kh, kw, ci, co], lo), hi)
 * for the output rows r0 ≤ b·OH + oh < r1 and the channels c0 ≤ co < c1 (multiples of TO).
 * x is already padded ([B, Hp, Wp, Cin]: every tap lies inside it); w is packed per block of
 * TO output channels, [Cout/TO][KH][KW][Cin][TO], so that the filter is read sequentially;
 * lo and hi are f32 bits (−∞, +∞: linear; 0, +∞: ReLU; 0, 6: ReLU6). A tile is P output pixels × TO channels; a row's last OW mod P
 * pixels take one-pixel tiles.
 */
export function convForwardProgram(fma: boolean, name: string, P: number, TO: number): FnDef {
  const TV = TO / 4;
  const Pn = ['x', 'w', 'bias', 'out', 'r0', 'r1', 'Hp', 'Wp', 'Cin', 'OH', 'OW', 'Cout', 'KH', 'KW', 'sh', 'sw', 'dh', 'dw', 'lo', 'hi', 'c0', 'c1'];
  const Ln = ['r', 'b', 'oh', 'ob', 'ow', 'owEnd', 'kh', 'kw', 'ci', 'wq', 'wblk', 'xrow', 'cinB', 'coutB', 'pstep', 'outp', 'xbase',
    'kstep', 'oq', 'obEnd', ...Array.from({ length: P }, (_, p) => `xq${p}`)];
  const Vn: string[] = [];
  for (let p = 0; p < P; p++) for (let j = 0; j < TV; j++) Vn.push(`a${p}_${j}`);
  for (let j = 0; j < TV; j++) Vn.push(`w${j}`);
  Vn.push('xs', 'lov', 'hiv');
  const idx: Record<string, number> = {};
  [...Pn, ...Ln, ...Vn].forEach((n, i) => (idx[n] = i));
  const g = (n: string): Code => get(idx[n]!);
  const s = (n: string): Code => set(idx[n]!);
  const lanes = Array.from({ length: TV }, (_, j) => j);
  const madd = (a: string, w: string): Code => fma
    ? [...g('xs'), ...g(w), ...g(a), ...op.f32x4madd, ...s(a)]
    : [...g('xs'), ...g(w), ...op.f32x4mul, ...g(a), ...op.f32x4add, ...s(a)];

  /** One tile of `pp` pixels at column ow (pp = P, or 1 for a row's tail); advances ow and outp. */
  const tile = (pp: number): Code => {
    const pix = Array.from({ length: pp }, (_, p) => p);
    // One input channel: TV filter vectors, and each pixel's input splatted against them.
    const step: Code[] = [lanes.flatMap((j): Code => [...g('wq'), ...op.v128load(16 * j), ...s(`w${j}`)])];
    for (const p of pix) {
      step.push([...g(`xq${p}`), ...op.load32splat(0), ...s('xs')]);
      step.push(lanes.flatMap((j) => madd(`a${p}_${j}`, `w${j}`)));
    }
    step.push([...g('wq'), ...op.i32c(4 * TO), ...op.i32add, ...s('wq')]);
    for (const p of pix) step.push([...g(`xq${p}`), ...op.i32c(4), ...op.i32add, ...s(`xq${p}`)]);
    return [
      ...pix.flatMap((p) => lanes.flatMap((j): Code => [...g('bias'), ...g('ob'), ...op.i32add, ...op.v128load(16 * j), ...s(`a${p}_${j}`)])),
      ...g('wblk'), ...s('wq'),
      ...forLoop(idx.kh!, op.i32c(0), idx.KH!, 1,
        forLoop(idx.kw!, op.i32c(0), idx.KW!, 1,
          // xq_p = xrow + (kh·dh·Wp + ow·sw + kw·dw)·cinB + p·pstep
          g('kh'), g('dh'), op.i32mul, g('Wp'), op.i32mul, g('ow'), g('sw'), op.i32mul, op.i32add,
          g('kw'), g('dw'), op.i32mul, op.i32add, g('cinB'), op.i32mul, g('xrow'), op.i32add, s('xbase'),
          pix.flatMap((p): Code => [...g('xbase'), ...(p === 0 ? [] : [...g('pstep'), ...op.i32c(p), ...op.i32mul, ...op.i32add]), ...s(`xq${p}`)]),
          forLoop(idx.ci!, op.i32c(0), idx.Cin!, 1, ...step))),
      ...pix.flatMap((p): Code => [
        ...g('outp'), ...(p === 0 ? [] : [...g('coutB'), ...op.i32c(p), ...op.i32mul, ...op.i32add]), ...s('oq'),
        ...lanes.flatMap((j): Code => [
          ...g('oq'),
          ...g(`a${p}_${j}`), ...g('lov'), ...op.f32x4pmax, ...g('hiv'), ...op.f32x4pmin,
          ...op.v128store(16 * j),
        ]),
      ]),
      ...g('ow'), ...op.i32c(pp), ...op.i32add, ...s('ow'),
      ...g('outp'), ...g('coutB'), ...op.i32c(pp), ...op.i32mul, ...op.i32add, ...s('outp'),
    ];
  };
  const body: Code = [
    ...g('lo'), ...op.f32reinterpret, ...op.f32x4splat, ...s('lov'),
    ...g('hi'), ...op.f32reinterpret, ...op.f32x4splat, ...s('hiv'),
    ...g('Cin'), ...op.i32c(2), ...op.i32shl, ...s('cinB'),
    ...g('Cout'), ...op.i32c(2), ...op.i32shl, ...s('coutB'),
    ...g('sw'), ...g('cinB'), ...op.i32mul, ...s('pstep'),
    ...g('KH'), ...g('KW'), ...op.i32mul, ...g('Cin'), ...op.i32mul, ...op.i32c(4 * TO), ...op.i32mul, ...s('kstep'),
    ...g('OW'), ...op.i32c(P - 1), ...op.i32sub, ...s('owEnd'),
    ...g('c1'), ...op.i32c(2), ...op.i32shl, ...s('obEnd'),
    ...forLoop(idx.r!, g('r0'), idx.r1!, 1,
      g('r'), g('OH'), op.i32divU, s('b'),
      g('r'), g('b'), g('OH'), op.i32mul, op.i32sub, s('oh'),
      // xrow = x + (b·Hp + oh·sh)·Wp·cinB
      g('b'), g('Hp'), op.i32mul, g('oh'), g('sh'), op.i32mul, op.i32add, g('Wp'), op.i32mul, g('cinB'), op.i32mul, g('x'), op.i32add, s('xrow'),
      // the filter block of channel c0: w + (c0 / TO)·kstep
      g('c0'), op.i32c(TO), op.i32divU, g('kstep'), op.i32mul, g('w'), op.i32add, s('wblk'),
      forLoop(idx.ob!, [...g('c0'), ...op.i32c(2), ...op.i32shl], idx.obEnd!, 4 * TO,
        op.i32c(0), s('ow'),
        g('r'), g('OW'), op.i32mul, g('coutB'), op.i32mul, g('out'), op.i32add, g('ob'), op.i32add, s('outp'),
        block(loop(g('ow'), g('owEnd'), op.i32geS, brIf(1), tile(P), br(0))),
        P === 1 ? [] : block(loop(g('ow'), g('OW'), op.i32geS, brIf(1), tile(1), br(0))),
        g('wblk'), g('kstep'), op.i32add, s('wblk'))),
  ];
  return {
    name,
    params: new Array<number>(Pn.length).fill(i32) as FnDef['params'],
    locals: [...new Array<number>(Ln.length).fill(i32), ...new Array<number>(Vn.length).fill(v128)] as FnDef['locals'],
    body,
  };
}
