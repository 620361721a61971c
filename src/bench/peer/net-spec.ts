// The networks of the PyTorch side by side (issue 25), described once in nets.json: this module
// reads that description and builds each network with tfjs layers; torch_train.py builds the same
// description with torch.nn. The vocabulary is the one nets.json's comment documents.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';

export type LayerSpec =
  | { op: 'conv'; filters: number; kernel: number; stride?: number; bias?: boolean }
  | { op: 'dwconv'; kernel: number; stride?: number; bias?: boolean }
  | { op: 'bn' | 'relu' | 'relu6' | 'maxpool' | 'gap' | 'flatten' }
  | { op: 'dense'; units: number | 'classes' }
  | { op: 'dropout'; rate: number }
  | { op: 'residual'; body: LayerSpec[]; shortcut?: LayerSpec[] }
  | { op: 'invres'; t: number; c: number; n: number; s: number };

export interface PeerCase {
  mode: 'train' | 'forward';
  batch: number;
}

export interface NetSpec {
  name: string;
  /** [H, W, C] */
  input: [number, number, number];
  classes: number;
  cases: PeerCase[];
  layers: LayerSpec[];
}

interface NetsFile {
  nets: (Omit<NetSpec, 'layers'> & { layers: LayerSpec[] | string })[];
  layerLists?: Record<string, LayerSpec[]>;
}

/** nets.json in the source tree (the compiled module runs from out/src/bench/peer/). */
export const NETS_JSON = resolve(__dirname, '..', '..', '..', '..', 'src', 'bench', 'peer', 'nets.json');
/** The PyTorch side of the side by side. */
export const TORCH_SCRIPT = join(resolve(NETS_JSON, '..'), 'torch_train.py');

/** The nets of a nets.json text, with named layer lists resolved. Throws on an unknown list or op. */
export function parseNets(text: string, file = NETS_JSON): NetSpec[] {
  const parsed = JSON.parse(text) as NetsFile;
  return parsed.nets.map((n) => {
    const layers = typeof n.layers === 'string' ? parsed.layerLists?.[n.layers] : n.layers;
    if (!layers) throw new Error(`${file}: net "${n.name}" names the layer list "${String(n.layers)}", which layerLists does not have`);
    return { ...n, layers };
  });
}

export function loadNets(file = NETS_JSON): NetSpec[] {
  return parseNets(readFileSync(file, 'utf8'), file);
}

/** Seeded initialisers, one seed per layer. */
class Seeds {
  constructor(private next: number) {}
  he(): ReturnType<typeof tfl.initializers.heNormal> {
    return tfl.initializers.heNormal({ seed: this.next++ });
  }
}

function apply(layer: tfl.layers.Layer, x: SymbolicTensor): SymbolicTensor {
  return layer.apply(x) as SymbolicTensor;
}

function channels(x: SymbolicTensor): number {
  return x.shape[3] as number;
}

function conv(x: SymbolicTensor, filters: number, kernel: number, stride: number, bias: boolean, seeds: Seeds): SymbolicTensor {
  return apply(tfl.layers.conv2d({ filters, kernelSize: kernel, strides: stride, padding: 'same', useBias: bias, kernelInitializer: seeds.he() }), x);
}

const bn = (x: SymbolicTensor) => apply(tfl.layers.batchNormalization({ momentum: 0.99, epsilon: 1e-3 }), x);
const relu6 = (x: SymbolicTensor) => apply(tfl.layers.reLU({ maxValue: 6 }), x);

/** MobileNetV2's inverted residual block, once. */
function invertedResidual(x: SymbolicTensor, t: number, c: number, stride: number, seeds: Seeds): SymbolicTensor {
  const inC = channels(x);
  let y = x;
  if (t !== 1) y = relu6(bn(conv(y, inC * t, 1, 1, false, seeds)));
  y = apply(tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', useBias: false, depthwiseInitializer: seeds.he() }), y);
  y = relu6(bn(y));
  y = bn(conv(y, c, 1, 1, false, seeds));
  return stride === 1 && inC === c ? (tfl.layers.add().apply([x, y]) as SymbolicTensor) : y;
}

function layer(x: SymbolicTensor, l: LayerSpec, classes: number, seeds: Seeds): SymbolicTensor {
  switch (l.op) {
    case 'conv':
      return conv(x, l.filters, l.kernel, l.stride ?? 1, l.bias ?? false, seeds);
    case 'dwconv':
      return apply(
        tfl.layers.depthwiseConv2d({
          kernelSize: l.kernel,
          strides: l.stride ?? 1,
          padding: 'same',
          useBias: l.bias ?? false,
          depthwiseInitializer: seeds.he(),
        }),
        x,
      );
    case 'bn':
      return bn(x);
    case 'relu':
      return apply(tfl.layers.activation({ activation: 'relu' }), x);
    case 'relu6':
      return relu6(x);
    case 'maxpool':
      return apply(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' }), x);
    case 'gap':
      return apply(tfl.layers.globalAveragePooling2d({}), x);
    case 'flatten':
      return apply(tfl.layers.flatten(), x);
    case 'dense':
      return apply(tfl.layers.dense({ units: l.units === 'classes' ? classes : l.units, kernelInitializer: seeds.he() }), x);
    case 'dropout':
      // No seed: a seeded tfjs Dropout draws the same mask on every call.
      return apply(tfl.layers.dropout({ rate: l.rate }), x);
    case 'residual': {
      const body = l.body.reduce((y, b) => layer(y, b, classes, seeds), x);
      const shortcut = (l.shortcut ?? []).reduce((y, b) => layer(y, b, classes, seeds), x);
      return tfl.layers.add().apply([body, shortcut]) as SymbolicTensor;
    }
    case 'invres': {
      let y = x;
      for (let i = 0; i < l.n; i++) y = invertedResidual(y, l.t, l.c, i === 0 ? l.s : 1, seeds);
      return y;
    }
    default:
      throw new Error(`${NETS_JSON}: unknown layer op "${(l as { op: string }).op}"`);
  }
}

/** The tfjs model of a net of nets.json (logits out; seeded weights). */
export function buildSpecNet(spec: NetSpec, seed = 1): tfl.LayersModel {
  const seeds = new Seeds(seed);
  const input = tfl.input({ shape: spec.input });
  const out = spec.layers.reduce((x, l) => layer(x, l, spec.classes, seeds), input);
  return tfl.model({ name: spec.name.replace(/[^A-Za-z0-9_]/g, '_'), inputs: input, outputs: out });
}

/** Trainable parameters (what torch's sum of p.numel() over requires_grad parameters counts). */
export function trainableParams(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}
