import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../../../src/data/png';
import { saveModel } from '../../../src/engine/model/io';
import { buildModel } from '../../../src/engine/model/build';
import { PredictorClient } from '../../../src/predict/client';
import { type BatchPredictor, type RunningServer, startPredictionServer } from '../../../src/predict/server';
import { trainingImageStats } from '../../../src/eval/ood';
import type { ImagePrediction, OodCalibration, OutOfDistribution } from '../../../src/shared/protocol';

const WORKER = join(__dirname, '..', '..', '..', 'src', 'worker', 'main.js');

interface Reply {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  body: {
    error?: { message: string };
    payload?: { displayName: string; classification: { score: number } }[];
    models?: { name: string; classes: string[] }[];
    outOfDistribution?: OutOfDistribution;
  };
}

function call(
  s: RunningServer,
  method: string,
  path: string,
  opts: { token?: string | null; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? s.token}`;
    const req = request(`${s.url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : {} });
      });
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const payload = (bytes: Uint8Array) => JSON.stringify({ payload: { image: { imageBytes: Buffer.from(bytes).toString('base64') } } });
const png = (seed: number) =>
  encodePng(
    8,
    8,
    1,
    Uint8Array.from({ length: 64 }, (_, i) => (i * 31 + seed * 17) % 256),
  );

