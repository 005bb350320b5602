// Every capability string a HELLO may list, in one place. A capability says
// that this side understands a message, a field or a behaviour beyond the
// protocol version; a feature is used only when both HELLOs list it. The
// strings are wire data (they are in every session's key derivation): never
// rename one.

/** the only manifest hash there is so far (whole-file SHA-256) */
export const HASH_CAP = 'hash:sha256';
/** START role twoway (lib/twoway/replica.ts) */
export const TWOWAY_CAP = 'twoway';
/** a receiving server takes the destination's lock and reads START's lockWait (lib/fs/lock.ts) */
export const LOCK_CAP = 'lock';
/** the server answers START role doctor with a DIAG (lib/doctor/) */
export const DOCTOR_CAP = 'doctor';
/** multi-round deltas (REQ_FILL, FileStatus.Holes, the hole op): lib/delta/rounds.ts */
export const ROUNDS_CAP = 'delta:rounds';
/** a two-way replica sends its manifest as changes from the baseline both sides hold (TW_DIFF, lib/twoway/diff.ts) */
export const DIFF_CAP = 'twoway:diff';
/** REQ's Hash flag and FileStatus.Hashed: a receiver makes a moved file from its own copy (lib/oneway/receive-moves.ts) */
export const MOVES_CAP = 'moves';
/** this side holds a pre-shared key and will prove it (lib/link/key-proof.ts) */
export const KEY_CAP = 'key';
/** the client asks a receiving server for PROGRESS messages (--progress, lib/cli/progress.ts); a request of one run, not a standing offer */
export const PROGRESS_CAP = 'progress';
/**
 * The prefix of the capability that carries a side's ephemeral X25519
 * public key (keyed sessions, lib/wire/secure.ts): `x25519=` and the key's
 * 32 bytes in base64url (43 characters). It is inside the HELLO, so inside
 * the transcript both proofs cover: a relay that removes or changes it
 * makes the proofs fail. TSYNC_TEST_NO_CAPS=x25519 plays a peer without it.
 */
export const KX_CAP = 'x25519=';

/** -z with this codec (lib/link/compress.ts): "z:deflate", "z:brotli" */
export function codecCap(codec: string): string {
  return `z:${codec}`;
}
/** START role vault: the server is a vault's object store (lib/vault/remote.ts) */
export const VAULT_CAP = 'vault';
