package consent

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// bitWriter appends big-endian bit fields, the layout of TC and GPP strings.
type bitWriter struct {
	buf []byte
	n   int // bits written
}

func (w *bitWriter) bit(b bool) {
	if w.n%8 == 0 {
		w.buf = append(w.buf, 0)
	}
	if b {
		w.buf[w.n/8] |= 0x80 >> (w.n % 8)
	}
	w.n++
}

// int writes the low width bits of v, most significant first.
func (w *bitWriter) int(v uint64, width int) {
	for i := width - 1; i >= 0; i-- {
		w.bit(v>>uint(i)&1 == 1)
	}
}

// letters writes a two-letter code, six bits a letter, A=0.
func (w *bitWriter) letters(s string) {
	s = strings.ToUpper(s)
	for i := 0; i < 2; i++ {
		w.int(uint64(s[i]-'A'), 6)
	}
}

// fibonacci writes v ≥ 1 in Fibonacci coding: bits for 1, 2, 3, 5, 8, ...
// from the smallest, then a terminating 1 (so every code ends in "11").
func (w *bitWriter) fibonacci(v int) {
	fib := []int{1, 2}
	for fib[len(fib)-1]+fib[len(fib)-2] <= v {
		fib = append(fib, fib[len(fib)-1]+fib[len(fib)-2])
	}
	bits := make([]bool, len(fib))
	rest := v
	for i := len(fib) - 1; i >= 0; i-- {
		if fib[i] <= rest {
			bits[i] = true
			rest -= fib[i]
		}
	}
	last := 0
	for i, b := range bits {
		if b {
			last = i
		}
	}
	for _, b := range bits[:last+1] {
		w.bit(b)
	}
	w.bit(true)
}

// base64 encodes the bits padded with zeros to whole bytes, as websafe
// base64 without "=": what TC strings (iabtcf-es Base64Url.encode) and GPP
// headers (iabgpp-es CompressedBase64UrlEncoder: zeros to a multiple of 8,
// then of 6 bits) both come to.
func (w *bitWriter) base64() string { return base64.RawURLEncoding.EncodeToString(w.buf) }

var errShort = errors.New("string ends early")

// bitReader reads big-endian bit fields.
type bitReader struct {
	buf []byte
	pos int
}

// newBitReader decodes websafe base64 without padding (trailing "=" and
// standard-alphabet characters are accepted: strings are seen copied
// through both). Leftover bits of a last partial character are kept, so
// that a GPP header padded only to six bits decodes too.
func newBitReader(s string) (*bitReader, error) {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, errors.New("empty")
	}
	buf := make([]byte, (len(s)*6+7)/8)
	pos := 0
	for i := 0; i < len(s); i++ {
		v, ok := b64Value(s[i])
		if !ok {
			return nil, fmt.Errorf("%q at position %d is not a base64 character", s[i], i+1)
		}
		for b := 5; b >= 0; b-- {
			if v>>uint(b)&1 == 1 {
				buf[pos/8] |= 0x80 >> (pos % 8)
			}
			pos++
		}
	}
	return &bitReader{buf: buf[:(pos+7)/8]}, nil
}

func b64Value(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '-' || c == '+':
		return 62, true
	case c == '_' || c == '/':
		return 63, true
	}
	return 0, false
}

func (r *bitReader) left() int { return len(r.buf)*8 - r.pos }

func (r *bitReader) bit() (bool, error) {
	if r.pos >= len(r.buf)*8 {
		return false, errShort
	}
	b := r.buf[r.pos/8]&(0x80>>(r.pos%8)) != 0
	r.pos++
	return b, nil
}

func (r *bitReader) int(width int) (uint64, error) {
	if r.left() < width {
		return 0, errShort
	}
	var v uint64
	for i := 0; i < width; i++ {
		b, _ := r.bit()
		v <<= 1
		if b {
			v |= 1
		}
	}
	return v, nil
}

func (r *bitReader) letters() (string, error) {
	var out [2]byte
	for i := range out {
		v, err := r.int(6)
		if err != nil {
			return "", err
		}
		if v > 25 {
			return "", fmt.Errorf("letter value %d is not A-Z", v)
		}
		out[i] = byte('A' + v)
	}
	return string(out[:]), nil
}

// maxFibonacciBits bounds one Fibonacci code: 40 bits hold values far
// beyond any section id or vendor id, and a bound keeps a hostile string of
// zeros from reading forever.
const maxFibonacciBits = 40

func (r *bitReader) fibonacci() (int, error) {
	a, b := 1, 2 // the values of the current and the next bit
	v, prev := 0, false
	for i := 0; i < maxFibonacciBits; i++ {
		bit, err := r.bit()
		if err != nil {
			return 0, err
		}
		if bit && prev {
			return v, nil
		}
		if bit {
			v += a
		}
		prev = bit
		a, b = b, a+b
	}
	return 0, errors.New("fibonacci code longer than 40 bits")
}
