// A minimal WebAssembly assembler: just what the project's SIMD kernels need.
//
// The memory-bound parts of a training step (BatchNorm, ReLU gradient,
// reductions, optimizer) run as plain JS loops at 4–10 ns per element on this
// class of machine; the same loops in WebAssembly SIMD run close to memory
// bandwidth. The tfjs wasm binary cannot be extended, but a second, tiny module
// can import the backend's memory and work on its tensors in place. Generating
// that module here (instead of shipping a binary) keeps it readable and avoids
// a toolchain: function bodies are written with the helpers below.

export type Code = number[];

export const i32 = 0x7f;
export const f32 = 0x7d;
export const f64 = 0x7c;
export const v128 = 0x7b;
export type ValType = typeof i32 | typeof f32 | typeof f64 | typeof v128;

export function uleb(v: number): number[] {
  const out: number[] = [];
  let n = v >>> 0;
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(v: number): number[] {
  const out: number[] = [];
  let n = v | 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function f32Bytes(v: number): number[] {
  return Array.from(new Uint8Array(new Float32Array([v]).buffer));
}

const simd = (op: number): Code => [0xfd, ...uleb(op)];

/** Instruction helpers. Memory offsets are in bytes. */
export const op = {
  get: (i: number): Code => [0x20, ...uleb(i)],
  set: (i: number): Code => [0x21, ...uleb(i)],
  tee: (i: number): Code => [0x22, ...uleb(i)],
  i32c: (v: number): Code => [0x41, ...sleb(v)],
  f32c: (v: number): Code => [0x43, ...f32Bytes(v)],
  i32add: [0x6a],
  i32sub: [0x6b],
  i32mul: [0x6c],
  i32divU: [0x6e],
  i32shl: [0x74],
  i32ltS: [0x48],
  i32or: [0x72],
  i32load: (off = 0): Code => [0x28, 2, ...uleb(off)],
  i32geS: [0x4e],
  i32eqz: [0x45],
  f32load: (off = 0): Code => [0x2a, 2, ...uleb(off)],
  f32store: (off = 0): Code => [0x38, 2, ...uleb(off)],
  f64load: (off = 0): Code => [0x2b, 3, ...uleb(off)],
  f64store: (off = 0): Code => [0x39, 3, ...uleb(off)],
  v128load: (off = 0): Code => [...simd(0x00), 4, ...uleb(off)],
  v128store: (off = 0): Code => [...simd(0x0b), 4, ...uleb(off)],
  /** v128.load32_splat: one f32 from memory in all four lanes. */
  load32splat: (off = 0): Code => [...simd(0x09), 2, ...uleb(off)],
  /** f32x4.relaxed_madd(a, b, c) = a·b + c, fused where the CPU has FMA (relaxed SIMD). */
  f32x4madd: simd(0x105),
  f32x4splat: simd(0x13),
  f32x4gt: simd(0x44),
  f32x4eq: simd(0x41),
  v128and: simd(0x4e),
  v128andnot: simd(0x4f),
  v128or: simd(0x50),
  v128bitselect: simd(0x52),
  f32x4sqrt: simd(0xe3),
  f32x4add: simd(0xe4),
  f32x4sub: simd(0xe5),
  f32x4mul: simd(0xe6),
  f32x4div: simd(0xe7),
  f32x4max: simd(0xe9),
  f32x4pmin: simd(0xea),
  f32x4pmax: simd(0xeb),
  /** f32.reinterpret_i32: an i32's bits as an f32 (float arguments through the pool's i32 slots). */
  f32reinterpret: [0xbe],
  f64x2add: simd(0xf0),
  f64x2promoteLow: simd(0x5f),
  i32x4splat: simd(0x11),
  v128xor: simd(0x51),
  i32x4geU: simd(0x40),
  i32x4shrU: simd(0xad),
  i32x4add: simd(0xae),
  i32x4mul: simd(0xb5),
  /** v128.const of four i32 lanes. */
  i32x4const: (a: number, b: number, c: number, d: number): Code => [...simd(0x0c), ...Array.from(new Uint8Array(new Int32Array([a, b, c, d]).buffer))],
  /** i8x16.shuffle selecting f32 lanes (0–3: first operand, 4–7: second). */
  shuffle32: (a: number, b: number, c: number, d: number): Code => [...simd(0x0d), ...[a, b, c, d].flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])],
  /** i8x16.shuffle of the two operands: moves f32 lanes 2, 3 of the first to lanes 0, 1. */
  highHalfToLow: [...simd(0x0d), 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15],
  drop: [0x1a],
  /** select(a, b, cond): a if cond ≠ 0 else b. */
  select: [0x1b],
};

/** block … end; `br_if 1` inside a loop in it leaves the block. */
export const block = (...body: Code[]): Code => [0x02, 0x40, ...body.flat(), 0x0b];
export const loop = (...body: Code[]): Code => [0x03, 0x40, ...body.flat(), 0x0b];
export const brIf = (depth: number): Code => [0x0d, ...uleb(depth)];
export const br = (depth: number): Code => [0x0c, ...uleb(depth)];

/** for (i = start; i < end; i += step) body — `i`, `end` are i32 locals; start/step constants. */
export function forLoop(i: number, start: Code, end: number, step: number, ...body: Code[]): Code {
  return [...start, ...op.set(i), ...block(loop(op.get(i), op.get(end), op.i32geS, brIf(1), ...body, op.get(i), op.i32c(step), op.i32add, op.set(i), br(0)))];
}

export interface FnDef {
  name: string;
  params: ValType[];
  results?: ValType[];
  locals?: ValType[];
  body: Code;
}

/**
 * `${def.name}Bits`: the same function taking its f32 parameters as their i32 bits (the thread
 * pool's argument slots hold i32), calling `def`, which must be function `index` of the module.
 */
export function bitsWrapper(def: FnDef, index: number): FnDef {
  return {
    name: `${def.name}Bits`,
    params: def.params.map((t) => (t === f32 ? i32 : t)),
    results: def.results,
    body: [...def.params.flatMap((t, i) => (t === f32 ? [...op.get(i), ...op.f32reinterpret] : op.get(i))), 0x10, ...uleb(index)],
  };
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const bytes = Array.from(Buffer.from(s, 'utf8'));
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** A module that imports `env.memory` (shared or not) and exports the functions. */
export function assemble(fns: FnDef[], sharedMemory: boolean): Uint8Array<ArrayBuffer> {
  const types = fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec((f.results ?? []).map((t) => [t]))]);
  // Shared memories must declare a maximum; the tfjs threaded binary uses 4 GiB.
  const memType = sharedMemory ? [0x03, ...uleb(1), ...uleb(65536)] : [0x00, ...uleb(1)];
  const imports = vec([[...name('env'), ...name('memory'), 0x02, ...memType]]);
  const funcs = vec(fns.map((_, i) => uleb(i)));
  const exports = vec(fns.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const bodies = fns.map((f) => {
    const groups: number[][] = [];
    for (const t of f.locals ?? []) {
      const last = groups[groups.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const body = [...vec(groups.map(([n, t]) => [...uleb(n), t])), ...f.body, 0x0b];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, vec(bodies)),
  ]);
}
