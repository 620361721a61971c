// Helper threads for the project's SIMD kernels.
//
// XNNPACK runs its operators on the threads of the tfjs wasm build; the project's own kernels
// ran on the calling thread alone, so on two cores a kernel such as the filter gradient left
// one core idle. A pool holds threads - 1 Node worker threads, each with its own instance
// of the kernel module on the *same* shared memory (the threaded tfjs heap). A call hands
// each helper an argument list through a small shared control block, runs the first list
// on the calling thread, and waits (Atomics) until every helper is done: synchronous, as a
// tfjs kernel must be. Between calls the helpers sleep in Atomics.wait and cost nothing.
//
// A helper that cannot start (no worker_threads, a memory that is not shared) leaves the
// pool with fewer threads; with none the calls run on the calling thread, one after another.
import { Worker } from 'worker_threads';

/** Control block, in i32 slots: [generation, done, failed, then per helper: fn, argc, args…]. */
const HEADER = 3;
const SLOT = 40;
const MAX_ARGS = SLOT - 2;
const STALL_MS = 10 * 60_000;

// The helper's whole program (a string: the extension ships bundles, and a worker needs a file
// or source text; this keeps the pool independent of where the bundle lies).
const HELPER = `
const { workerData } = require('worker_threads');
const { memory, module, control, slot, names } = workerData;
const fns = new WebAssembly.Instance(module, { env: { memory } }).exports;
const c = new Int32Array(control);
// The generation at the pool's creation: a call posted before this thread ran is still seen.
let seen = 0;
for (;;) {
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  if (seen < 0) break;
  const base = ${HEADER} + slot * ${SLOT};
  const fn = c[base];
  if (fn >= 0) {
    const args = Array.from(c.subarray(base + 2, base + 2 + c[base + 1]));
    try { fns[names[fn]](...args); } catch (e) { Atomics.add(c, 2, 1); }
  }
  Atomics.add(c, 1, 1);
  Atomics.notify(c, 1);
}
`;

type Fn = (...args: number[]) => void;

/** The p-th of `parts` near-equal consecutive shares of [0, n), as [start, end). */
export function splitRange(n: number, parts: number, p: number): [number, number] {
  return [Math.floor((p * n) / parts), Math.floor(((p + 1) * n) / parts)];
}

export class SimdPool {
  private readonly control: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly names: string[];
  private readonly local: Record<string, Fn>;

  /**
   * `threads` in all, the calling thread included. The module must import `env.memory`;
   * `memory` must be shared for helpers to start.
   */
  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number) {
    this.local = new WebAssembly.Instance(module, { env: { memory } }).exports as Record<string, Fn>;
    this.names = Object.keys(this.local);
    const helpers = memory.buffer instanceof SharedArrayBuffer ? Math.max(0, Math.floor(threads) - 1) : 0;
    this.control = new Int32Array(new SharedArrayBuffer(4 * (HEADER + SLOT * Math.max(1, helpers))));
    for (let slot = 0; slot < helpers; slot++) {
      try {
        const w = new Worker(HELPER, {
          eval: true,
          workerData: { memory, module, control: this.control.buffer, slot, names: this.names },
        });
        w.unref();
        // A helper that dies (it should not) must not hang the next call: drop the pool to
        // the calling thread alone.
        w.on('error', () => this.workers.splice(0));
        this.workers.push(w);
      } catch {
        break;
      }
    }
  }

  /** Threads a call can use, the calling thread included. */
  get size(): number {
    return 1 + this.workers.length;
  }

  /**
   * Runs `name` once per argument list, the lists in parallel: the first on the calling
   * thread, the next ones on helpers; lists beyond the pool's size run on the calling thread
   * after its own. Returns when all are done; throws if any failed.
   */
  run(name: string, argLists: number[][]): void {
    const fn = this.names.indexOf(name);
    if (fn < 0) throw new Error(`SIMD pool: no function ${name}`);
    const c = this.control;
    const helpers = Math.min(this.workers.length, argLists.length - 1);
    for (let h = 0; h < this.workers.length; h++) {
      const base = HEADER + h * SLOT;
      const args = h < helpers ? argLists[h + 1]! : null;
      if (args !== null && args.length > MAX_ARGS) throw new Error(`SIMD pool: ${args.length} arguments, at most ${MAX_ARGS}`);
      c[base] = args === null ? -1 : fn;
      c[base + 1] = args === null ? 0 : args.length;
      if (args !== null) c.set(args, base + 2);
    }
    if (this.workers.length > 0) {
      Atomics.store(c, 1, 0);
      Atomics.store(c, 2, 0);
      Atomics.add(c, 0, 1);
      Atomics.notify(c, 0);
    }
    const f = this.local[name]!;
    let failure: unknown = null;
    try {
      f(...argLists[0]!);
      for (let i = helpers + 1; i < argLists.length; i++) f(...argLists[i]!);
    } catch (e) {
      failure = e;
    }
    if (this.workers.length > 0) {
      // A helper that died cannot be told from a slow one while this thread blocks (its 'exit'
      // event waits for this thread's event loop): give up after STALL_MS without progress.
      let last = -1;
      let since = Date.now();
      for (let done = Atomics.load(c, 1); done < this.workers.length; done = Atomics.load(c, 1)) {
        if (done !== last) {
          last = done;
          since = Date.now();
        } else if (Date.now() - since > STALL_MS) {
          this.close();
          throw new Error(`SIMD pool: a helper thread stopped answering during ${name}`);
        }
        Atomics.wait(c, 1, done, 1000);
      }
      if (failure === null && Atomics.load(c, 2) > 0) failure = new Error(`SIMD pool: ${name} failed on a helper thread`);
    }
    if (failure !== null) throw failure;
  }

  /** Stops the helpers (they also stop with the process: they are unref'd). */
  close(): void {
    Atomics.store(this.control, 0, -1);
    Atomics.notify(this.control, 0);
    for (const w of this.workers.splice(0)) void w.terminate();
  }
}
