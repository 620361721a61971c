// The side by side's ONNX Runtime rows: a net's forward pass (the same tfjs net the project's side
// runs, converted by the project's ONNX exporter, src/engine/model/onnx/) in onnxruntime-node on the
// CPU with the same threads — what transfer learning's features run on when ONNX Runtime is
// installed (src/engine/training/features-onnx.ts). Only forward cases; none without ONNX Runtime.
import { loadOnnxRuntime } from '../../engine/model/onnx-runtime';
import { cpuSessionOptions, layersModelToOnnx } from '../../engine/training/features-onnx';
import { rng } from '../../shared/random';
import { buildSpecNet, type NetSpec } from './net-spec';
import { imagesPerSecond } from './timing';

/** ONNX Runtime's version when it loads, else null. */
export function onnxRuntimeVersion(): string | null {
  const { mod } = loadOnnxRuntime();
  return mod ? (mod.env.versions?.common ?? 'unknown version') : null;
}

/** Images/s of `spec`'s forward pass on batches of `batch` in ONNX Runtime (null without it), timed like the project's side. */
export async function measureOnnxForward(
  spec: NetSpec,
  batch: number,
  seconds: number,
  threads: number,
): Promise<{ imagesPerSec: number; setting: string } | null> {
  const { mod } = loadOnnxRuntime();
  if (!mod) return null;
  const model = buildSpecNet(spec, 1);
  let bytes: Uint8Array;
  try {
    bytes = await layersModelToOnnx(model, `nets.json ${spec.name}`);
  } finally {
    model.dispose();
  }
  const session = await mod.InferenceSession.create(bytes, cpuSessionOptions(threads));
  try {
    const random = rng(1);
    const shape = [batch, ...spec.input];
    const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random() * 2 - 1);
    const run = async (): Promise<void> => {
      await session.run({ [session.inputNames[0]]: new mod.Tensor('float32', x, shape) });
    };
    const imagesPerSec = await imagesPerSecond(run, batch, seconds);
    return { imagesPerSec, setting: `ONNX Runtime ${mod.env.versions?.common ?? ''}, ${threads} threads` };
  } finally {
    await session.release();
  }
}
