// An ensemble as one tfjs layers model: the members (saved models, loaded with prefixed names so
// that they cannot clash) applied to one input, their scores weighted and summed. Saved like any
// other model, so evaluation, prediction, the server and export need nothing special.
import * as tfl from '@tensorflow/tfjs-layers';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';
import { loadModel } from './io';

export interface EnsembleMember {
  dir: string;
  /** Relative weight (e.g. how many times ensemble selection picked it). */
  weight: number;
}

export async function buildEnsembleModel(members: EnsembleMember[]): Promise<tfl.LayersModel> {
  if (members.length < 2) throw new Error('An ensemble needs at least two members');
  const total = members.reduce((s, m) => s + m.weight, 0);
  const models = await Promise.all(members.map((m, i) => loadModel(m.dir, { prefix: `m${i}_` })));
  const shape = models[0].inputs[0].shape.slice(1) as number[];
  for (const [i, m] of models.entries()) {
    const other = m.inputs[0].shape.slice(1);
    if (JSON.stringify(other) !== JSON.stringify(shape))
      throw new Error(`Ensemble member ${members[i].dir} takes ${JSON.stringify(other)}, not ${JSON.stringify(shape)}`);
  }
  const input = tfl.input({ shape, name: 'image' });
  const weighted = models.map((m, i) => {
    const y = m.apply(input) as SymbolicTensor;
    return tfl.layers.rescaling({ scale: members[i].weight / total, offset: 0, name: `m${i}_weight` }).apply(y) as SymbolicTensor;
  });
  const scores = tfl.layers.add({ name: 'scores' }).apply(weighted) as SymbolicTensor;
  return tfl.model({ inputs: input, outputs: scores, name: 'ensemble' });
}
