// Client-side verification of the audit log, so that the oversight console need not trust the
// agent that serves it: RFC 6962/9162 leaf and node hashes and inclusion proofs, C2SP signed
// notes (Ed25519, signature type 0x01) over tlog-checkpoint bodies, and C2SP
// tlog-cosignature/v1 witness cosignatures (type 0x04). WebCrypto only (SHA-256, Ed25519);
// no DOM, so `node --test` runs it as the browser does (tests/test_consoles_oversight.py).

export class VerifyError extends Error {}

const enc = new TextEncoder();
const SIG_ED25519 = 0x01;
const SIG_COSIGNATURE_V1 = 0x04;

export function fromBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new VerifyError(`not base64: ${text.slice(0, 16)}`);
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(data)));
}

/** RFC 9162 section 2.1.1: the hash of a leaf, SHA-256(0x00 || leaf). */
export function leafHash(leaf: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(new Uint8Array([0]), leaf));
}

function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(new Uint8Array([1]), left, right));
}

/** RFC 9162 section 2.1.3.2: the root an inclusion proof leads to from a leaf hash. */
export async function rootFromInclusion(index: bigint, size: bigint, leaf: Uint8Array, proof: Uint8Array[]): Promise<Uint8Array> {
  if (index < 0n || index >= size) throw new VerifyError(`leaf index ${index} is not below tree size ${size}`);
  if (leaf.length !== 32 || proof.some((p) => p.length !== 32)) throw new VerifyError("a hash is not 32 bytes");
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerifyError("the proof is longer than the path to the root");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError("the proof is shorter than the path to the root");
  return r;
}

export async function verifyInclusion(index: bigint, size: bigint, leaf: Uint8Array, proof: Uint8Array[], root: Uint8Array): Promise<void> {
  const got = await rootFromInclusion(index, size, leaf, proof);
  if (!equal(got, root)) throw new VerifyError("the inclusion proof does not lead to the checkpoint's root");
}

export interface VerifierKey {
  name: string;
  keyId: Uint8Array;
  type: number;
  publicKey: Uint8Array;
}

async function keyId(name: string, type: number, publicKey: Uint8Array): Promise<Uint8Array> {
  return (await sha256(concat(enc.encode(name), new Uint8Array([0x0a, type]), publicKey))).slice(0, 4);
}

/** A signed-note verifier key, `name+hexkeyid+base64(type || public key)`; its key ID checked. */
export async function parseVerifierKey(vkey: string): Promise<VerifierKey> {
  // The name ends at the first "+"; the base64 after the key ID may hold "+" itself.
  const m = /^([^+\s]+)\+([0-9a-fA-F]{8})\+(\S+)$/.exec(vkey.trim());
  if (m === null) throw new VerifyError(`not a verifier key: ${vkey.slice(0, 40)}`);
  const [, name, hexId, b64] = m as unknown as [string, string, string, string];
  const raw = fromBase64(b64);
  const type = raw[0] ?? -1;
  const publicKey = raw.slice(1);
  if (publicKey.length !== 32 || (type !== SIG_ED25519 && type !== SIG_COSIGNATURE_V1)) {
    throw new VerifyError(`key ${name}: only Ed25519 keys (types 0x01, 0x04) are checked here`);
  }
  const id = await keyId(name, type, publicKey);
  if (toHex(id) !== hexId.toLowerCase()) throw new VerifyError(`key ${name}: its key ID does not match the key`);
  return { name, keyId: id, type, publicKey };
}

async function ed25519(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  const key = await crypto.subtle.importKey("raw", concat(publicKey), { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, concat(signature), concat(message));
}

export interface NoteSignature {
  name: string;
  keyId: Uint8Array;
  signature: Uint8Array;
}

/** Split a signed note into its text (with the final newline) and its signature lines. */
export function splitNote(note: string): { text: string; signatures: NoteSignature[] } {
  const at = note.lastIndexOf("\n\n");
  if (at < 0 || !note.endsWith("\n")) throw new VerifyError("not a signed note: no blank line before the signatures");
  const text = note.slice(0, at + 1);
  const signatures = note
    .slice(at + 2, -1)
    .split("\n")
    .map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw new VerifyError(`not a signature line: ${line.slice(0, 40)}`);
      const blob = fromBase64(m[2] ?? "");
      if (blob.length < 5) throw new VerifyError(`signature of ${m[1]} is too short`);
      return { name: m[1] ?? "", keyId: blob.slice(0, 4), signature: blob.slice(4) };
    });
  return { text, signatures };
}

/** C2SP signed-note: true when one signature line is `key`'s and verifies over `text`. */
export async function verifyNoteSignature(text: string, signatures: NoteSignature[], key: VerifierKey): Promise<boolean> {
  for (const s of signatures) {
    if (s.name === key.name && equal(s.keyId, key.keyId) && s.signature.length === 64) {
      if (await ed25519(key.publicKey, s.signature, enc.encode(text))) return true;
    }
  }
  return false;
}

export interface Checkpoint {
  origin: string;
  size: bigint;
  root: Uint8Array;
}

export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split("\n");
  const [origin, size, root] = lines;
  if (!origin || !size || !root || !/^(0|[1-9][0-9]*)$/.test(size)) throw new VerifyError("not a tlog-checkpoint body");
  const hash = fromBase64(root);
  if (hash.length !== 32) throw new VerifyError("the checkpoint's root is not 32 bytes");
  return { origin, size: BigInt(size), root: hash };
}

export interface CosignatureCheck {
  name: string;
  keyId: string;
  /** POSIX seconds the witness signed at, when the line is a cosignature/v1. */
  timestamp: number | null;
  /** true: verified with a configured witness key; false: it does not; null: no key for it. */
  valid: boolean | null;
}

export interface VerifiedCheckpoint extends Checkpoint {
  text: string;
  cosignatures: CosignatureCheck[];
}

/** The log's signature (required) and every other signature line, each checked if its key is
 * configured: witnesses' cosignature/v1 lines against `witnessKeys`. */
export async function verifyCheckpoint(note: string, logKey: string, witnessKeys: string[]): Promise<VerifiedCheckpoint> {
  const log = await parseVerifierKey(logKey);
  const { text, signatures } = splitNote(note);
  if (!(await verifyNoteSignature(text, signatures, log))) {
    throw new VerifyError(`the checkpoint is not signed by the configured log key ${log.name}`);
  }
  const checkpoint = parseCheckpoint(text);
  if (checkpoint.origin !== log.name) throw new VerifyError(`the checkpoint is for ${checkpoint.origin}, not ${log.name}`);
  const witnesses = await Promise.all(witnessKeys.map(parseVerifierKey));
  const cosignatures: CosignatureCheck[] = [];
  for (const s of signatures) {
    if (s.name === log.name && equal(s.keyId, log.keyId)) continue;
    const w = witnesses.find((k) => k.name === s.name && equal(k.keyId, s.keyId) && k.type === SIG_COSIGNATURE_V1);
    const check: CosignatureCheck = { name: s.name, keyId: toHex(s.keyId), timestamp: null, valid: null };
    if (s.signature.length === 72) {
      const view = new DataView(s.signature.buffer, s.signature.byteOffset, 8);
      check.timestamp = Number(view.getBigUint64(0));
      if (w !== undefined) {
        const message = enc.encode(`cosignature/v1\ntime ${view.getBigUint64(0)}\n${text}`);
        check.valid = await ed25519(w.publicKey, s.signature.slice(8), message);
      }
    } else if (w !== undefined) {
      check.valid = false;
    }
    cosignatures.push(check);
  }
  return { ...checkpoint, text, cosignatures };
}
