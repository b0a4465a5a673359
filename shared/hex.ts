// Lowercase hex of bytes, from a table: ids and key hashes are made on every edge request, and
// `toString(16).padStart` per byte was measurable there (~2.5 % of the edge's thread for ids).

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}
