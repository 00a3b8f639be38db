package ledger

import (
	"fmt"
	"unicode/utf8"
)

// PostgreSQL limits that metadata must meet to be stored as jsonb.
const (
	// maxJSONDepth is the deepest nesting of arrays and objects accepted,
	// as encoding/json accepts.
	maxJSONDepth = 10000
	// numeric: at most 131072 digits before the decimal point and 16383
	// after it; an exponent must stay below INT_MAX/2 in magnitude.
	maxNumericIntDigits = 131072
	maxNumericScale     = 16383
	maxNumericExponent  = 1<<30 - 1
)

// jsonbText checks raw JSON against what PostgreSQL's jsonb input accepts
// and returns the length in bytes of jsonb's text form of it (what
// octet_length(metadata::text) measures in the table constraints and in
// rac.ack): objects print as {"k": v, ...} with each key once (the last
// value of a repeated key wins), arrays as [a, b], strings re-escaped,
// numbers as numeric prints them. A non-empty reason means PostgreSQL
// would refuse the document.
func jsonbText(raw []byte) (n int, reason string) {
	p := jsonbParser{s: raw}
	p.space()
	n, ok := p.value(0)
	if !ok {
		return 0, p.reason
	}
	p.space()
	if p.i != len(p.s) {
		return 0, p.fail("not valid JSON: data after the value at byte %d", p.i)
	}
	return n, ""
}

type jsonbParser struct {
	s      []byte
	i      int
	reason string
}

func (p *jsonbParser) fail(format string, args ...any) string {
	if p.reason == "" {
		p.reason = fmt.Sprintf(format, args...)
	}
	return p.reason
}

func (p *jsonbParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonbParser) value(depth int) (int, bool) {
	if p.i >= len(p.s) {
		p.fail("not valid JSON: unexpected end")
		return 0, false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		_, n, ok := p.str()
		return n, ok
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if len(p.s)-p.i >= len(lit) && string(p.s[p.i:p.i+len(lit)]) == lit {
				p.i += len(lit)
				return len(lit), true
			}
		}
		p.fail("not valid JSON: unexpected byte %q at %d", c, p.i)
		return 0, false
	}
}

func (p *jsonbParser) object(depth int) (int, bool) {
	if depth > maxJSONDepth {
		p.fail("nested deeper than %d", maxJSONDepth)
		return 0, false
	}
	p.i++ // {
	// jsonb keeps one value per key, the last one given.
	lengths := map[string]int{}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return 2, true
	}
	for {
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			p.fail("not valid JSON: object key expected at byte %d", p.i)
			return 0, false
		}
		key, kn, ok := p.str()
		if !ok {
			return 0, false
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			p.fail("not valid JSON: ':' expected at byte %d", p.i)
			return 0, false
		}
		p.i++
		p.space()
		vn, ok := p.value(depth)
		if !ok {
			return 0, false
		}
		lengths[key] = kn + 2 + vn // "key": value
		p.space()
		if p.i >= len(p.s) {
			p.fail("not valid JSON: unexpected end")
			return 0, false
		}
		if p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.s[p.i] != '}' {
			p.fail("not valid JSON: ',' or '}' expected at byte %d", p.i)
			return 0, false
		}
		p.i++
		n := 2 + 2*(len(lengths)-1) // braces and ", " separators
		for _, l := range lengths {
			n += l
		}
		return n, true
	}
}

func (p *jsonbParser) array(depth int) (int, bool) {
	if depth > maxJSONDepth {
		p.fail("nested deeper than %d", maxJSONDepth)
		return 0, false
	}
	p.i++ // [
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return 2, true
	}
	n := 2
	for elems := 0; ; elems++ {
		p.space()
		vn, ok := p.value(depth)
		if !ok {
			return 0, false
		}
		n += vn
		if elems > 0 {
			n += 2 // ", "
		}
		p.space()
		if p.i >= len(p.s) {
			p.fail("not valid JSON: unexpected end")
			return 0, false
		}
		if p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.s[p.i] != ']' {
			p.fail("not valid JSON: ',' or ']' expected at byte %d", p.i)
			return 0, false
		}
		p.i++
		return n, true
	}
}

