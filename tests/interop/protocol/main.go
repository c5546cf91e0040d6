// Command protocol is a second, independent implementation of the Gerbang protocol's
// caller side, written from docs/protocol.md and the vectors in tests/vectors/protocol/
// alone (it shares no code with the Python implementation, and uses only Go's standard
// library: crypto/ed25519, crypto/hmac, crypto/ecdh, crypto/hpke).
//
// Usage: protocol <vectors dir>
//
// For each request vector it builds the canonical request bytes from the structured
// request (section 2.1), computes the user commitment (section 3), signs with the
// caller's seed and verifies; for the result vector it verifies the plan signature and
// its binding to the request (section 4), the attestation (section 6), and opens the
// sealed result with the HPKE info binding (section 5). It also checks that tampered
// inputs are refused. It prints one line per check and exits non-zero on the first failure.
package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"
)

// --- the vectors ------------------------------------------------------------------------

type party struct {
	Owner     string `json:"owner"`
	KeyID     string `json:"key_id"`
	SeedHex   string `json:"ed25519_seed_hex"`
	PublicB64 string `json:"ed25519_public_b64"`
}

type typedValue struct {
	Type   string          `json:"type"`
	Value  json.RawMessage `json:"value"`
	Number *float64        `json:"number"`
}

type filter struct {
	Field  string       `json:"field"`
	Op     string       `json:"op"`
	Values []typedValue `json:"values"`
}

type groupBy struct {
	Field        string `json:"field"`
	Bucket       string `json:"bucket"`
	H3Resolution int64  `json:"h3_resolution"`
}

type aggregation struct {
	GroupBy []groupBy `json:"group_by"`
	Measure string    `json:"measure"`
}

type query struct {
	Dataset       string       `json:"dataset"`
	Fields        []string     `json:"fields"`
	Filters       []filter     `json:"filters"`
	Aggregation   *aggregation `json:"aggregation"`
	Purpose       string       `json:"purpose"`
	LegalBasis    string       `json:"legal_basis"`
	CaseReference string       `json:"case_reference"`
	Limit         int64        `json:"limit"`
	Operation     string       `json:"operation"`
}

type user struct {
	OrgKeyHex     string `json:"org_key_hex"`
	Issuer        string `json:"issuer"`
	Subject       string `json:"subject"`
	CommitmentHex string `json:"commitment_hex"`
}

type request struct {
	Name         string `json:"name"`
	Caller       string `json:"caller"`
	Query        query  `json:"query"`
	NonceHex     string `json:"nonce_hex"`
	IssuedAt     string `json:"issued_at"`
	HPKEPublic   string `json:"hpke_public_key_b64"`
	User         *user  `json:"user"`
	Canonical    string `json:"canonical"`
	RequestHash  string `json:"request_sha256_hex"`
	SignatureB64 string `json:"signature_b64"`
}

type requestsFile struct {
	Signer   party     `json:"signer"`
	Requests []request `json:"requests"`
}

type resultFile struct {
	RequestHash string `json:"request_sha256_hex"`
	Caller      string `json:"caller"`
	Gateway     party  `json:"gateway"`
	Adapter     party  `json:"adapter"`
	Plan        struct {
		DataB64      string `json:"data_b64"`
		SignatureB64 string `json:"signature_b64"`
	} `json:"plan"`
	Sealed struct {
		PrivateHex    string `json:"recipient_x25519_private_hex"`
		InfoHex       string `json:"info_hex"`
		PlaintextB64  string `json:"plaintext_b64"`
		CiphertextB64 string `json:"ciphertext_b64"`
	} `json:"sealed"`
	Attestation struct {
		Data         string `json:"data"`
		SignatureB64 string `json:"signature_b64"`
	} `json:"attestation"`
}

// --- helpers ------------------------------------------------------------------------------

// unb64 accepts only the canonical standard base64 of the bytes (section 1).
func unb64(s string) []byte {
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != s {
		fail("not canonical base64: %q", s)
	}
	return raw
}

