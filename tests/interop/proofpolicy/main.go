// Command proofpolicy checks Gerbang's c2sp.org/tlog-proof@v1 files and its
// reading of C2SP tlog-policy with github.com/transparency-dev/formats:
// proof.TLogProof parses each proof, log.ParseCheckpoint verifies the log's
// signature, golang.org/x/mod/sumdb/tlog.CheckRecord verifies inclusion of the
// leaf carried as the proof's extra data, and witness.ParsePolicy decides
// whether the checkpoint's cosignatures satisfy the quorum.
//
// Usage: proofpolicy POLICY_FILE LOG_VKEY PROOF_FILE...
//
// For each proof it prints "<file> quorum=<true|false>" once the signature
// and the inclusion proof verified; a failing signature or proof exits 1.
package main

import (
	"fmt"
	"os"

	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: proofpolicy POLICY_FILE LOG_VKEY PROOF_FILE...")
		os.Exit(2)
	}
	policyText, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	policy, err := witness.ParsePolicy(policyText)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL policy:", err)
		os.Exit(1)
	}
	logKey, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad LOG_VKEY:", err)
		os.Exit(2)
	}
	for _, path := range os.Args[3:] {
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var p proof.TLogProof
		if err := p.Unmarshal(raw); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL format %s: %v\n", path, err)
			os.Exit(1)
		}
		cp, _, _, err := flog.ParseCheckpoint(p.Checkpoint, logKey.Name(), logKey)
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL signature %s: %v\n", path, err)
			os.Exit(1)
		}
		hashes := make([]tlog.Hash, len(p.Hashes))
		for i, h := range p.Hashes {
			hashes[i] = tlog.Hash(h)
		}
		var root tlog.Hash
		copy(root[:], cp.Hash)
		if err := tlog.CheckRecord(hashes, int64(cp.Size), root, int64(p.Index), tlog.RecordHash(p.ExtraData)); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL inclusion %s: %v\n", path, err)
			os.Exit(1)
		}
		fmt.Printf("%s quorum=%t\n", path, policy.Satisfied(p.Checkpoint))
	}
}
