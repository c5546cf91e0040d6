// Command tlogwitness plays a transparency log against a C2SP tlog-witness
// (https://c2sp.org/tlog-witness) and checks every answer the spec fixes: it
// builds its trees with golang.org/x/mod/sumdb/tlog, signs checkpoints with
// golang.org/x/mod/sumdb/note, and verifies the returned cosignatures with
// github.com/transparency-dev/formats/note (tlog-cosignature/v1).
//
// Usage: tlogwitness URL LOG_SKEY WITNESS_VKEY
//
// URL is the witness's submission (and monitoring) prefix, LOG_SKEY the log's
// note signer key (the witness must trust its verifier key), WITNESS_VKEY the
// witness's cosignature/v1 verifier key. The witness must never have seen the
// log. Exit status 0 when every step got the answer the spec requires, 1
// otherwise (the failing step is named on stderr), 2 for unusable arguments.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type hashes []tlog.Hash

func (h hashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = h[x]
	}
	return out, nil
}

// tree is an in-memory log: its size and stored hashes in tlog's layout.
type tree struct {
	size   int64
	stored hashes
}

func newTree(n int, salt string) *tree {
	t := &tree{}
	for i := 0; i < n; i++ {
		t.add(fmt.Sprintf("%s entry %d", salt, i))
	}
	return t
}

func (t *tree) add(entry string) {
	hs, err := tlog.StoredHashes(t.size, []byte(entry), t.stored)
	if err != nil {
		panic(err)
	}
	t.stored = append(t.stored, hs...)
	t.size++
}

func (t *tree) root(n int64) tlog.Hash {
	h, err := tlog.TreeHash(n, t.stored)
	if err != nil {
		panic(err)
	}
	return h
}

func (t *tree) proof(old, n int64) []tlog.Hash {
	p, err := tlog.ProveTree(n, old, t.stored)
	if err != nil {
		panic(err)
	}
	return p
}

type logPlayer struct {
	url     string
	origin  string
	signer  note.Signer
	witness note.Verifier
	logKey  note.Verifier
}

func (l *logPlayer) checkpoint(n int64, root tlog.Hash, signer note.Signer) []byte {
	text := fmt.Sprintf("%s\n%d\n%s\n", l.origin, n, base64.StdEncoding.EncodeToString(root[:]))
	msg, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		panic(err)
	}
	return msg
}

func (l *logPlayer) post(old int64, proof []tlog.Hash, checkpoint []byte) (int, string, []byte) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	for _, h := range proof {
		fmt.Fprintf(&body, "%s\n", base64.StdEncoding.EncodeToString(h[:]))
	}
	body.WriteString("\n")
	body.Write(checkpoint)
	resp, err := http.Post(l.url+"/add-checkpoint", "text/plain", &body)
	if err != nil {
		fail("transport", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), answer
}

func fail(step string, err error) {
	fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", step, err)
	os.Exit(1)
}

