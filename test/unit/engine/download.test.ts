import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { downloadModel } from '../../../src/engine/model/download';

describe('backbone download that stalls', () => {
  let server: Server;
  let base = '';
  let dir = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'automl-stall-'));
    server = createServer((req, res) => {
      // /silent answers nothing; /trickle sends its headers and one byte, then nothing.
      if (req.url === '/trickle/model.json') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const path of ['silent', 'trickle']) {
    it(`gives up when nothing arrives for a while (${path}), saying so, and caches nothing`, async () => {
      const started = Date.now();
      const target = join(dir, path);
      await assert.rejects(
        downloadModel(`${base}/${path}/model.json`, target, { fetchImpl: fetch, label: path, stallMs: 300 }),
        /download failed \(nothing received for 0.3 s\)/,
      );
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
      assert.equal(existsSync(target), false);
    });
  }
});
