// The bundle as a tar (tar-stream), every entry under tsync-bundle/:
//
//   header.json   {format, version, seal, keyId, against: {id}, delete}
//   plan.json     {ops, was} (lib/bundle/plan.ts): what to do, and what the
//                 receiver's tree held where the bundle acts
//   manifest      the receiver's tree after apply, as a manifest file
//                 (lib/bundle/manifest-file.ts, without block signatures)
//   data/N        a whole file, or a delta's op stream (lib/delta/wire.ts)
//   seal          hex SHA-256, or HMAC under --key, over every entry before
//                 it: for each, its name, NUL, its size (8 bytes BE), its bytes
//
// The seal is the last entry; nothing may follow it. `-z` gzips the whole tar.

export const BUNDLE_FORMAT = 'tsync-bundle';
export const BUNDLE_VERSION = 1;
export const PREFIX = 'tsync-bundle/';
export const HEADER_NAME = `${PREFIX}header.json`;
export const PLAN_NAME = `${PREFIX}plan.json`;
export const MANIFEST_NAME = `${PREFIX}manifest`;
export const SEAL_NAME = `${PREFIX}seal`;
export const dataName = (n: number): string => `${PREFIX}data/${n}`;

export interface BundleHeader {
  format: string;
  version: number;
  seal: string;
  keyId: string | null;
  against: { id: string };
  delete: boolean;
}

/** what the seal covers of an entry before its bytes */
export function entryHead(name: string, size: number): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(n.length + 9);
  n.copy(b, 0);
  b[n.length] = 0;
  b.writeBigUInt64BE(BigInt(size), n.length + 1);
  return b;
}