// expect submits and checks the status; for 200 it verifies the cosignature,
// for 409 the size answer.
func (l *logPlayer) expect(step string, want int, old int64, proof []tlog.Hash, cp []byte, conflict int64) {
	status, ctype, answer := l.post(old, proof, cp)
	if status != want {
		fail(step, fmt.Errorf("status %d, want %d (%s)", status, want, strings.TrimSpace(string(answer))))
	}
	switch want {
	case 200:
		n, err := note.Open(append(append([]byte{}, cp...), answer...), note.VerifierList(l.logKey, l.witness))
		if err != nil {
			fail(step, fmt.Errorf("cosigned checkpoint does not open: %v", err))
		}
		ok := false
		for _, s := range n.Sigs {
			if s.Name == l.witness.Name() && s.Hash == l.witness.KeyHash() {
				ok = true
			}
		}
		if !ok {
			fail(step, fmt.Errorf("no verified cosignature by %s in %q", l.witness.Name(), answer))
		}
	case 409:
		if ctype != "text/x.tlog.size" {
			fail(step, fmt.Errorf("409 with Content-Type %q, want text/x.tlog.size", ctype))
		}
		if string(answer) != fmt.Sprintf("%d\n", conflict) {
			fail(step, fmt.Errorf("409 body %q, want %q", answer, fmt.Sprintf("%d\n", conflict)))
		}
	}
	fmt.Printf("ok %s: %d\n", step, status)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: tlogwitness URL LOG_SKEY WITNESS_VKEY")
		os.Exit(2)
	}
	signer, err := note.NewSigner(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "log key:", err)
		os.Exit(2)
	}
	witness, err := fnote.NewVerifierForCosignatureV1(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "witness key:", err)
		os.Exit(2)
	}
	// The verifier for the log key, from the signer: sign a probe and keep the vkey.
	logKey := verifierOf(signer, os.Args[2])
	l := &logPlayer{url: strings.TrimRight(os.Args[1], "/"), origin: signer.Name(), signer: signer, witness: witness, logKey: logKey}
	http.DefaultClient.Timeout = 10 * time.Second

	good := newTree(40, "good")
	fork := newTree(40, "fork") // another history under the same log key
	cp := func(n int64) []byte { return l.checkpoint(n, good.root(n), signer) }

	// Before anything is cosigned: a proof where none can be, and a size-0 tree with a root.
	l.expect("old 0 with a non-empty proof", 422, 0, good.proof(5, 10), cp(10), 0)
	l.expect("size 0 with a non-empty root", 422, 0, nil, l.checkpoint(0, good.root(10), signer), 0)
	// A first checkpoint, from old size 0 (trust on first use).
	l.expect("first checkpoint, old 0", 200, 0, nil, cp(10), 0)
	// The same again from 0: the witness is at 10 now.
	l.expect("stale old size", 409, 0, nil, cp(10), 10)
	// Growth with a consistency proof.
	l.expect("growth 10 to 25 with proof", 200, 10, good.proof(10, 25), cp(25), 0)
	// The same checkpoint again (old = new size, same root): cosigned again.
	l.expect("same checkpoint again", 200, 25, nil, cp(25), 0)
	// Rollback: a smaller tree, claiming the witness's size as old.
	l.expect("rollback, old 25 new 20", 400, 25, nil, cp(20), 0)
	// Rollback, claiming its own size as old.
	l.expect("rollback, old 20 new 20", 409, 20, nil, cp(20), 25)
	// Fork at the same size.
	l.expect("fork, same size other root", 422, 25, nil, l.checkpoint(25, fork.root(25), signer), 0)
	// Fork at a larger size: a proof from the good size 25 does not reach the fork's root.
	l.expect("fork, larger size", 422, 25, good.proof(25, 30), l.checkpoint(30, fork.root(30), signer), 0)
	// A tampered proof.
	bad := good.proof(25, 40)
	bad[0][3] ^= 1
	l.expect("tampered consistency proof", 422, 25, bad, cp(40), 0)
	// A checkpoint signed by another key with the log's name: 403.
	otherSkey, _, err := note.GenerateKey(rand.Reader, signer.Name())
	if err != nil {
		panic(err)
	}
	otherS, err := note.NewSigner(otherSkey)
	if err != nil {
		panic(err)
	}
	l.expect("signed by an unknown key", 403, 25, good.proof(25, 40), l.checkpoint(40, good.root(40), otherS), 0)
	// A checkpoint of a log the witness does not know: 404.
	unknownSkey, _, _ := note.GenerateKey(rand.Reader, "unknown.example/log")
	unknown, _ := note.NewSigner(unknownSkey)
	u := &logPlayer{url: l.url, origin: "unknown.example/log", signer: unknown, witness: witness}
	u.expect("unknown origin", 404, 0, nil, u.checkpoint(10, good.root(10), unknown), 0)
	// Malformed request: no old line.
	status, _, _ := l.postRaw([]byte("hello\n\n" + string(cp(40))))
	if status != 400 {
		fail("malformed request", fmt.Errorf("status %d, want 400", status))
	}
	fmt.Println("ok malformed request: 400")
	// Growth still works after all the refusals: the state was never touched.
	l.expect("growth 25 to 40 after refusals", 200, 25, good.proof(25, 40), cp(40), 0)

	// Monitoring: the latest cosigned checkpoint, log signature and cosignature.
	hash := sha256.Sum256([]byte(l.origin))
	resp, err := http.Get(l.url + "/" + hex.EncodeToString(hash[:]) + "/checkpoint")
	if err != nil {
		fail("monitoring", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		fail("monitoring", fmt.Errorf("status %d", resp.StatusCode))
	}
	n, err := note.Open(body, note.VerifierList(l.logKey, witness))
	if err != nil {
		fail("monitoring", fmt.Errorf("checkpoint does not open: %v", err))
	}
	if len(n.Sigs) != 2 || !strings.Contains(n.Text, "\n40\n") {
		fail("monitoring", fmt.Errorf("want size 40 with log signature and cosignature, got %q", body))
	}
	fmt.Println("ok monitoring: size 40, signed and cosigned")
	fmt.Println("ok: witness follows c2sp.org/tlog-witness")
}

func (l *logPlayer) postRaw(body []byte) (int, string, []byte) {
	resp, err := http.Post(l.url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		fail("transport", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), answer
}

// verifierOf derives the verifier for a signer key string of the form
// PRIVATE+KEY+name+hash+base64(0x01||seed).
func verifierOf(signer note.Signer, skey string) note.Verifier {
	parts := strings.SplitN(skey, "+", 5) // the base64 key may itself hold '+'
	if len(parts) != 5 {
		fmt.Fprintln(os.Stderr, "log key: not a note signer key")
		os.Exit(2)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 33 {
		fmt.Fprintln(os.Stderr, "log key: not an Ed25519 signer key")
		os.Exit(2)
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		panic(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		panic(err)
	}
	return v
}
