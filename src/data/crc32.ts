// CRC-32 (zlib's polynomial): native zlib.crc32 where Node has it (≥ 20.15), else a table.
import * as zlib from 'node:zlib';

let table: Int32Array | undefined;

function jsCrc32(data: Uint8Array, start = 0, end = data.length): number {
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let c = -1;
  for (let i = start; i < end; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

const native = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;

export function crc32(data: Uint8Array): number {
  return native ? native(data) >>> 0 : jsCrc32(data);
}
