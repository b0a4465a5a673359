// Secret tokens: customer API keys (`taas_`), management tokens (`tpat_`) and invitation tokens
// (`tinv_`).
// Format: prefix + 32 random base62 chars (~190 bits) + 6 base62 chars of CRC32 over the random
// part, like GitHub's token format: typos and leak scanners recognise a key without a lookup.
// Only the SHA-256 of a token is ever stored or compared.

import { toHex } from './hex.ts';

export type TokenKind = 'api_key' | 'admin_token' | 'invitation';

const PREFIX: Record<TokenKind, string> = { api_key: 'taas_', admin_token: 'tpat_', invitation: 'tinv_' };
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
/** Characters of a token shown in listings: the prefix and 8 random characters (~48 of 190 bits). */
const DISPLAY_LENGTH = 8;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function base62(value: number, width: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

function randomBase62(length: number): string {
  // Rejection sampling keeps every character uniform (256 is not a multiple of 62).
  let out = '';
  while (out.length < length) {
    const bytes = new Uint8Array(length * 2);
    crypto.getRandomValues(bytes);
    for (const b of bytes) {
      if (b < 248 && out.length < length) out += ALPHABET[b % 62];
    }
  }
  return out;
}

export function generateToken(kind: TokenKind): string {
  const random = randomBase62(RANDOM_LENGTH);
  return PREFIX[kind] + random + base62(crc32(random), CHECKSUM_LENGTH);
}

const SHAPE: Record<TokenKind, RegExp> = {
  api_key: new RegExp(`^taas_[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`),
  admin_token: new RegExp(`^tpat_[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`),
  invitation: new RegExp(`^tinv_[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`),
};

/** True when the token has the right prefix, length, alphabet and checksum. No lookup needed. */
export function isWellFormedToken(kind: TokenKind, token: string): boolean {
  if (!SHAPE[kind].test(token)) return false;
  const body = token.slice(PREFIX[kind].length);
  const random = body.slice(0, RANDOM_LENGTH);
  return body.slice(RANDOM_LENGTH) === base62(crc32(random), CHECKSUM_LENGTH);
}

export function tokenDisplayPrefix(token: string): string {
  return token.slice(0, 5 + DISPLAY_LENGTH);
}

// One per isolate, not one per call: in workerd each is a C++ object, and those are freed only
// by a full garbage collection, whose sweep of them pauses the thread (README, "Performance").
const encoder = new TextEncoder();

/** Lower-case hex SHA-256 of the token: the only form in which a token is stored or compared. */
export async function hashToken(token: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', encoder.encode(token));
  return toHex(new Uint8Array(digest));
}
