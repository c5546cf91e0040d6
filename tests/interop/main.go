// Command interop checks Gerbang's audit-log artefacts with independent Go
// implementations, so "existing tooling can check the checkpoints and proofs"
// is tested rather than assumed:
//
//   - golang.org/x/mod/sumdb/note: the checkpoint's C2SP signed-note signature;
//   - github.com/transparency-dev/formats/note: the witness's C2SP
//     tlog-cosignature/v1 signature, and formats/log: the checkpoint body;
//   - golang.org/x/mod/sumdb/tlog: RFC 6962 inclusion proofs (CheckRecord),
//     consistency proofs (CheckTree), and the tree hash recomputed from the
//     leaves with tlog's own hashing (RecordHash, StoredHashes, TreeHash).
//
// Usage: interop FILE.json. Exit status 0 when everything verifies, 1 when a
// check fails (the failing check is named on stderr), 2 for unusable input.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// input is the JSON written by tests/integration/test_interop_go.py; []byte fields are
// standard base64, as encoding/json expects.
type input struct {
	VerifierKey string   `json:"verifier_key"`
	CosignerKey string   `json:"cosigner_key"`
	Checkpoint  string   `json:"checkpoint"`
	Leaves      [][]byte `json:"leaves"`
	Inclusion   []struct {
		Index int64    `json:"index"`
		Leaf  []byte   `json:"leaf"`
		Proof [][]byte `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		Size  int64    `json:"size"`
		Root  []byte   `json:"root"`
		Proof [][]byte `json:"proof"`
	} `json:"consistency"`
}

type checkError struct {
	check string
	err   error
}

func (e *checkError) Error() string { return fmt.Sprintf("FAIL %s: %v", e.check, e.err) }

func fail(check string, err error) error { return &checkError{check, err} }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: interop FILE.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	summary, err := run(&in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		var ce *checkError
		if errors.As(err, &ce) {
			os.Exit(1)
		}
		os.Exit(2)
	}
	fmt.Println(summary)
}

func toHash(b []byte) (tlog.Hash, error) {
	var h tlog.Hash
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("hash is %d bytes, want %d", len(b), tlog.HashSize)
	}
	copy(h[:], b)
	return h, nil
}

func toProof(bs [][]byte) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		h, err := toHash(b)
		if err != nil {
			return nil, fmt.Errorf("proof[%d]: %w", i, err)
		}
		out[i] = h
	}
	return out, nil
}

// hashStore is an in-memory tlog.HashReader over tlog's stored-hash layout.
type hashStore []tlog.Hash

func (s hashStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("stored hash %d not available", x)
		}
		out[i] = s[x]
	}
	return out, nil
}

func run(in *input) (string, error) {
	// 1. Signatures: the log's Ed25519 note signature and the witness's
	// cosignature/v1 must both be present and valid.
	logKey, err := note.NewVerifier(in.VerifierKey)
	if err != nil {
		return "", fmt.Errorf("log verifier key: %w", err)
	}
	witnessKey, err := fnote.NewVerifierForCosignatureV1(in.CosignerKey)
	if err != nil {
		return "", fmt.Errorf("cosigner key: %w", err)
	}
	n, err := note.Open([]byte(in.Checkpoint), note.VerifierList(logKey, witnessKey))
	if err != nil {
		return "", fail("signature", err)
	}
	signed := map[string]bool{}
	for _, s := range n.Sigs {
		signed[s.Name] = true
	}
	if !signed[logKey.Name()] || !signed[witnessKey.Name()] {
		return "", fail("signature", fmt.Errorf("want signatures by %s and %s, got %v",
			logKey.Name(), witnessKey.Name(), n.Sigs))
	}

	// 2. The checkpoint body (c2sp.org/tlog-checkpoint).
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return "", fail("checkpoint", err)
	}
	if cp.Origin != logKey.Name() {
		return "", fail("checkpoint", fmt.Errorf("origin %q is not the log key name %q", cp.Origin, logKey.Name()))
	}
	size := int64(cp.Size)
	root, err := toHash(cp.Hash)
	if err != nil {
		return "", fail("checkpoint", err)
	}

	// 3. Inclusion proofs against the signed root, leaf hashes by tlog.
	for _, p := range in.Inclusion {
		proof, err := toProof(p.Proof)
		if err != nil {
			return "", fail("inclusion", err)
		}
		if err := tlog.CheckRecord(proof, size, root, p.Index, tlog.RecordHash(p.Leaf)); err != nil {
			return "", fail("inclusion", fmt.Errorf("leaf %d in tree %d: %w", p.Index, size, err))
		}
	}

	// 4. Consistency proofs from earlier roots to the signed root.
	for _, c := range in.Consistency {
		proof, err := toProof(c.Proof)
		if err != nil {
			return "", fail("consistency", err)
		}
		old, err := toHash(c.Root)
		if err != nil {
			return "", fail("consistency", err)
		}
		if err := tlog.CheckTree(proof, size, root, c.Size, old); err != nil {
			return "", fail("consistency", fmt.Errorf("tree %d to tree %d: %w", c.Size, size, err))
		}
	}

	// 5. The whole tree, recomputed by tlog from the leaves: the signed root
	// and every earlier root given above must be tlog's tree hashes.
	if int64(len(in.Leaves)) != size {
		return "", fail("tree", fmt.Errorf("%d leaves for a tree of size %d", len(in.Leaves), size))
	}
	var store hashStore
	for i, leaf := range in.Leaves {
		hs, err := tlog.StoredHashes(int64(i), leaf, store)
		if err != nil {
			return "", fail("tree", err)
		}
		store = append(store, hs...)
	}
	got, err := tlog.TreeHash(size, store)
	if err != nil || got != root {
		return "", fail("tree", fmt.Errorf("tlog's tree hash at size %d is %v, checkpoint says %v (%v)", size, got, root, err))
	}
	for _, c := range in.Consistency {
		got, err := tlog.TreeHash(c.Size, store)
		if err != nil || got != tlog.Hash(c.Root) {
			return "", fail("tree", fmt.Errorf("tlog's tree hash at size %d differs from the given root (%v)", c.Size, err))
		}
	}

	return fmt.Sprintf("ok: checkpoint %s at size %d, %d inclusion and %d consistency proofs, tree recomputed",
		cp.Origin, size, len(in.Inclusion), len(in.Consistency)), nil
}
