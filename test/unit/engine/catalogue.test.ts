import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { loadBackbone, resolveBackbone } from '../../../src/engine/model/backbone';
import { CATALOGUE, CATALOGUE_BASE, DEFAULT_BACKBONE, catalogueEntry, entryUrl, resolveAutoBackbone, resolveEntry } from '../../../src/engine/model/catalogue';
import { type DownloadProgress, sha256 } from '../../../src/engine/model/download';
import { saveModel } from '../../../src/engine/model/io';

/** A fetch that fails as when offline; `calls` counts its uses. */
function offline(): typeof fetch & { calls: number } {
  const f = (async () => {
    f.calls++;
    throw new TypeError('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND storage.googleapis.com') });
  }) as unknown as typeof fetch & { calls: number };
  f.calls = 0;
  return f;
}

describe('backbone catalogue', () => {
  let dir: string;
  let server: Server;
  let mirror: string;
  const requests: string[] = [];
  const entry = catalogueEntry(DEFAULT_BACKBONE)!;
  const modelPath = new URL(entry.url!).pathname;
  const served = () => join(dir, 'served', ...modelPath.split('/').slice(1, -1));

  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-catalogue-'));
    // A small stand-in for MobileNet v2 at the catalogue's path, with a layer named as the entry's cut.
    const input = tfl.input({ shape: [16, 16, 3] });
    const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'Conv_1' }).apply(input) as tfl.SymbolicTensor;
    const relu = tfl.layers.reLU({ name: entry.cut }).apply(conv) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(relu) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 3 }).apply(pooled) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    await saveModel(model, served());
    model.dispose();
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const file = join(dir, 'served', (req.url ?? '/').replace(/^\/+/, ''));
      if (existsSync(file) && !file.endsWith('/')) {
        const bytes = readFileSync(file);
        res.setHeader('content-length', bytes.length);
        res.end(bytes);
      } else {
        res.statusCode = 404;
        res.end('not found');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names every entry with its URL or package, input size, range, cut, size and licence; the mirror replaces the base URL', () => {
    assert.deepEqual(
      CATALOGUE.map((e) => e.name),
      [
        'mobilenet-v1-0.25',
        'mobilenet-v1-0.50',
        'mobilenet-v1-0.75',
        'mobilenet-v1-1.00',
        'mobilenet-v2-0.35',
        'mobilenet-v2-0.50',
        'mobilenet-v2-0.75',
        'mobilenet-v2-1.00',
        'nsfwjs-mobilenet-v2',
        'nsfwjs-inception-v3',
      ],
    );
    for (const e of CATALOGUE) {
      assert.ok(e.url || e.nsfwjs, e.name);
      assert.ok(e.size === 224 || e.size === 299, e.name);
      assert.ok(e.cut && e.bytes > 0 && e.licence, e.name);
    }
    assert.equal(catalogueEntry('mobilenet-v1-1.00')!.url, 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_1.0_224/model.json');
    assert.equal(catalogueEntry('mobilenet-v1-0.50')!.cut, 'conv_pw_13_relu');
    assert.equal(
      entry.url,
      'https://storage.googleapis.com/teachable-machine-models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.00_224_no_top/model.json',
    );
    assert.equal(entry.range, '-1-1');
    assert.equal(catalogueEntry('nsfwjs-inception-v3')!.range, '0-1');
    assert.equal(entryUrl(entry, 'http://mirror.local/'), `http://mirror.local${modelPath}`);
    const saved = process.env.AUTOML_BACKBONE_MIRROR;
    try {
      process.env.AUTOML_BACKBONE_MIRROR = 'http://127.0.0.1:9';
      assert.equal(entryUrl(entry), `http://127.0.0.1:9${modelPath}`);
      delete process.env.AUTOML_BACKBONE_MIRROR;
      assert.ok(entryUrl(entry).startsWith(CATALOGUE_BASE));
    } finally {
      if (saved === undefined) delete process.env.AUTOML_BACKBONE_MIRROR;
      else process.env.AUTOML_BACKBONE_MIRROR = saved;
    }
  });

  it('downloads an entry once with progress up to its total and checksums.json, then uses it offline', async () => {
    const cache = join(dir, 'cache');
    const progress: DownloadProgress[] = [];
    const got = await resolveBackbone(DEFAULT_BACKBONE, cache, fetch, (p) => progress.push(p), { mirror });
    assert.equal(got, join(cache, DEFAULT_BACKBONE));
    assert.deepEqual(requests, [modelPath, modelPath.replace('model.json', 'weights.bin')]);
    const sizes = ['model.json', 'weights.bin'].map((f) => readFileSync(join(served(), f)).length);
    const last = progress[progress.length - 1];
    assert.equal(last.done, sizes[0] + sizes[1]);
    assert.equal(last.total, last.done, 'the progress reaches its total');
    assert.ok(progress.every((p, i) => p.done <= p.total && (i === 0 || p.done >= progress[i - 1].done)));
    assert.ok(progress.some((p) => p.file === 'weights.bin'));
    const sums = JSON.parse(readFileSync(join(got, 'checksums.json'), 'utf8')) as Record<string, string>;
    assert.deepEqual(sums, {
      'model.json': sha256(readFileSync(join(served(), 'model.json'))),
      'weights.bin': sha256(readFileSync(join(served(), 'weights.bin'))),
    });
    // Offline afterwards: the cached entry never touches the network.
    const net = offline();
    assert.equal(await resolveBackbone(DEFAULT_BACKBONE, cache, net, undefined, { mirror }), got);
    assert.equal(net.calls, 0);
    // It loads cut at the entry's layer, in the entry's range.
    const bb = await loadBackbone(got, entry.range, { cut: entry.cut });
    assert.deepEqual(bb.info.featureShape, [8, 8, 4]);
    assert.equal(bb.info.range, '-1-1');
    bb.dispose();
  });

  it('downloads a damaged cached copy again, and says so', async () => {
    const cache = join(dir, 'cache');
    const weights = join(cache, DEFAULT_BACKBONE, 'weights.bin');
    writeFileSync(weights, Buffer.from('not the weights'));
    const before = requests.length;
    const messages: string[] = [];
    await resolveBackbone(DEFAULT_BACKBONE, cache, fetch, undefined, { mirror, onMessage: (m) => messages.push(m) });
    assert.equal(messages.length, 1);
    assert.match(
      messages[0],
      /mobilenet-v2-1\.00: the cached copy in .* is damaged \(weights\.bin has sha256 [0-9a-f]{64}, checksums\.json says [0-9a-f]{64}\); downloading it again/,
    );
    assert.equal(requests.length, before + 2);
    assert.deepEqual(readFileSync(weights), readFileSync(join(served(), 'weights.bin')));
    // A damaged copy cannot be replaced offline: the download's error.
    writeFileSync(weights, Buffer.from('damaged again'));
    await assert.rejects(resolveBackbone(DEFAULT_BACKBONE, cache, offline(), undefined, { mirror }), /download failed \(getaddrinfo ENOTFOUND/);
    await resolveBackbone(DEFAULT_BACKBONE, cache, fetch, undefined, { mirror });
  });

  it('refuses a download whose hash differs from the recorded checksums, caching nothing', async () => {
    const cache = join(dir, 'cache-recorded');
    const good = sha256(readFileSync(join(served(), 'model.json')));
    const wrong = 'f'.repeat(64);
    const recorded = [{ ...entry, sha256: { 'model.json': good, 'weights.bin': wrong } }];
    await assert.rejects(
      resolveBackbone(DEFAULT_BACKBONE, cache, fetch, undefined, { mirror, catalogue: recorded }),
      new RegExp(`mobilenet-v2-1\\.00: weights\\.bin downloaded from .* has sha256 [0-9a-f]{64}, but the catalogue records ${wrong}`),
    );
    assert.ok(!existsSync(join(cache, DEFAULT_BACKBONE)));
    // With the right hashes it is taken, and checked against them afterwards.
    const right = [{ ...entry, sha256: { 'model.json': good, 'weights.bin': sha256(readFileSync(join(served(), 'weights.bin'))) } }];
    const got = await resolveBackbone(DEFAULT_BACKBONE, cache, fetch, undefined, { mirror, catalogue: right });
    assert.ok(existsSync(join(got, 'checksums.json')));
  });

  it('names the catalogue when a name is not in it, and says how to install nsfwjs', async () => {
    await assert.rejects(
      resolveBackbone('mobilenet-v3', join(dir, 'cache'), offline()),
      /Backbone mobilenet-v3: not in the catalogue \(mobilenet-v1-0\.25, mobilenet-v1-0\.50, .*mobilenet-v2-1\.00, nsfwjs-mobilenet-v2, nsfwjs-inception-v3\)/,
    );
    await assert.rejects(
      resolveEntry(catalogueEntry('nsfwjs-mobilenet-v2')!, join(dir, 'no-nsfwjs'), { nsfwjsRoot: null }),
      /nsfwjs, which is not installed \(npm install nsfwjs@4\.4\.0\)/,
    );
  });

  it('writes the nsfwjs models out of the installed package, with checksums, cut at their features', async function () {
    const nsfwjs = catalogueEntry('nsfwjs-mobilenet-v2')!;
    let got: string;
    try {
      got = await resolveBackbone(nsfwjs.name, join(dir, 'cache'), offline());
    } catch (e) {
      if (/not installed/.test(String(e))) this.skip();
      throw e;
    }
    assert.ok(existsSync(join(got, 'checksums.json')));
    const bb = await loadBackbone(got, 'auto', { cut: nsfwjs.cut });
    assert.equal(bb.info.range, '0-1', "nsfwjs's metadata agrees with the catalogue");
    assert.deepEqual(bb.info.featureShape, [7, 7, 1280]);
    assert.deepEqual(bb.info.inputShape, [nsfwjs.size, nsfwjs.size, 3]);
    bb.dispose();
  });

  describe('auto', () => {
    const photos = { color: true, medianSide: 300, multiLabel: false, strategy: 'search' as const };

    it('takes no backbone for grayscale, small, multi-label or fixed data, without the network', async () => {
      const net = offline();
      const o = { fetchImpl: net, mirror };
      const cache = join(dir, 'cache');
      assert.match((await resolveAutoBackbone({ ...photos, color: false }, cache, o)).message, /^no backbone: grayscale images/);
      assert.match(
        (await resolveAutoBackbone({ ...photos, medianSide: 28 }, cache, o)).message,
        /^no backbone: small images \(median side 28 px, under 64 px\)/,
      );
      assert.match((await resolveAutoBackbone({ ...photos, multiLabel: true }, cache, o)).message, /^no backbone: multi-label/);
      const fixed = await resolveAutoBackbone({ ...photos, strategy: 'fixed' }, cache, o);
      assert.match(fixed.message, /^no backbone: the fixed strategy/);
      assert.equal(fixed.dir, undefined);
      assert.equal(net.calls, 0);
    });

    it('takes a cached catalogue backbone for photos, offline', async () => {
      const net = offline();
      const cached = await resolveAutoBackbone(photos, join(dir, 'cache'), { fetchImpl: net, mirror });
      assert.equal(cached.entry?.name, DEFAULT_BACKBONE);
      assert.equal(cached.dir, join(dir, 'cache', DEFAULT_BACKBONE));
      assert.match(cached.message, /^Backbone auto: mobilenet-v2-1\.00, already in the cache \(RGB photos, median side 300 px\)/);
      // Another cached entry is taken when the default is not there.
      const other = join(dir, 'cache-other');
      cpSync(join(dir, 'cache', DEFAULT_BACKBONE), join(other, 'mobilenet-v1-0.25'), { recursive: true });
      const v1 = await resolveAutoBackbone(photos, other, { fetchImpl: net, mirror });
      assert.equal(v1.entry?.name, 'mobilenet-v1-0.25');
      assert.equal(net.calls, 0);
    });

    it('downloads the default for photos when none is cached, and trains from scratch when it cannot', async () => {
      const failed = await resolveAutoBackbone(photos, join(dir, 'cache-offline'), { fetchImpl: offline(), mirror });
      assert.equal(failed.dir, undefined);
      assert.match(failed.message, /^no backbone: auto could not get mobilenet-v2-1\.00 \(.*download failed.*\); training from scratch$/);
      const progress: DownloadProgress[] = [];
      const got = await resolveAutoBackbone(photos, join(dir, 'cache-fresh'), { fetchImpl: fetch, mirror, onProgress: (p) => progress.push(p) });
      assert.equal(got.entry?.name, DEFAULT_BACKBONE);
      assert.match(got.message, /^Backbone auto: mobilenet-v2-1\.00, downloaded once into the cache/);
      assert.ok(progress.length > 0 && progress[progress.length - 1].done === progress[progress.length - 1].total);
    });
  });
});
