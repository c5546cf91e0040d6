// Command tiles reads a C2SP tlog-tiles log with torchwood's client
// (filippo.io/torchwood: TileFetcher, Client) and verifies it: the checkpoint's
// signature with golang.org/x/mod/sumdb/note, every entry against the level-0
// tiles authenticated up to the checkpoint's root (Client.Entries), and an
// inclusion proof for every entry, computed from the tiles (Client.Entry) and
// checked with golang.org/x/mod/sumdb/tlog.CheckRecord.
//
// Usage: tiles [-ca F -cert F -key F] PREFIX_URL LOG_VKEY
//
// With -ca/-cert/-key the client presents a certificate (the federation's
// mTLS). Exit status 0 when every entry verifies, 1 when a check fails (named
// on stderr), 2 for unusable arguments.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(check string, err error) {
	fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", check, err)
	os.Exit(1)
}

func main() {
	ca := flag.String("ca", "", "CA bundle (PEM) for an https prefix")
	cert := flag.String("cert", "", "client certificate (PEM)")
	key := flag.String("key", "", "client key (PEM)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: tiles [-ca F -cert F -key F] PREFIX_URL LOG_VKEY")
		os.Exit(2)
	}
	prefix, vkey := flag.Arg(0), flag.Arg(1)
	hc := &http.Client{Timeout: 20 * time.Second}
	if *ca != "" {
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(*ca)
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "bad -ca", err)
			os.Exit(2)
		}
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad -cert/-key", err)
			os.Exit(2)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{pair},
			// Federation certificates name SPIFFE IDs, not hosts: check the chain only.
			InsecureSkipVerify: true,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				leaf, err := x509.ParseCertificate(raw[0])
				if err != nil {
					return err
				}
				_, err = leaf.Verify(x509.VerifyOptions{Roots: pool})
				return err
			},
		}}
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad LOG_VKEY", err)
		os.Exit(2)
	}
	fetcher, err := torchwood.NewTileFetcher(prefix, torchwood.WithHTTPClient(hc))
	if err != nil {
		fail("fetcher", err)
	}
	ctx := context.Background()
	raw, err := fetcher.ReadEndpoint(ctx, "checkpoint")
	if err != nil {
		fail("checkpoint fetch", err)
	}
	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature", err)
	}
	cp, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		fail("checkpoint format", err)
	}
	if cp.Origin != verifier.Name() {
		fail("checkpoint origin", fmt.Errorf("%q, want %q", cp.Origin, verifier.Name()))
	}
	tree := tlog.Tree{N: cp.N, Hash: cp.Hash}
	client, err := torchwood.NewClient(fetcher)
	if err != nil {
		fail("client", err)
	}
	// Entries stops before a trailing partial bundle; a second call from there reads it.
	var entries [][]byte
	for start := int64(0); start < tree.N; {
		before := len(entries)
		for i, e := range client.Entries(ctx, tree, start) {
			if i != int64(len(entries)) {
				fail("entries", fmt.Errorf("entry %d yielded at position %d", i, len(entries)))
			}
			entries = append(entries, e)
		}
		if err := client.Err(); err != nil {
			fail("entries", err)
		}
		if len(entries) == before {
			fail("entries", fmt.Errorf("no progress at %d of %d", start, tree.N))
		}
		start = int64(len(entries))
	}
	for i := int64(0); i < tree.N; i++ {
		entry, proof, err := client.Entry(ctx, tree, i)
		if err != nil {
			fail("inclusion", err)
		}
		if string(entry) != string(entries[i]) {
			fail("inclusion", fmt.Errorf("entry %d differs between bundle reads", i))
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, i, tlog.RecordHash(entry)); err != nil {
			fail("inclusion", fmt.Errorf("entry %d: %v", i, err))
		}
	}
	fmt.Printf("ok: %d entries of %s read through tiles, each proven in the checkpoint of size %d\n",
		len(entries), cp.Origin, tree.N)
}
