import * as assert from 'node:assert/strict';
import { type ImageSet, type StreamedImageSet, concatSets, isStreamed, readRange, readRows, residentBytes } from '../../../src/data/image-set';
import type { ImageTensorSet } from '../../../src/data/types';

/** n 2×2×1 images whose 4 pixels all equal base + their row number. */
function memorySet(n: number, base: number): ImageTensorSet {
  const pixels = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) pixels.fill(base + i, i * 4, i * 4 + 4);
  return {
    height: 2,
    width: 2,
    channels: 1,
    count: n,
    pixels,
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
    itemIds: Int32Array.from({ length: n }, (_, i) => base + i),
  };
}

function streamedSet(n: number, base: number): StreamedImageSet & { calls: number[][] } {
  const { pixels, ...rest } = memorySet(n, base);
  const calls: number[][] = [];
  return {
    ...rest,
    calls,
    rows: {
      read(positions, out) {
        calls.push(Array.from(positions));
        for (let k = 0; k < positions.length; k++) out.set(pixels.subarray(positions[k] * 4, positions[k] * 4 + 4), k * 4);
      },
    },
  };
}

const firstPixels = (rows: Uint8Array) => Array.from({ length: rows.length / 4 }, (_, k) => rows[k * 4]);

describe('image sets (in memory or streamed)', () => {
  it('reads rows at positions, in the order asked, from either kind', () => {
    for (const set of [memorySet(6, 10), streamedSet(6, 10)] as ImageSet[]) {
      assert.deepEqual(firstPixels(readRows(set, [4, 0, 5])), [14, 10, 15]);
      assert.deepEqual(firstPixels(readRange(set, 2, 3)), [12, 13, 14]);
      const out = new Uint8Array(64);
      assert.equal(readRows(set, [1], out), out, 'reuses a large enough buffer');
      assert.equal(out[0], 11);
      assert.throws(() => readRows(set, [6]), /row 6 is outside a set of 6 images/);
    }
    assert.equal(residentBytes(memorySet(6, 0)), 24);
    assert.equal(residentBytes(streamedSet(6, 0)), 0);
  });

  it('concatenates two in-memory sets into one buffer', () => {
    const c = concatSets(memorySet(3, 0), memorySet(2, 100));
    assert.ok(!isStreamed(c));
    assert.equal(c.count, 5);
    assert.deepEqual(firstPixels(readRange(c, 0, 5)), [0, 1, 2, 100, 101]);
    assert.deepEqual(Array.from(c.labels), [0, 1, 2, 0, 1]);
    assert.deepEqual(Array.from(c.itemIds), [0, 1, 2, 100, 101]);
  });

  it('concatenates streamed sets without reading them, splitting each request between the two', () => {
    const a = streamedSet(3, 0);
    const b = streamedSet(4, 100);
    const c = concatSets(a, b);
    assert.ok(isStreamed(c));
    assert.equal(a.calls.length + b.calls.length, 0);
    assert.deepEqual(firstPixels(readRows(c, [5, 0, 3, 2, 6])), [102, 0, 100, 2, 103]);
    assert.deepEqual(a.calls, [[0, 2]]);
    assert.deepEqual(b.calls, [[2, 0, 3]]);
    assert.deepEqual(Array.from(c.itemIds), [0, 1, 2, 100, 101, 102, 103]);
    // A streamed set and one in memory mix too.
    const m = concatSets(memorySet(2, 50), streamedSet(1, 7));
    assert.deepEqual(firstPixels(readRows(m, [2, 1, 0])), [7, 51, 50]);
  });
});
