/**
 * FNV-1a (32-bit) over a string's UTF-8 bytes: a stable, seedless hash, the same in every isolate,
 * runtime and deploy. Used where a number must follow from an id alone (a user's registry shard,
 * a match's coin for who plays what, the pairing settings' fingerprint).
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const encoder = new TextEncoder();
