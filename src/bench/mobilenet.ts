// MobileNetV2 feature extraction on wasm (issue 26): nsfwjs's MobileNetV2 at 224×224×3 as the
// pooled-features model of the linear probe, `predict` on batches of random images; images/s and
// where the time goes, kernel by kernel.
//
//   node out/src/bench/mobilenet.js [--batch 16] [--rounds 4] [--reps 2] [--modes project,stock] [--profile] [--by-shape]
//
// Modes run interleaved in the same process (the machine is shared and noisy): each round runs
// every mode `reps` batches, and the report gives each mode's median. Modes:
//   project — the feature extractor as the product runs it (BatchNorm, padding and ReLU6 folded
//             into the convolutions: model/fold.ts) on the project's kernels (default)
//   kernels — the layers as they are (not folded), on the project's kernels
//   before  — not folded, the project's kernels without the inference kernels of issue 26
//             (inference.ts): the state before it
//   stock   — not folded, tfjs-backend-wasm's own kernels
// --profile times every wasm kernel (exclusive time: a kernel that calls another through the
// registry is charged only its own part) over one batch per mode; --by-shape, per input and filter shape.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { getKernelsForBackend, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc } from '@tensorflow/tfjs-core';
import { loadBackbone } from '../engine/model/backbone';
import { extractNsfwjsModel } from '../engine/model/nsfwjs';
import { initBackend } from '../engine/runtime/runtime';
import { useWasmKernelSet } from '../engine/runtime/wasm/kernels';
import { setInferenceKernelsEnabled } from '../engine/runtime/wasm/inference';
import { featureExtractor } from '../engine/training/features';

type Mode = 'project' | 'kernels' | 'before' | 'stock';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function setKernels(mode: Mode): void {
  useWasmKernelSet(mode === 'stock' ? 'stock' : 'project');
  setInferenceKernelsEnabled(mode === 'project' || mode === 'kernels');
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Per-kernel exclusive times while `run` runs: every wasm kernel wrapped with a timer, then restored. */
function profile(run: () => void, byShape: boolean): Map<string, { ms: number; calls: number }> {
  const times = new Map<string, { ms: number; calls: number }>();
  const originals = getKernelsForBackend('wasm');
  const stack: number[] = []; // time spent in children, per open call
  for (const k of originals) {
    const f = k.kernelFunc;
    const timed: KernelFunc = (args) => {
      stack.push(0);
      const t0 = performance.now();
      try {
        return f(args);
      } finally {
        const total = performance.now() - t0;
        const children = stack.pop()!;
        if (stack.length > 0) stack[stack.length - 1] += total;
        const key = byShape ? `${k.kernelName} ${args.inputs.x?.shape?.join('×') ?? ''} ${args.inputs.filter?.shape?.join('×') ?? ''}` : k.kernelName;
        const e = times.get(key) ?? { ms: 0, calls: 0 };
        e.ms += total - children;
        e.calls++;
        times.set(key, e);
      }
    };
    unregisterKernel(k.kernelName, 'wasm');
    registerKernel({ ...k, kernelFunc: timed, setupFunc: undefined } as KernelConfig);
  }
  try {
    run();
  } finally {
    for (const k of originals) {
      unregisterKernel(k.kernelName, 'wasm');
      registerKernel({ ...k, setupFunc: undefined });
    }
  }
  return times;
}

async function main(): Promise<void> {
  const batch = Number(arg('batch', '16'));
  const rounds = Number(arg('rounds', '4'));
  const reps = Number(arg('reps', '2'));
  const modes = arg('modes', 'project').split(',') as Mode[];
  const info = await initBackend({ preference: 'wasm' });
  console.log(info.reasons[info.reasons.length - 1]);
  const dir = await extractNsfwjsModel(
    'mobilenet_v2',
    join(process.env.AUTOML_BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'automl-mobilenet-')), 'nsfwjs-mobilenet_v2'),
  );
  const bb = await loadBackbone(dir, 'auto', { size: 224 });
  const folded = featureExtractor(bb).model;
  const plain = featureExtractor(bb, { fold: false }).model;
  const modelOf = (m: Mode): tfl.LayersModel => (m === 'project' ? folded : plain);
  console.log(
    `MobileNetV2 (nsfwjs) at 224×224×3: ${(bb.info.flops / 1e9).toFixed(2)} GFLOP an image, taps ${bb.info.taps.join(', ')}, batch ${batch}; ` +
      `${plain.layers.length} layers, ${folded.layers.length} folded`,
  );
  const x = tf.randomUniform([batch, 224, 224, 3], 0, 255, 'float32');
  let model = folded;
  const setMode = (m: Mode): void => {
    setKernels(m);
    model = modelOf(m);
  };
  const once = (): number => {
    const t0 = performance.now();
    const y = model.predict(x, { batchSize: batch }) as tf.Tensor;
    y.dataSync();
    y.dispose();
    return performance.now() - t0;
  };
  const ms = new Map<Mode, number[]>(modes.map((m) => [m, []]));
  for (const m of modes) {
    setMode(m);
    once(); // warm-up: weights, filter packs, compilation
  }
  // Agreement of the modes' outputs (features), relative to their scale.
  if (modes.length > 1) {
    const outs = modes.map((m) => {
      setMode(m);
      return (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
    });
    for (let i = 1; i < outs.length; i++) {
      let diff = 0;
      let scale = 0;
      for (let j = 0; j < outs[0].length; j++) {
        diff = Math.max(diff, Math.abs(outs[0][j] - outs[i][j]));
        scale = Math.max(scale, Math.abs(outs[0][j]));
      }
      console.log(`max |${modes[0]} − ${modes[i]}| = ${diff.toExponential(2)} (largest feature ${scale.toFixed(3)})`);
    }
  }
  for (let r = 0; r < rounds; r++) {
    for (const m of modes) {
      setMode(m);
      for (let k = 0; k < reps; k++) ms.get(m)!.push(once());
    }
  }
  for (const m of modes) {
    const t = median(ms.get(m)!);
    console.log(
      `${m.padEnd(8)} ${(batch / (t / 1000)).toFixed(1)} images/s (median of ${ms.get(m)!.length} batches: ${t.toFixed(0)} ms; all: ${ms
        .get(m)!
        .map((v) => v.toFixed(0))
        .join(' ')})`,
    );
  }
  const byShape = process.argv.includes('--by-shape');
  if (process.argv.includes('--profile') || byShape) {
    for (const m of modes) {
      setMode(m);
      let wall = 0;
      const times = profile(() => {
        wall = once();
      }, byShape);
      const total = [...times.values()].reduce((a, e) => a + e.ms, 0);
      console.log(`\nprofile, ${m}: ${wall.toFixed(0)} ms a batch, ${total.toFixed(0)} ms in kernels`);
      for (const [name, e] of [...times].sort((a, b) => b[1].ms - a[1].ms).slice(0, byShape ? 60 : 14)) {
        console.log(
          `  ${name.padEnd(byShape ? 56 : 28)} ${e.ms.toFixed(1).padStart(8)} ms ${((100 * e.ms) / wall).toFixed(1).padStart(5)} %  ${String(e.calls).padStart(4)} calls`,
        );
      }
    }
  }
  x.dispose();
  folded.dispose(); // and the unfolded model, whose layers it shares
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