func unhex(s string) []byte {
	raw, err := hex.DecodeString(s)
	if err != nil {
		fail("not hex: %q", s)
	}
	return raw
}

func fail(format string, args ...any) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func ok(format string, args ...any) {
	fmt.Printf("ok   "+format+"\n", args...)
}

func hexSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// --- section 2.1: the canonical request ---------------------------------------------------

func value(v typedValue) []any {
	switch v.Type {
	case "double":
		if v.Number == nil {
			fail("double value without a number")
		}
		return []any{"double", doubleHex(*v.Number)}
	case "string":
		var s string
		must(json.Unmarshal(v.Value, &s))
		return []any{"string", s}
	case "int":
		var n int64
		must(json.Unmarshal(v.Value, &n))
		return []any{"int", n}
	case "bool":
		var b bool
		must(json.Unmarshal(v.Value, &b))
		return []any{"bool", b}
	case "time":
		var s string
		must(json.Unmarshal(v.Value, &s))
		t, err := time.Parse(time.RFC3339Nano, s)
		must(err)
		return []any{"time", timeText(t)}
	}
	fail("unknown value type %q", v.Type)
	return nil
}

func must(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func canonicalRequest(r request, commitment []byte) []byte {
	q := r.Query
	fields := make([]any, len(q.Fields))
	for i, f := range q.Fields {
		fields[i] = f
	}
	filters := make([]any, len(q.Filters))
	for i, f := range q.Filters {
		values := make([]any, len(f.Values))
		for j, v := range f.Values {
			values[j] = value(v)
		}
		filters[i] = object{"field": f.Field, "op": f.Op, "values": values}
	}
	var agg any
	if q.Aggregation != nil {
		groups := make([]any, len(q.Aggregation.GroupBy))
		for i, g := range q.Aggregation.GroupBy {
			groups[i] = []any{g.Field, g.Bucket, g.H3Resolution}
		}
		agg = object{"group_by": groups, "measure": q.Aggregation.Measure}
	}
	issued, err := time.Parse(time.RFC3339Nano, r.IssuedAt)
	must(err)
	doc := object{
		"v":               int64(1),
		"caller":          r.Caller,
		"dataset":         q.Dataset,
		"fields":          fields,
		"filters":         filters,
		"aggregation":     agg,
		"purpose":         q.Purpose,
		"legal_basis":     q.LegalBasis,
		"case_reference":  q.CaseReference,
		"limit":           q.Limit,
		"nonce":           r.NonceHex,
		"issued_at":       timeText(issued),
		"hpke_public_key": base64.StdEncoding.EncodeToString(unb64(r.HPKEPublic)),
	}
	if q.Operation != "" {
		doc["operation"] = q.Operation
	}
	if len(commitment) > 0 {
		doc["user"] = hex.EncodeToString(commitment)
	}
	return canonical(doc)
}

// section 3
func userCommitment(orgKey []byte, issuer, subject string) []byte {
	mac := hmac.New(sha256.New, orgKey)
	mac.Write(canonical([]any{issuer, subject}))
	return mac.Sum(nil)
}

func checkRequests(dir string) {
	var file requestsFile
	readJSON(filepath.Join(dir, "requests.json"), &file)
	seed := unhex(file.Signer.SeedHex)
	key := ed25519.NewKeyFromSeed(seed)
	public := unb64(file.Signer.PublicB64)
	if !bytes.Equal(key.Public().(ed25519.PublicKey), public) {
		fail("the signer's seed does not give its public key")
	}
	kid := sha256.Sum256(append([]byte("signing\n"), public...))
	if hex.EncodeToString(kid[:])[:16] != file.Signer.KeyID {
		fail("key ID %s is not SHA-256(kind || 0x0A || public)[:16 hex]", file.Signer.KeyID)
	}
	ok("key ID of the caller's signing key")
	if len(file.Requests) == 0 {
		fail("no request vectors")
	}
	for _, r := range file.Requests {
		var commitment []byte
		if r.User != nil {
			commitment = userCommitment(unhex(r.User.OrgKeyHex), r.User.Issuer, r.User.Subject)
			if hex.EncodeToString(commitment) != r.User.CommitmentHex {
				fail("%s: user commitment differs", r.Name)
			}
			ok("%s: user commitment", r.Name)
		}
		got := canonicalRequest(r, commitment)
		if !utf8.Valid(got) || string(got) != r.Canonical {
			fail("%s: canonical request differs:\n got %s\nwant %s", r.Name, got, r.Canonical)
		}
		ok("%s: canonical request bytes (%d)", r.Name, len(got))
		if hexSHA256(got) != r.RequestHash {
			fail("%s: request hash differs", r.Name)
		}
		signature := ed25519.Sign(key, got)
		if !bytes.Equal(signature, unb64(r.SignatureB64)) {
			fail("%s: Ed25519 signature differs", r.Name)
		}
		if !ed25519.Verify(public, got, unb64(r.SignatureB64)) {
			fail("%s: signature does not verify", r.Name)
		}
		ok("%s: signature made and verified", r.Name)
		// Any change to the request, a named user included, breaks the signature.
		other := make([]byte, 32)
		if r.User != nil {
			other = nil
		}
		if ed25519.Verify(public, canonicalRequest(r, other), signature) {
			fail("%s: the signature verifies with the user changed", r.Name)
		}
		tampered := bytes.Clone(got)
		tampered[len(tampered)/2] ^= 0x01
		if ed25519.Verify(public, tampered, signature) {
			fail("%s: the signature verifies over tampered bytes", r.Name)
		}
		ok("%s: tampered request and swapped user refused", r.Name)
	}
}

// --- section 4: reading the plan's binding fields from the wire format ------------------

type planFields struct {
	adapterID   string
	requestHash []byte
	caller      string
	callerHPKE  []byte
}

func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	fail("malformed varint in plan")
	return 0, 0
}

