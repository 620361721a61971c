// Decompression bombs and images whose headers ask for absurd memory (issue 21): each is
// refused, naming the file, and the process that reads it stays small.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeBmp } from '../../../src/data/bmp';
import { decodeImage } from '../../../src/data/decode';
import { openDataset } from '../../../src/data/open';
import { validateDataset } from '../../../src/data/validate';
import { bmpBytes, cleanupTemp, deflatedZeros, pngBytes, pngWithIdat, tempDir, validateInChild, write, writePng, zipBytes } from './helpers';

const GB = 1 << 30;

describe('data: decompression bombs', () => {
  after(cleanupTemp);

  it('refuses a 28×28 PNG whose data inflates to 500 MB, without inflating it (peak RSS < 1 GB)', async function () {
    this.timeout(600_000);
    const d = tempDir();
    const bomb = pngWithIdat(28, 28, await deflatedZeros(500 * 1e6));
    assert.ok(bomb.length < 1e6, `the bomb is ${bomb.length} bytes`);
    write(path.join(d, 'data', 'c0', 'bomb.png'), bomb);
    for (let i = 0; i < 3; i++) {
      writePng(path.join(d, 'data', 'c0', `ok${i}.png`), 28, 28, 1, i);
      writePng(path.join(d, 'data', 'c1', `ok${i}.png`), 28, 28, 1, 10 + i);
    }
    const { findings, maxRss } = validateInChild(path.join(d, 'data'), path.join(d, 'cache'));
    const refused = findings.filter((f) => f.code === 'corrupt-image');
    assert.equal(refused.length, 1, JSON.stringify(findings));
    assert.equal(refused[0].severity, 'error');
    assert.match(refused[0].file ?? '', /bomb\.png$/);
    assert.match(refused[0].message, /PNG data inflates past its declared 28×28 size/);
    assert.ok(maxRss < GB, `peak RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB`);
  });

  it("refuses PNG data that inflates even one byte past the header's size; exactly the size still decodes", async () => {
    const rows = (extra: number) => Buffer.concat([Buffer.alloc(4 * (1 + 4), 0), Buffer.alloc(extra)]);
    const { deflateSync } = await import('node:zlib');
    const exact = await decodeImage(pngWithIdat(4, 4, deflateSync(rows(0))), null);
    assert.equal(exact.info.error, undefined);
    assert.equal(exact.info.width, 4);
    const over = await decodeImage(pngWithIdat(4, 4, deflateSync(rows(1))), null);
    assert.equal(over.info.error?.code, 'corrupt-image');
    assert.match(over.info.error!.message, /inflates past its declared 4×4 size/);
  });

  it('refuses a BMP whose header asks for more pixels than the file holds before allocating them', () => {
    const header = (w: number, h: number) => {
      const b = bmpBytes(2, 2, new Uint8Array(12));
      b.writeInt32LE(w, 18);
      b.writeInt32LE(h, 22);
      return b;
    };
    assert.throws(() => decodeBmp(header(60000, 60000)), /implausible BMP size 60000×60000/);
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(() => decodeBmp(header(8000, 8000)), /cut short/);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20);
    const pal = bmpBytes(2, 2, new Uint8Array(12), 8);
    pal.writeUInt32LE(0xffffffff, 46); // colours used: 4 billion; an 8-bit image can index 256
    assert.equal(decodeBmp(pal).width, 2);
  });

  it('refuses a JPEG declaring 20000×20000 px (over 100 megapixels) with the file named, without decoding it', async () => {
    const jpeg = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 10, b: 10 } } })
      .jpeg()
      .toBuffer();
    let sof = -1;
    for (let i = 2; i < jpeg.length - 1; i++)
      if (jpeg[i] === 0xff && jpeg[i + 1] >= 0xc0 && jpeg[i + 1] <= 0xc2) {
        sof = i;
        break;
      }
    assert.ok(sof > 0);
    jpeg.writeUInt16BE(20000, sof + 5);
    jpeg.writeUInt16BE(20000, sof + 7);
    const d = tempDir();
    write(path.join(d, 'data', 'c0', 'huge.jpg'), jpeg);
    for (let i = 0; i < 3; i++) {
      writePng(path.join(d, 'data', 'c0', `ok${i}.png`), 8, 8, 1, i);
      writePng(path.join(d, 'data', 'c1', `ok${i}.png`), 8, 8, 1, 10 + i);
    }
    const ds = await openDataset(path.join(d, 'data'));
    const result = await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache'), workers: 0 });
    const refused = result.filter((f) => f.severity === 'error');
    assert.equal(refused.length, 1, JSON.stringify(result));
    assert.match(refused[0].file ?? '', /huge\.jpg$/);
    assert.match(refused[0].message, /20000×20000 px \(400 megapixels\), over the 100-megapixel limit/);
  });

  it('refuses zip entries declared over 256 MiB, and entries that inflate past their declared size, naming them (peak RSS < 1 GB)', async function () {
    this.timeout(600_000);
    const d = tempDir();
    const entries = [];
    for (let i = 0; i < 3; i++) {
      entries.push({ name: `c0/ok${i}.png`, data: pngBytes(8, 8, 1, i) }, { name: `c1/ok${i}.png`, data: pngBytes(8, 8, 1, 10 + i) });
    }
    // Honest: a 1 GiB entry of zeros (1 MB deflated). Lying: declares 1,000 bytes, inflates to 500 MB.
    entries.push({ name: 'c0/gigabyte.png', data: new Uint8Array(0), crafted: { body: await deflatedZeros(2 ** 30, true), size: 2 ** 30, crc32: 0 } });
    entries.push({ name: 'c1/liar.png', data: new Uint8Array(0), crafted: { body: await deflatedZeros(500 * 1e6, true), size: 1000, crc32: 0 } });
    const zip = write(path.join(d, 'bombs.zip'), zipBytes(entries));
    const { findings, maxRss } = validateInChild(zip, path.join(d, 'cache'));
    const errors = findings.filter((f) => f.severity === 'error');
    assert.equal(errors.length, 2, JSON.stringify(findings));
    const big = errors.find((f) => /gigabyte\.png/.test(f.message));
    assert.match(big?.message ?? '', /declares 1024 MiB, over the 256 MiB limit for one entry/);
    const liar = errors.find((f) => /liar\.png/.test(f.message));
    assert.match(liar?.message ?? '', /inflates past its declared size of 1000 bytes/);
    assert.ok(maxRss < GB, `peak RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB`);
  });
});