// str reads a string at p.i and returns it decoded and the length of its
// jsonb text form, quotes included.
func (p *jsonbParser) str() (string, int, bool) {
	p.i++ // opening quote
	var out []byte
	n := 2
	emit := func(r rune) {
		switch {
		case r == '"' || r == '\\' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t':
			n += 2
		case r < 0x20:
			n += 6 // \u00XX
		default:
			n += utf8.RuneLen(r)
		}
		out = utf8.AppendRune(out, r)
	}
	for {
		if p.i >= len(p.s) {
			p.fail("not valid JSON: unterminated string")
			return "", 0, false
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), n, true
		case c < 0x20:
			p.fail("not valid JSON: control character in a string at byte %d", p.i)
			return "", 0, false
		case c == '\\':
			if p.i+1 >= len(p.s) {
				p.fail("not valid JSON: unterminated string")
				return "", 0, false
			}
			esc := p.s[p.i+1]
			p.i += 2
			switch esc {
			case '"', '\\', '/':
				emit(rune(esc))
			case 'b':
				emit('\b')
			case 'f':
				emit('\f')
			case 'n':
				emit('\n')
			case 'r':
				emit('\r')
			case 't':
				emit('\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", 0, false
				}
				switch {
				case r == 0:
					p.fail(`holds \u0000, which jsonb cannot store`)
					return "", 0, false
				case r >= 0xDC00 && r <= 0xDFFF:
					p.fail(`holds a lone low surrogate \u%04x, which jsonb cannot store`, r)
					return "", 0, false
				case r >= 0xD800 && r <= 0xDBFF:
					if p.i+1 >= len(p.s) || p.s[p.i] != '\\' || p.s[p.i+1] != 'u' {
						p.fail(`holds a lone high surrogate \u%04x, which jsonb cannot store`, r)
						return "", 0, false
					}
					p.i += 2
					lo, ok := p.hex4()
					if !ok {
						return "", 0, false
					}
					if lo < 0xDC00 || lo > 0xDFFF {
						p.fail(`holds a high surrogate \u%04x not followed by a low one, which jsonb cannot store`, r)
						return "", 0, false
					}
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				}
				emit(r)
			default:
				p.fail("not valid JSON: bad escape \\%c at byte %d", esc, p.i-1)
				return "", 0, false
			}
		case c < utf8.RuneSelf:
			emit(rune(c))
			p.i++
		default:
			r, size := utf8.DecodeRune(p.s[p.i:])
			if r == utf8.RuneError && size <= 1 {
				p.fail("not valid UTF-8 at byte %d", p.i)
				return "", 0, false
			}
			emit(r)
			p.i += size
		}
	}
}

func (p *jsonbParser) hex4() (rune, bool) {
	if len(p.s)-p.i < 4 {
		p.fail(`not valid JSON: short \u escape`)
		return 0, false
	}
	var r rune
	for _, c := range p.s[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			p.fail(`not valid JSON: bad \u escape at byte %d`, p.i)
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// number reads a JSON number and returns the length of numeric's text form
// of it, refusing what numeric cannot hold.
func (p *jsonbParser) number() (int, bool) {
	start := p.i
	neg := false
	if p.s[p.i] == '-' {
		neg = true
		p.i++
	}
	digits := func() []byte {
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		return p.s[j:p.i]
	}
	intPart := digits()
	if len(intPart) == 0 || (len(intPart) > 1 && intPart[0] == '0') {
		p.fail("not valid JSON: bad number at byte %d", start)
		return 0, false
	}
	var frac []byte
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if frac = digits(); len(frac) == 0 {
			p.fail("not valid JSON: bad number at byte %d", start)
			return 0, false
		}
	}
	var exp int64
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		expNeg := false
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			expNeg = p.s[p.i] == '-'
			p.i++
		}
		ed := digits()
		if len(ed) == 0 {
			p.fail("not valid JSON: bad number at byte %d", start)
			return 0, false
		}
		for _, d := range ed {
			if exp < maxNumericExponent { // saturate: anything larger is refused below
				exp = exp*10 + int64(d-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	if p.i < len(p.s) {
		if c := p.s[p.i]; c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.fail("not valid JSON: bad number at byte %d", start)
			return 0, false
		}
	}
	overflow := func() (int, bool) {
		p.fail("number %.20s... at byte %d is outside the range of PostgreSQL numeric", p.s[start:p.i], start)
		return 0, false
	}
	if exp >= maxNumericExponent || exp <= -maxNumericExponent {
		return overflow()
	}
	scale := max(int64(len(frac))-exp, 0)
	if scale > maxNumericScale {
		return overflow()
	}
	n := 1 // the integer part is at least "0"
	if scale > 0 {
		n += 1 + int(scale)
	}
	// Digits before the point: from the first non-zero digit.
	lead := 0
	all := len(intPart) + len(frac)
	for lead < all {
		var d byte
		if lead < len(intPart) {
			d = intPart[lead]
		} else {
			d = frac[lead-len(intPart)]
		}
		if d != '0' {
			break
		}
		lead++
	}
	if lead == all {
		return n, true // zero prints unsigned
	}
	before := int64(len(intPart)) + exp - int64(lead)
	if before > maxNumericIntDigits {
		return overflow()
	}
	if before > 1 {
		n += int(before) - 1
	}
	if neg {
		n++
	}
	return n, true
}
