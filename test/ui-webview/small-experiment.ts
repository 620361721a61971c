// A tiny dataset (cats and dogs, solid-colour PNGs, one missing file) and an empty experiment
// on it, for the host-side panel tests.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../../src/data';
import type { ExperimentSpec } from '../../src/shared/protocol';
import { ExperimentStore } from '../../src/store/store';

export function makeSmallExperiment(root: string): { csv: string; store: ExperimentStore } {
  const rows: string[] = [];
  for (const [c, label] of ['cat', 'dog'].entries()) {
    mkdirSync(join(root, 'data', label), { recursive: true });
    for (let i = 0; i < 6; i++) {
      const px = new Uint8Array(40 * 30 * 3).fill(60 + c * 120 + i);
      writeFileSync(join(root, 'data', label, `${i}.png`), encodePng(40, 30, 3, px));
      rows.push(`${i < 4 ? 'TRAIN' : 'TEST'},${label}/${i}.png,${label}`);
    }
  }
  rows.push('TRAIN,dog/missing.png,dog');
  const csv = join(root, 'data', 'labels.csv');
  writeFileSync(csv, rows.join('\n') + '\n');
  const spec: ExperimentSpec = {
    id: 'e1',
    name: 'pets',
    dataset: csv,
    budgetMinutes: 1,
    backend: 'cpu',
    seed: 1,
    imageSize: 0,
    fit: 'pad',
    cacheDir: join(root, 'cache'),
    createdAt: new Date().toISOString(),
  };
  const store = ExperimentStore.create(join(root, 'experiments'), spec);
  return { csv, store };
}