func readPlan(b []byte) planFields {
	var p planFields
	for len(b) > 0 {
		tag, n := varint(b)
		b = b[n:]
		field, wire := tag>>3, tag&7
		switch wire {
		case 0:
			_, n = varint(b)
			b = b[n:]
		case 1, 5:
			size := map[uint64]int{1: 8, 5: 4}[wire]
			if len(b) < size {
				fail("plan field %d overruns the message", field)
			}
			b = b[size:]
		case 2:
			l, n := varint(b)
			if uint64(len(b)-n) < l {
				fail("plan field %d overruns the message", field)
			}
			data := b[n : n+int(l)]
			b = b[n+int(l):]
			switch field {
			case 3:
				p.adapterID = string(data)
			case 14:
				p.requestHash = bytes.Clone(data)
			case 15:
				p.caller = string(data)
			case 16:
				p.callerHPKE = bytes.Clone(data)
			}
		default:
			fail("plan has unsupported wire type %d", wire)
		}
	}
	return p
}

// --- sections 5 and 6: attestation, then opening -----------------------------------------

var resultInfo = []byte("gerbang/result/v1\n")

func openSealed(private []byte, info, payload []byte) ([]byte, error) {
	priv, err := ecdh.X25519().NewPrivateKey(private)
	if err != nil {
		return nil, err
	}
	key, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return hpke.Open(key, hpke.HKDFSHA256(), hpke.AES256GCM(), info, payload)
}

