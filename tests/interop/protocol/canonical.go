package main

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// --- canonical JSON (docs/protocol.md section 1) ----------------------------------------

// object is a JSON object; keys are written sorted.
type object map[string]any

func writeString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

func writeCanonical(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case string:
		writeString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	case object:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // byte order of UTF-8 = code point order
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			writeCanonical(b, x[k])
		}
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("no canonical form for %T", v))
	}
}

func canonical(v any) []byte {
	var b strings.Builder
	writeCanonical(&b, v)
	return []byte(b.String())
}

// doubleHex is the one text form of a double (section 2.1): [-]0x1.<13 hex>p<+|-><exp>.
func doubleHex(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		panic("infinities and NaN are not valid values")
	}
	bits := math.Float64bits(f)
	sign := ""
	if bits>>63 == 1 {
		sign = "-"
	}
	exp := int((bits >> 52) & 0x7ff)
	frac := bits & (1<<52 - 1)
	switch {
	case exp == 0 && frac == 0:
		return sign + "0x0.0p+0"
	case exp == 0:
		return fmt.Sprintf("%s0x0.%013xp-1022", sign, frac)
	}
	e := exp - 1023
	esign := "+"
	if e < 0 {
		esign, e = "-", -e
	}
	return fmt.Sprintf("%s0x1.%013xp%s%d", sign, frac, esign, e)
}

// timeText is UTC with exactly six fractional digits and a Z.
func timeText(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}