describe('prediction server', function () {
  this.timeout(120_000);

  describe('HTTP behaviour (stand-in predictor)', () => {
    let server: RunningServer;
    const batches: number[] = [];
    const predictor: BatchPredictor = {
      predictBytes: async (_model, images) => {
        batches.push(images.length);
        await new Promise((r) => setTimeout(r, 25)); // the time a model takes
        return images.map((img): ImagePrediction =>
          img.bytes[0] === 0x89
            ? {
                path: img.name,
                scores: [
                  { label: 'cat', score: 0.75 },
                  { label: 'dog', score: 0.25 },
                ],
              }
            : { path: img.name, scores: [], error: 'not an image (unknown format)' },
        );
      },
    };
    before(async () => {
      server = await startPredictionServer({ models: [{ name: 'pets', path: '/nowhere' }], predictor, maxBodyBytes: 4096 });
    });
    after(() => server.close());

    it('binds to 127.0.0.1 only, with a long random token', () => {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(server.token.length >= 32);
    });

    it('answers with the AutoML Vision payload shape', async () => {
      const r = await call(server, 'POST', '/v1/models/pets:predict', { body: payload(png(1)) });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.payload, [
        { displayName: 'cat', classification: { score: 0.75 } },
        { displayName: 'dog', classification: { score: 0.25 } },
      ]);
      const list = await call(server, 'GET', '/v1/models');
      assert.equal(list.status, 200);
      assert.equal(list.body.models?.[0].name, 'pets');
    });

    it('refuses a missing or wrong token with 401', async () => {
      assert.equal((await call(server, 'POST', '/v1/models/pets:predict', { token: null, body: payload(png(1)) })).status, 401);
      assert.equal((await call(server, 'POST', '/v1/models/pets:predict', { token: 'x'.repeat(64), body: payload(png(1)) })).status, 401);
      assert.equal((await call(server, 'GET', '/v1/models', { token: null })).status, 401);
    });

    it('answers only requests for 127.0.0.1, localhost or [::1] at its port (DNS rebinding: 421)', async () => {
      for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `LOCALHOST:${server.port}`, `[::1]:${server.port}`]) {
        assert.equal((await call(server, 'GET', '/v1/models', { headers: { host } })).status, 200, host);
      }
      for (const host of [`evil.example:${server.port}`, 'localhost', `127.0.0.1:${server.port + 1}`, `localhost.evil.example:${server.port}`]) {
        const r = await call(server, 'POST', '/v1/models/pets:predict', { headers: { host }, body: payload(png(1)) });
        assert.equal(r.status, 421, host);
        assert.match(r.body.error?.message ?? '', /answers only requests for 127\.0\.0\.1:\d+, localhost:\d+, \[::1\]:\d+/);
      }
    });

    it('answers the Host of a forwarded address once allowed (VS Code Remote), and still wants the token', async () => {
      const forwarded = 'Code-Server.example:8080';
      assert.equal((await call(server, 'GET', '/v1/models', { headers: { host: forwarded.toLowerCase() } })).status, 421);
      server.allowHost(forwarded);
      assert.equal((await call(server, 'GET', '/v1/models', { headers: { host: forwarded.toLowerCase() } })).status, 200);
      assert.equal((await call(server, 'GET', '/v1/models', { headers: { host: forwarded }, token: null })).status, 401);
      // Only that authority: another port or name of the same host is still refused.
      assert.equal((await call(server, 'GET', '/v1/models', { headers: { host: 'code-server.example:8081' } })).status, 421);
      assert.equal((await call(server, 'GET', '/v1/models', { headers: { host: 'evil.code-server.example:8080' } })).status, 421);
    });

    it('answers a CORS preflight without granting cross-origin access', async () => {
      const r = await call(server, 'OPTIONS', '/v1/models/pets:predict', {
        token: null,
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
      assert.equal(r.headers['access-control-allow-headers'], undefined);
      assert.equal(r.headers['access-control-allow-methods'], undefined);
      // Nor does any other answer grant it.
      const get = await call(server, 'GET', '/v1/models', { headers: { origin: 'https://evil.example' } });
      assert.equal(get.headers['access-control-allow-origin'], undefined);
    });

    it('answers a model name with bad percent-encoding with 400, not 500', async () => {
      const r = await call(server, 'POST', '/v1/models/%E0%A4%A:predict', { body: payload(png(1)) });
      assert.equal(r.status, 400);
      assert.match(r.body.error?.message ?? '', /model name "%E0%A4%A" is not valid percent-encoding/);
      assert.equal((await call(server, 'POST', '/v1/models/pets:predict', { body: payload(png(1)) })).status, 200);
    });

    it('answers bad requests with a reason and keeps serving', async () => {
      const huge = await call(server, 'POST', '/v1/models/pets:predict', { body: Buffer.alloc(10_000, 65) });
      assert.equal(huge.status, 413);
      const declared = await call(server, 'POST', '/v1/models/pets:predict', { body: Buffer.alloc(10_000, 65), headers: { 'content-length': '10000' } });
      assert.equal(declared.status, 413);
      assert.match(declared.body.error!.message, /limit is 4096/);
      const notJson = await call(server, 'POST', '/v1/models/pets:predict', { body: '{"payload": ' });
      assert.equal(notJson.status, 400);
      assert.match(notJson.body.error!.message, /not JSON/);
      const wrongShape = await call(server, 'POST', '/v1/models/pets:predict', { body: '{"payload":{"image":{}}}' });
      assert.equal(wrongShape.status, 400);
      assert.match(wrongShape.body.error!.message, /imageBytes/);
      const notBase64 = await call(server, 'POST', '/v1/models/pets:predict', { body: '{"payload":{"image":{"imageBytes":"***"}}}' });
      assert.equal(notBase64.status, 400);
      const garbage = await call(server, 'POST', '/v1/models/pets:predict', { body: payload(Buffer.from('definitely not an image')) });
      assert.equal(garbage.status, 400);
      assert.match(garbage.body.error!.message, /could not be used: not an image/);
      assert.equal((await call(server, 'POST', '/v1/models/nope:predict', { body: payload(png(1)) })).status, 404);
      assert.equal((await call(server, 'GET', '/v1/models/pets:predict')).status, 405);
      // Still serving.
      assert.equal((await call(server, 'POST', '/v1/models/pets:predict', { body: payload(png(2)) })).status, 200);
    });

    it('gathers concurrent requests into batches', async () => {
      batches.length = 0;
      const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => call(server, 'POST', '/v1/models/pets:predict', { body: payload(png(i)) })));
      assert.ok(replies.every((r) => r.status === 200));
      assert.equal(
        batches.reduce((a, b) => a + b, 0),
        12,
      );
      assert.ok(Math.max(...batches) > 1, `no batching: ${batches.join(',')}`);
    });
  });

  describe('with a real model in the prediction process', () => {
    let dir: string;
    let client: PredictorClient;
    let server: RunningServer;
    before(async () => {
      await tf.setBackend('cpu');
      dir = mkdtempSync(join(tmpdir(), 'automl-serve-'));
      const model = buildModel(
        { family: 'convnet', 'convnet/blocks': 1, 'convnet/filters': 4 },
        { inputShape: [8, 8, 1], numClasses: 3, multiLabel: false, mean: 100, std: 50 },
        1,
      );
      await saveModel(model, join(dir, 'model'), { classes: ['a', 'b', 'c'], multiLabel: false, input: { height: 8, width: 8, channels: 1, fit: 'pad' } });
      model.dispose();
      // The same model calibrated (ood.json): trained on 8×8 gray images, a threshold no image stays under.
      cpSync(join(dir, 'model'), join(dir, 'calibrated'), { recursive: true });
      const calibration: OodCalibration = {
        version: 1,
        images: trainingImageStats([{ width: 8, height: 8 }], 1),
        score: {
          kind: 'energy',
          partition: 'VALIDATION',
          count: 1,
          quantile: 0.95,
          threshold: -1e6,
          spread: { min: -1e6, p01: -1e6, p05: -1e6, p50: -1e6, p95: -1e6, p99: -1e6, max: -1e6 },
          mean: -1e6,
          seenInTraining: false,
        },
      };
      writeFileSync(join(dir, 'calibrated', 'ood.json'), JSON.stringify(calibration));
      client = new PredictorClient({ workerPath: WORKER, env: { AUTOML_BACKEND: 'wasm' } });
      server = await startPredictionServer({
        models: [
          { name: 'tiny', path: join(dir, 'model') },
          { name: 'calibrated', path: join(dir, 'calibrated') },
        ],
        predictor: client,
      });
    });
    after(async () => {
      await server.close();
      client.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it('serves concurrent and bad requests: scores sum to one, garbage is a 400, the server lives on', async () => {
      const replies = await Promise.all([
        ...Array.from({ length: 8 }, (_, i) => call(server, 'POST', '/v1/models/tiny:predict', { body: payload(png(i)) })),
        call(server, 'POST', '/v1/models/tiny:predict', { body: payload(Buffer.from('GIF89a-broken')) }),
      ]);
      for (const r of replies.slice(0, 8)) {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body.payload!.map((p) => p.displayName).sort(), ['a', 'b', 'c']);
        const sum = r.body.payload!.reduce((a, p) => a + p.classification.score, 0);
        assert.ok(Math.abs(sum - 1) < 1e-4);
      }
      assert.equal(replies[8].status, 400);
      assert.equal((await call(server, 'POST', '/v1/models/tiny:predict', { body: payload(png(99)) })).status, 200);
      const list = await call(server, 'GET', '/v1/models');
      assert.deepEqual(list.body.models?.[0].classes, ['a', 'b', 'c']);
      // A model without ood.json (trained before the check existed): no warnings and no score check.
      assert.deepEqual(replies[0].body.outOfDistribution, { flagged: false, warnings: [] });
    });

    it('says beside the AutoML payload when an image is unlike the training data, with the reasons', async () => {
      const W = 64;
      const H = 48;
      const colour = encodePng(
        W,
        H,
        3,
        Uint8Array.from({ length: W * H * 3 }, (_, i) => (i % 3 === 0 ? 230 : i % 3 === 1 ? 120 : 20)),
      );
      const [like, unlike] = await Promise.all([
        call(server, 'POST', '/v1/models/calibrated:predict', { body: payload(png(3)) }),
        call(server, 'POST', '/v1/models/calibrated:predict', { body: payload(colour) }),
      ]);
      for (const r of [like, unlike]) {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        // AutoML's shape is kept: the payload is the same list of labels and scores.
        assert.deepEqual(r.body.payload!.map((p) => p.displayName).sort(), ['a', 'b', 'c']);
        assert.deepEqual(Object.keys(r.body).sort(), ['outOfDistribution', 'payload']);
        const score = r.body.outOfDistribution!.score!;
        assert.equal(score.kind, 'energy');
        assert.ok(Number.isFinite(score.value) && score.value > -1e6 && score.flagged && score.quantile === 0.95);
      }
      // Same size and colour as the training images: only the score check fires.
      assert.equal(like.body.outOfDistribution!.flagged, true);
      assert.equal(like.body.outOfDistribution!.warnings.length, 1);
      assert.match(
        like.body.outOfDistribution!.warnings[0],
        /^unlike the training data \(OOD score -?\d+\.\d+; 95 % of validation images score below -1000000\)$/,
      );
      // A colour image 8× larger than the 8×8 gray training images: colour and size, then the score.
      const w = unlike.body.outOfDistribution!.warnings;
      assert.equal(w.length, 3, w.join('\n'));
      assert.match(w[0], /^a colour image, but the model was trained on grayscale images/);
      assert.match(w[1], /^64×48 px, far larger than the training images \(8×8 px\)/);
    });
  });
});
