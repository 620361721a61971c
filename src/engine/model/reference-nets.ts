// The three reference networks the engine is measured and tested with. They all
// end in a linear Dense layer: the outputs are logits (TrainStep applies the
// softmax / sigmoid inside its loss; apply tf.softmax for probabilities).
import * as tfl from '@tensorflow/tfjs-layers';

export const REFERENCE_NET_NAMES = ['2-conv', 'autokeras', 'autokeras-2', 'resnet8'] as const;
export type ReferenceNetName = (typeof REFERENCE_NET_NAMES)[number];

export interface ReferenceNetOptions {
  /** Seed of the weight initialisers (deterministic weights for tests and benchmarks). */
  seed?: number;
  /** Dropout rate of the "autokeras" head (default 0.25; 0 makes training deterministic). */
  dropout?: number;
}

/** Seeded initialisers: each layer gets its own seed derived from the base one. */
class Init {
  private next: number;
  constructor(seed: number | undefined) {
    this.next = seed ?? Math.floor(Math.random() * 1e9);
  }
  kernel(): ReturnType<typeof tfl.initializers.glorotUniform> {
    return tfl.initializers.glorotUniform({ seed: this.next++ });
  }
  he(): ReturnType<typeof tfl.initializers.heNormal> {
    return tfl.initializers.heNormal({ seed: this.next++ });
  }
}

/** conv3x3 32 relu, maxpool2, conv3x3 64 relu, maxpool2, flatten, dense 128 relu, dense classes. */
function twoConv(inputShape: number[], numClasses: number, init: Init): tfl.LayersModel {
  return tfl.sequential({
    name: 'two_conv',
    layers: [
      tfl.layers.conv2d({ inputShape, filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init.kernel() }),
      tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tfl.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init.kernel() }),
      tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init.kernel() }),
      tfl.layers.dense({ units: numClasses, kernelInitializer: init.kernel() }),
    ],
  });
}

/**
 * AutoKeras-style image block: 3 × [conv-BN-ReLU (× `convsPerBlock`), maxpool] with
 * 32/64/128 filters, global average pooling, dropout, dense. The convolutions
 * have no bias: the BatchNorm right after them has one.
 *
 * "autokeras" (one conv per block, ~44 MFLOP per training sample on 28×28×1) is the
 * network the engine's throughput target was set with; "autokeras-2" (two per block,
 * Auto-Keras's ConvBlock default, ~174 MFLOP) is four times the work.
 */
function autokeras(inputShape: number[], numClasses: number, init: Init, dropout: number, convsPerBlock: number): tfl.LayersModel {
  const layers: tfl.layers.Layer[] = [];
  let first = true;
  for (const filters of [32, 64, 128]) {
    for (let i = 0; i < convsPerBlock; i++) {
      layers.push(
        tfl.layers.conv2d({
          ...(first ? { inputShape } : {}),
          filters,
          kernelSize: 3,
          padding: 'same',
          useBias: false,
          kernelInitializer: init.he(),
        }),
      );
      first = false;
      layers.push(tfl.layers.batchNormalization({ momentum: 0.99, epsilon: 1e-3 }));
      layers.push(tfl.layers.activation({ activation: 'relu' }));
    }
    layers.push(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' }));
  }
  layers.push(tfl.layers.globalAveragePooling2d({}));
  // No seed: a seeded tfjs Dropout draws the same mask on every call.
  layers.push(tfl.layers.dropout({ rate: dropout }));
  layers.push(tfl.layers.dense({ units: numClasses, kernelInitializer: init.kernel() }));
  return tfl.sequential({ name: convsPerBlock === 1 ? 'autokeras_block' : `autokeras_block_${convsPerBlock}`, layers });
}

/** ResNet v1 for small images, depth 8 (one basic block per stage), widths 16/32/64. */
function resnet8(inputShape: number[], numClasses: number, init: Init): tfl.LayersModel {
  const input = tfl.input({ shape: inputShape });
  const convBn = (x: tfl.SymbolicTensor, filters: number, strides: number, relu: boolean): tfl.SymbolicTensor => {
    let y = tfl.layers
      .conv2d({
        filters,
        kernelSize: 3,
        strides,
        padding: 'same',
        useBias: false,
        kernelInitializer: init.he(),
      })
      .apply(x) as tfl.SymbolicTensor;
    y = tfl.layers.batchNormalization({ momentum: 0.99, epsilon: 1e-3 }).apply(y) as tfl.SymbolicTensor;
    if (relu) y = tfl.layers.activation({ activation: 'relu' }).apply(y) as tfl.SymbolicTensor;
    return y;
  };
  let x = convBn(input, 16, 1, true);
  for (const [filters, strides] of [
    [16, 1],
    [32, 2],
    [64, 2],
  ] as const) {
    const y = convBn(convBn(x, filters, strides, true), filters, 1, false);
    let shortcut = x;
    if (strides !== 1 || (x.shape[3] as number) !== filters) {
      shortcut = tfl.layers
        .conv2d({
          filters,
          kernelSize: 1,
          strides,
          padding: 'same',
          useBias: false,
          kernelInitializer: init.he(),
        })
        .apply(x) as tfl.SymbolicTensor;
    }
    x = tfl.layers.add().apply([y, shortcut]) as tfl.SymbolicTensor;
    x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  }
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: numClasses, kernelInitializer: init.kernel() }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ name: 'resnet8', inputs: input, outputs: logits });
}

/** Builds a reference network (logits output) for images of `inputShape` [H, W, C]. */
export function buildReferenceNet(
  name: ReferenceNetName | string,
  inputShape: number[] = [28, 28, 1],
  numClasses = 10,
  opts: ReferenceNetOptions = {},
): tfl.LayersModel {
  const init = new Init(opts.seed);
  switch (name) {
    case '2-conv':
      return twoConv(inputShape, numClasses, init);
    case 'autokeras':
      return autokeras(inputShape, numClasses, init, opts.dropout ?? 0.25, 1);
    case 'autokeras-2':
      return autokeras(inputShape, numClasses, init, opts.dropout ?? 0.25, 2);
    case 'resnet8':
      return resnet8(inputShape, numClasses, init);
    default:
      throw new Error(`unknown reference net "${name}" (known: ${REFERENCE_NET_NAMES.join(', ')})`);
  }
}