func checkResult(dir string) {
	var v resultFile
	readJSON(filepath.Join(dir, "result.json"), &v)
	plan := unb64(v.Plan.DataB64)
	// 1. the gateway signed the plan bytes
	if !ed25519.Verify(unb64(v.Gateway.PublicB64), plan, unb64(v.Plan.SignatureB64)) {
		fail("plan signature does not verify")
	}
	ok("plan signed by the gateway")
	// 2. the plan answers this request, for this caller, sealed to the caller's key
	p := readPlan(plan)
	if hex.EncodeToString(p.requestHash) != v.RequestHash || p.caller != v.Caller {
		fail("the plan answers another request or caller")
	}
	priv, err := ecdh.X25519().NewPrivateKey(unhex(v.Sealed.PrivateHex))
	must(err)
	if !bytes.Equal(p.callerHPKE, priv.PublicKey().Bytes()) {
		fail("the plan seals to a key the caller does not hold")
	}
	ok("plan bound to the request %s…, caller and sealing key", v.RequestHash[:12])
	// 3. the adapter the plan names signed the attestation
	if p.adapterID != v.Adapter.Owner {
		fail("the attestation's key is not the plan's adapter's")
	}
	attested := []byte(v.Attestation.Data)
	if !ed25519.Verify(unb64(v.Adapter.PublicB64), attested, unb64(v.Attestation.SignatureB64)) {
		fail("attestation signature does not verify")
	}
	var doc map[string]any
	must(json.Unmarshal(attested, &doc))
	if doc["v"] != float64(1) || doc["time"] == nil {
		fail("attestation has an unknown form")
	}
	// 4. it names this plan and this ciphertext
	payload := unb64(v.Sealed.CiphertextB64)
	planHash := sha256.Sum256(plan)
	if doc["adapter"] != p.adapterID || doc["plan_sha256"] != hex.EncodeToString(planHash[:]) {
		fail("attestation is for another plan")
	}
	if doc["ciphertext_sha256"] != hexSHA256(payload) {
		fail("sealed result does not match its attestation")
	}
	if _, isNumber := doc["rows"].(float64); !isNumber {
		fail("attestation has no row count")
	}
	ok("attestation of %s verified", p.adapterID)
	// 5. open, with info = "gerbang/result/v1\n" || SHA-256(plan)
	info := append(bytes.Clone(resultInfo), planHash[:]...)
	if !bytes.Equal(info, unhex(v.Sealed.InfoHex)) {
		fail("HPKE info differs from the vector's")
	}
	opened, err := openSealed(unhex(v.Sealed.PrivateHex), info, payload)
	if err != nil {
		fail("sealed result does not open: %v", err)
	}
	if !bytes.Equal(opened, unb64(v.Sealed.PlaintextB64)) {
		fail("opened result differs from the vector's plaintext")
	}
	ok("sealed result opened (%d bytes)", len(opened))
	otherPlan := append(bytes.Clone(resultInfo), make([]byte, 32)...)
	if _, err := openSealed(unhex(v.Sealed.PrivateHex), otherPlan, payload); err == nil {
		fail("the sealed result opens under another plan's info")
	}
	tampered := bytes.Clone(payload)
	tampered[len(tampered)-1] ^= 0x01
	if _, err := openSealed(unhex(v.Sealed.PrivateHex), info, tampered); err == nil {
		fail("a tampered sealed result opens")
	}
	ok("sealed result refused under another plan and when tampered")
}

func readJSON(path string, into any) {
	raw, err := os.ReadFile(path)
	must(err)
	// Vectors carry more than this reads (descriptions, informative copies): decode loosely.
	if err := json.Unmarshal(raw, into); err != nil {
		must(errors.Join(fmt.Errorf("%s", path), err))
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: protocol <vectors dir>")
		os.Exit(2)
	}
	// Self-checks of the double text form against section 2.1's examples.
	for f, want := range map[float64]string{
		3.5: "0x1.c000000000000p+1", -6.125: "-0x1.8800000000000p+2", 0: "0x0.0p+0",
		math.SmallestNonzeroFloat64: "0x0.0000000000001p-1022", 1: "0x1.0000000000000p+0",
	} {
		if got := doubleHex(f); got != want {
			fail("double %v written %s, not %s", f, got, want)
		}
	}
	ok("double hex text")
	checkRequests(os.Args[1])
	checkResult(os.Args[1])
	fmt.Println("PASS")
}
