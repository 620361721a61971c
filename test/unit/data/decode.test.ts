import * as assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeBmp } from '../../../src/data/bmp';
import { decodeImage, DecodeSpec, sniffFormat } from '../../../src/data/decode';
import { decodePngFast, encodePng } from '../../../src/data/png';
import { resizeInto } from '../../../src/data/resize';
import { bmpBytes, pattern } from './helpers';

const spec = (h: number, w: number, channels: 1 | 3, more: Partial<DecodeSpec> = {}): DecodeSpec => ({
  height: h,
  width: w,
  channels,
  fit: 'pad',
  background: 'white',
  ...more,
});

/** A noisy image, so that PNG encoders use every filter type. */
function noisy(w: number, h: number, c: number, seed: number): Buffer {
  const b = Buffer.alloc(w * h * c);
  let s = seed;
  for (let i = 0; i < b.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    b[i] = i % 5 === 0 ? (s >>> 24) & 255 : (i * 3 + (i % w)) & 255;
  }
  return b;
}

async function sharpRaw(bytes: Buffer): Promise<{ data: Buffer; channels: number }> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return { data, channels: info.channels };
}

describe('data/decode', () => {
  describe('fast PNG decoder', () => {
    for (const c of [1, 2, 3, 4] as const) {
      it(`matches libpng for 8-bit ${['gray', 'gray+alpha', 'RGB', 'RGBA'][c - 1]} with adaptive filters`, async () => {
        const raw = noisy(23, 17, c, c);
        let img = sharp(raw, { raw: { width: 23, height: 17, channels: c } });
        // Raw 1- and 2-channel input is written as RGB(A) unless told it is gray.
        if (c <= 2) img = img.toColourspace('b-w');
        const png = await img.png({ adaptiveFiltering: true, compressionLevel: 9 }).toBuffer();
        const fast = decodePngFast(png)!;
        assert.ok(fast, 'decoded by the fast path');
        assert.equal(fast.channels, c);
        assert.deepEqual(Buffer.from(fast.data), raw);
      });
    }

    it('matches libpng for palette PNGs (8-bit and 1-bit) and 16-bit PNGs', async () => {
      const raw = noisy(20, 9, 3, 9);
      for (const colours of [256, 2]) {
        const png = await sharp(raw, { raw: { width: 20, height: 9, channels: 3 } })
          .png({ palette: true, colours, dither: 0 })
          .toBuffer();
        const fast = decodePngFast(png)!;
        const ref = await sharpRaw(png);
        assert.equal(fast.channels, ref.channels);
        assert.deepEqual(Buffer.from(fast.data), ref.data);
      }
      const png16 = await sharp(raw, { raw: { width: 20, height: 9, channels: 3 } })
        .toColourspace('rgb16')
        .png()
        .toBuffer();
      assert.equal((await sharp(png16).metadata()).depth, 'ushort');
      const fast = decodePngFast(png16)!;
      const ref8 = await sharp(png16).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer();
      let maxDiff = 0;
      for (let i = 0; i < ref8.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fast.data[i] - ref8[i]));
      assert.ok(maxDiff <= 1, `16-bit samples differ by ${maxDiff}`);
    });

    it('leaves interlaced PNGs and bad checksums to sharp (which still decodes or reports them)', async () => {
      const raw = noisy(16, 16, 3, 1);
      const interlaced = await sharp(raw, { raw: { width: 16, height: 16, channels: 3 } })
        .png({ progressive: true })
        .toBuffer();
      assert.equal(decodePngFast(interlaced), null);
      const d = await decodeImage(interlaced, spec(16, 16, 3));
      assert.deepEqual(Buffer.from(d.pixels!), raw);
      const bad = Buffer.from(encodePng(4, 4, 1, pattern(4, 4, 1, 1)));
      bad[bad.length - 20] ^= 0x55; // inside IDAT
      assert.equal(decodePngFast(bad), null);
      const r = await decodeImage(bad, null);
      assert.equal(r.info.error?.code, 'corrupt-image');
    });

    it('round-trips its own encoder', () => {
      const px = pattern(5, 3, 4, 2);
      assert.deepEqual(decodePngFast(encodePng(5, 3, 4, px))!.data, px);
    });
  });

  describe('formats', () => {
    const rgb = noisy(12, 10, 3, 4);
    const make = (f: 'jpeg' | 'webp' | 'gif' | 'tiff') =>
      sharp(rgb, { raw: { width: 12, height: 10, channels: 3 } })
        .toFormat(f, f === 'webp' ? { lossless: true } : f === 'tiff' ? { compression: 'lzw' } : {})
        .toBuffer();

    for (const f of ['jpeg', 'webp', 'gif', 'tiff'] as const) {
      it(`decodes ${f}, reporting size, format and a content hash`, async () => {
        const bytes = await make(f);
        assert.equal(sniffFormat(bytes), f);
        const d = await decodeImage(bytes, spec(5, 6, 3));
        assert.equal(d.info.error, undefined);
        assert.equal(d.info.width, 12);
        assert.equal(d.info.height, 10);
        assert.equal(d.info.format, f);
        assert.match(d.info.hash!, /^[0-9a-f]{40}$/);
        assert.equal(d.pixels!.length, 5 * 6 * 3);
      });
    }

    it('decodes lossless WebP exactly at its own size', async () => {
      const d = await decodeImage(await make('webp'), spec(10, 12, 3));
      assert.deepEqual(Buffer.from(d.pixels!), rgb);
    });

    it('decodes 24-bit and 8-bit BMP itself (sharp cannot)', async () => {
      const px = noisy(7, 5, 3, 5);
      const d24 = decodeBmp(bmpBytes(7, 5, px, 24));
      assert.deepEqual([d24.width, d24.height, d24.channels], [7, 5, 3]);
      assert.deepEqual(Buffer.from(d24.data), px);
      const gray = Buffer.alloc(7 * 5 * 3);
      for (let i = 0; i < 35; i++) gray[3 * i] = gray[3 * i + 1] = gray[3 * i + 2] = (i * 7) & 255;
      const d8 = await decodeImage(bmpBytes(7, 5, gray, 8), spec(5, 7, 1));
      assert.equal(d8.info.format, 'bmp');
      assert.deepEqual(
        Array.from(d8.pixels!),
        Array.from({ length: 35 }, (_, i) => (i * 7) & 255),
      );
    });

    it('reports RLE BMPs as unsupported and truncated BMPs as damaged', async () => {
      const b = bmpBytes(4, 4, noisy(4, 4, 3, 1));
      const rle = Buffer.from(b);
      rle.writeUInt32LE(1, 30);
      assert.equal((await decodeImage(rle, null)).info.error?.code, 'unsupported-format');
      const cut = await decodeImage(b.subarray(0, b.length - 10), null);
      assert.equal(cut.info.error?.code, 'corrupt-image');
      assert.match(cut.info.error!.message, /cut short/);
    });

    it('takes the first frame of an animated GIF', async () => {
      const frames = Buffer.concat([Buffer.alloc(4 * 4 * 4, 255), Buffer.alloc(4 * 4 * 4, 0)]);
      for (let i = 3; i < frames.length; i += 4) frames[i] = 255;
      const gif = await sharp(frames, { raw: { width: 4, height: 8, channels: 4 } })
        .gif({ loop: 0 })
        .toBuffer();
      const anim = await sharp(frames, { raw: { width: 4, height: 8, channels: 4, pageHeight: 4 } as never })
        .gif()
        .toBuffer();
      const d = await decodeImage(anim, spec(4, 4, 1));
      assert.equal(d.info.height, 4);
      assert.ok(
        d.pixels!.every((v) => v === 255),
        'first (white) frame',
      );
      assert.ok(gif.length > 0);
    });

    it('reports empty files, truncated JPEGs and non-images with what to do', async () => {
      const empty = await decodeImage(new Uint8Array(0), null);
      assert.equal(empty.info.error?.code, 'empty-file');
      const jpg = await make('jpeg');
      const cut = await decodeImage(jpg.subarray(0, jpg.length >> 1), spec(4, 4, 3));
      assert.equal(cut.info.error?.code, 'corrupt-image');
      assert.match(cut.info.error!.message, /premature end/i);
      assert.equal(cut.pixels, undefined);
      const html = await decodeImage(Buffer.from('<!DOCTYPE html><html>Not Found</html>'), null);
      assert.equal(html.info.error?.code, 'unsupported-format');
      assert.match(html.info.error!.message, /\(an HTML page, 37 bytes/);
      assert.doesNotMatch(html.info.error!.message, /Not Found/);
      // A CSV row can point at any file: the error says what it is, never what it holds.
      const secret = await decodeImage(Buffer.from('root:x:0:0:root:/root:/bin/bash\n'), null);
      assert.equal(secret.info.error?.code, 'unsupported-format');
      assert.match(secret.info.error!.message, /\(a text file, 32 bytes\)/);
      assert.doesNotMatch(secret.info.error!.message, /root/);
      const binary = await decodeImage(Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5]), null);
      assert.match(binary.info.error!.message, /\(an unknown format, 9 bytes\)/);
      assert.doesNotMatch(binary.info.error!.message, /de ad|dead/i);
    });
  });

  describe('orientation, alpha, channels, fit', () => {
    it('applies the EXIF orientation (6: rotate 90° clockwise)', async () => {
      // 8×4: left half black, right half white.
      const px = Buffer.alloc(8 * 4 * 3);
      for (let y = 0; y < 4; y++) for (let x = 4; x < 8; x++) px.fill(255, (y * 8 + x) * 3, (y * 8 + x) * 3 + 3);
      const jpg = await sharp(px, { raw: { width: 8, height: 4, channels: 3 } })
        .jpeg({ quality: 100 })
        .withMetadata({ orientation: 6 })
        .toBuffer();
      const d = await decodeImage(jpg, spec(8, 4, 1));
      assert.deepEqual([d.info.width, d.info.height], [4, 8]);
      // Rotated clockwise, the right (white) half is at the bottom.
      const top = d.pixels!.subarray(0, 4 * 3).reduce((a, b) => a + b, 0) / 12;
      const bottom = d.pixels!.subarray(4 * 5).reduce((a, b) => a + b, 0) / 12;
      assert.ok(top < 40 && bottom > 215, `top ${top}, bottom ${bottom}`);
    });

    it('composites transparent pixels on white by default, on black when asked (fast path and sharp)', async () => {
      const rgba = Buffer.from([255, 0, 0, 0, 0, 0, 255, 255]); // transparent red, opaque blue
      const png = encodePng(2, 1, 4, rgba);
      const webp = await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } })
        .webp({ lossless: true })
        .toBuffer();
      for (const bytes of [png, webp]) {
        const white = await decodeImage(bytes, spec(1, 2, 3));
        assert.deepEqual(Array.from(white.pixels!), [255, 255, 255, 0, 0, 255]);
        const black = await decodeImage(bytes, spec(1, 2, 3, { background: 'black' }));
        assert.deepEqual(Array.from(black.pixels!), [0, 0, 0, 0, 0, 255]);
        assert.equal(white.info.channels, 4);
      }
    });

    it('converts RGB to gray with Rec. 601 luma and gray to RGB by replication (fast path and sharp)', async () => {
      const rgb = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 100, 100]);
      const png = encodePng(4, 1, 3, rgb);
      const tiff = await sharp(rgb, { raw: { width: 4, height: 1, channels: 3 } })
        .tiff({ compression: 'lzw' })
        .toBuffer();
      for (const bytes of [png, tiff]) {
        assert.deepEqual(Array.from((await decodeImage(bytes, spec(1, 4, 1))).pixels!), [76, 150, 29, 100]);
      }
      const gray = encodePng(2, 1, 1, Uint8Array.from([10, 200]));
      assert.deepEqual(Array.from((await decodeImage(gray, spec(1, 2, 3))).pixels!), [10, 10, 10, 200, 200, 200]);
    });

    it('pads (black bars) or centre-crops to the target aspect ratio', async () => {
      // 8×4 white image with a 2-px gray centre column pair.
      const px = new Uint8Array(8 * 4).fill(255);
      for (let y = 0; y < 4; y++) px[y * 8 + 3] = px[y * 8 + 4] = 100;
      const png = encodePng(8, 4, 1, px);
      const pad = (await decodeImage(png, spec(4, 4, 1, { fit: 'pad' }))).pixels!;
      // 8×4 → 4×2 in the middle rows; rows 0 and 3 are bars.
      assert.deepEqual(Array.from(pad.subarray(0, 4)), [0, 0, 0, 0]);
      assert.deepEqual(Array.from(pad.subarray(12, 16)), [0, 0, 0, 0]);
      assert.ok(pad[4] > 200 && pad[5] < 255);
      const crop = (await decodeImage(png, spec(4, 4, 1, { fit: 'crop' }))).pixels!;
      // The centre 4×4: columns 2..5 → white, gray, gray, white.
      assert.deepEqual(Array.from(crop.subarray(0, 4)), [255, 100, 100, 255]);
      // Sharp's pad agrees on where the bars are.
      const tiff = await sharp(Buffer.from(px), { raw: { width: 8, height: 4, channels: 1 } })
        .toColourspace('b-w')
        .tiff({ compression: 'lzw' })
        .toBuffer();
      const sp = (await decodeImage(tiff, spec(4, 4, 1, { fit: 'pad' }))).pixels!;
      assert.deepEqual(Array.from(sp.subarray(0, 4)), [0, 0, 0, 0]);
      assert.ok(sp[4] > 150);
    });

    it('antialiases when shrinking and interpolates when enlarging', () => {
      const checker = new Uint8Array(8 * 8);
      for (let i = 0; i < 64; i++) checker[i] = ((i >> 3) + i) % 2 ? 255 : 0;
      const out = new Uint8Array(4 * 4);
      resizeInto(checker, 8, 8, 1, out, 0, 4, 4, 'pad');
      assert.ok(
        out.every((v) => Math.abs(v - 127.5) < 40),
        `averaged: ${Array.from(out)}`,
      );
      const up = new Uint8Array(16);
      resizeInto(Uint8Array.from([0, 200, 0, 200]), 2, 2, 1, up, 0, 4, 4, 'pad');
      assert.deepEqual(Array.from(up.subarray(0, 4)), [0, 50, 150, 200]);
      assert.deepEqual(Array.from(up.subarray(12, 16)), [0, 50, 150, 200]);
      // pad keeps the aspect ratio: 2×1 into 4×1 stays 2 wide, centred.
      const bar = new Uint8Array(4);
      resizeInto(Uint8Array.from([10, 200]), 2, 1, 1, bar, 0, 4, 1, 'pad');
      assert.deepEqual(Array.from(bar), [0, 10, 200, 0]);
    });
  });
});
