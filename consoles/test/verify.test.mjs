// node --test for consoles/src/verify.ts, bundled to JS by tests/e2e/test_consoles_oversight.py
// (GERBANG_VERIFY_JS): the published RFC 9162 inclusion vectors (transparency-dev/merkle),
// the Go sumdb/note signed-note vector, and a checkpoint signed and cosigned by the gateway's
// Python code (GERBANG_CHECKPOINT_JSON), each also altered so that it must fail.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const v = await import(process.env.GERBANG_VERIFY_JS);
const VECTORS = process.env.GERBANG_VECTORS;

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".json") ? [path] : [];
  });
}

const b64 = (s) => v.fromBase64(s ?? "");

test("every RFC 9162 inclusion vector: accepted or refused as published", async () => {
  const all = files(join(VECTORS, "tlog", "inclusion"));
  assert.equal(all.length, 98);
  let refused = 0;
  for (const path of all) {
    const x = JSON.parse(readFileSync(path, "utf8"));
    const run = () =>
      v.verifyInclusion(BigInt(x.leafIdx), BigInt(x.treeSize), b64(x.leafHash), (x.proof ?? []).map(b64), b64(x.root));
    if (x.wantErr) {
      await assert.rejects(run, v.VerifyError, path);
      refused += 1;
    } else {
      await run();
    }
  }
  assert.ok(refused > 50, `only ${refused} refusals`);
});

test("the sumdb/note vector: the signature verifies, an altered text does not", async () => {
  const x = JSON.parse(readFileSync(join(VECTORS, "note", "go-sumdb-note.json"), "utf8"));
  const key = await v.parseVerifierKey(x.verifier_key);
  assert.equal(v.toHex(key.keyId), x.key_id_hex);
  const { text, signatures } = v.splitNote(x.signed_note);
  assert.equal(text, x.text);
  assert.equal(await v.verifyNoteSignature(text, signatures, key), true);
  assert.equal(await v.verifyNoteSignature(text.replace("answer", "Answer"), signatures, key), false);
  await assert.rejects(() => v.parseVerifierKey(x.verifier_key.replace("c74f20a3", "c74f20a4")), v.VerifyError);
});

test("a checkpoint of the gateway: log signature, cosignature and inclusion verify", async () => {
  const x = JSON.parse(readFileSync(process.env.GERBANG_CHECKPOINT_JSON, "utf8"));
  const cp = await v.verifyCheckpoint(x.note, x.log_key, [x.witness_key]);
  assert.equal(cp.size, BigInt(x.size));
  assert.deepEqual(
    cp.cosignatures.map((c) => [c.name, c.valid, c.timestamp]),
    [[x.witness_name, true, x.timestamp]],
  );
  const leaf = new TextEncoder().encode(x.leaf);
  await v.verifyInclusion(BigInt(x.index), cp.size, await v.leafHash(leaf), x.proof.map(b64), cp.root);
  // Altered: one byte of the leaf, the root line, the cosignature's time, another log key.
  const other = new TextEncoder().encode(x.leaf.replace("allow", "alloW"));
  const otherHash = await v.leafHash(other);
  await assert.rejects(() => v.verifyInclusion(BigInt(x.index), cp.size, otherHash, x.proof.map(b64), cp.root), v.VerifyError);
  const lines = x.note.split("\n");
  lines[2] = lines[2].slice(0, 10) + (lines[2][10] === "A" ? "B" : "A") + lines[2].slice(11);
  await assert.rejects(() => v.verifyCheckpoint(lines.join("\n"), x.log_key, [x.witness_key]), v.VerifyError);
  const blob = b64(x.cosignature_b64);
  blob[4 + 7] ^= 1; // the cosignature's timestamp, one second off
  const retimed = x.note.replace(x.cosignature_b64, Buffer.from(blob).toString("base64"));
  const r = await v.verifyCheckpoint(retimed, x.log_key, [x.witness_key]);
  assert.deepEqual([r.cosignatures[0].valid, r.cosignatures[0].timestamp], [false, x.timestamp ^ 1]);
  const forged = x.note.replace(x.cosignature_b64, x.forged_cosignature_b64);
  const f = await v.verifyCheckpoint(forged, x.log_key, [x.witness_key]);
  assert.equal(f.cosignatures[0].valid, false);
  const unknown = await v.verifyCheckpoint(x.note, x.log_key, []);
  assert.equal(unknown.cosignatures[0].valid, null);
  await assert.rejects(() => v.verifyCheckpoint(x.note, x.other_log_key, [x.witness_key]), v.VerifyError);
});
