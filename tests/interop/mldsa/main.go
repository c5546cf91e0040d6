// Command mldsa cross-checks Gerbang's ML-DSA-44 cosignatures (C2SP
// tlog-cosignature, subtree/v1) with github.com/transparency-dev/formats/note:
//
//  1. formats verifies Gerbang's cosignature on a checkpoint note, given
//     Gerbang's verifier key (type 0x06);
//  2. formats signs the same checkpoint with the same key (given as a signer
//     key string built from the same seed) and prints its signature line, for
//     Gerbang to verify, and the key ID it computed.
//
// Usage: mldsa VKEY SKEY NOTE_FILE
//
// NOTE_FILE holds the checkpoint signed by the log and cosigned by Gerbang.
// Prints "keyhash <hex>" and the formats-made signature line; exit 1 when
// Gerbang's cosignature does not verify.
package main

import (
	"bytes"
	"fmt"
	"os"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: mldsa VKEY SKEY NOTE_FILE")
		os.Exit(2)
	}
	verifier, err := fnote.NewVerifierForCosignatureV1(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad VKEY:", err)
		os.Exit(2)
	}
	signer, err := fnote.NewSignerForCosignatureV1(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad SKEY:", err)
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL verify:", err)
		os.Exit(1)
	}
	if len(n.Sigs) != 1 {
		fmt.Fprintln(os.Stderr, "FAIL verify: no cosignature by the key")
		os.Exit(1)
	}
	fmt.Printf("keyhash %08x %08x\n", verifier.KeyHash(), signer.KeyHash())
	signed, err := note.Sign(&note.Note{Text: n.Text}, signer)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sign:", err)
		os.Exit(2)
	}
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	os.Stdout.Write(sigs)
}
