// The pretrained image models that ship inside the npm package `nsfwjs` (MobileNetV2 at 224 px and
// InceptionV3 at 299 px, TF.js layers models trained on a large varied photo corpus), written out
// as plain model folders (model.json + weight files) that the backbone loader reads like any other.
// nsfwjs keeps each model as UMD modules: one exporting the model JSON, one per weight shard
// exporting the shard's bytes as base64. The package is a devDependency of this project (tests
// and benchmarks); a user who installs it gets the same models by catalogue name.
import { createRequire } from 'node:module';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeDirAtomic } from '../../store/files';

export type NsfwjsModel = 'mobilenet_v2' | 'inception_v3';

/** The package's folder, found from `from` (default: the working directory) upwards; null when not installed. */
export function nsfwjsRoot(from = process.cwd()): string | null {
  try {
    const req = createRequire(join(from, 'noop.js'));
    return dirname(dirname(dirname(req.resolve('nsfwjs'))));
  } catch {
    return null;
  }
}

/**
 * Writes nsfwjs's `model` as a TF.js layers model folder `outDir` (once: an existing folder is
 * reused) and returns it. Its input range (0–1: nsfwjs divides pixels by 255) is recorded in the
 * model's metadata. Throws, saying how to install it, when the package is not there.
 */
export async function extractNsfwjsModel(model: NsfwjsModel, outDir: string, root = nsfwjsRoot()): Promise<string> {
  if (existsSync(join(outDir, 'model.json'))) return outDir;
  if (!root) throw new Error(`The ${model} model of nsfwjs needs the npm package nsfwjs (npm install nsfwjs@4.4.0)`);
  const req = createRequire(join(root, 'package.json'));
  const base = join(root, 'dist', 'models', model);
  const json = req(join(base, 'model.min.js')) as {
    modelTopology: unknown;
    weightsManifest: { paths: string[]; weights: unknown[] }[];
    userDefinedMetadata?: Record<string, unknown>;
  };
  await writeDirAtomic(outDir, (staged) => {
    for (const group of json.weightsManifest) {
      for (const p of group.paths) {
        const b64 = req(join(base, `${p}.min.js`)) as unknown;
        if (typeof b64 !== 'string') throw new Error(`nsfwjs ${model}: weight shard ${p} is not a base64 string`);
        writeFileSync(join(staged, p), Buffer.from(b64, 'base64'));
      }
    }
    const meta = { ...(json.userDefinedMetadata ?? {}), input: { range: '0-1' }, source: `nsfwjs ${model}` };
    writeFileSync(join(staged, 'model.json'), JSON.stringify({ ...json, format: 'layers-model', userDefinedMetadata: meta }));
  });
  return outDir;
}
