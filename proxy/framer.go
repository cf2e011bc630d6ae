package proxy

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
)

// Why a framer: net/http bounds a plain request's header block but knows
// no request-line limit (it answers 431 where 414 is meant), and goproxy
// reads the requests inside an intercepted tunnel with http.ReadRequest,
// which has no limit and no deadline at all: a client could send an
// endless header line and grow the proxy's memory without bound, or
// trickle a header byte by byte forever. The framer follows the HTTP/1
// request stream of a connection as its bytes are read, before any parser
// sees them, and reports the first request that breaks a limit or the
// syntax, so that the connection can be answered (400, 414, 431, 501) and
// closed before the parser buffers it.
//
// To know where each request starts it must know where the previous one
// ends, so it follows the body framing exactly as net/http reads it
// (Content-Length, chunked, HTTP/1.0 ignoring Transfer-Encoding). Where
// the two could disagree it refuses the request instead (obsolete line
// folding, which net/http would accept), as RFC 9112 §5.2 allows. It never
// buffers more than one line, itself bounded by the limits.

// violation is a request the proxy refuses before parsing it.
type violation struct {
	status int
	// reason says what was wrong, for the log and the response body; it
	// never quotes the request.
	reason string
}

type framerState uint8

const (
	fsStart     framerState = iota // before a request (stray CR/LF tolerated, as net/http does after a POST)
	fsLine                         // in the request line
	fsHeaders                      // in the header field lines
	fsBody                         // in a Content-Length body
	fsChunkSize                    // in a chunk-size line
	fsChunkData                    // in chunk data
	fsChunkEnd                     // in the CRLF after chunk data
	fsTrailer                      // in the trailer lines after the last chunk
	fsPending                      // after a CONNECT or an Upgrade request: bytes belong to whatever follows, until resume or off
	fsOff                          // not HTTP/1 any more (tunnel, upgrade, HTTP/2 preface)
	fsFailed                       // a violation was reported
)

// maxChunkLine is net/http's bound on a chunk-size line.
const maxChunkLine = 4096

// requestFramer is the framer of one connection. It is safe for
// concurrent use: net/http reads one byte in the background while a
// handler runs, and handlers signal upgrades.
type requestFramer struct {
	maxLine, maxBlock int
	// inTunnel: the stream is inside an intercepted tunnel, where a
	// CONNECT is just another request to forward (on a listener it turns
	// the connection into a tunnel).
	inTunnel bool

	mu        sync.Mutex
	st        framerState
	block     int    // bytes of the current request's header block so far
	line      []byte // the current line, without its LF
	remaining uint64 // body or chunk bytes still to come
	endCR     bool   // fsChunkEnd: the CR was seen

	// the request whose header block is being read
	http11, connect, upgrade, chunked, haveCL bool
	teLines                                   int
	clValue                                   []byte
	// completed counts header blocks read to their end.
	completed uint64
}

func newRequestFramer(maxLine, maxBlock int, inTunnel bool) *requestFramer {
	// The request line is part of the header block: the smaller limit
	// holds, and a line over it is still a 414.
	maxLine = min(maxLine, maxBlock)
	return &requestFramer{maxLine: maxLine, maxBlock: maxBlock, inTunnel: inTunnel}
}

// feed follows p, the next bytes read from the connection, and returns the
// first violation in them (nil if none). After a violation it reports
// nothing more: the connection is being closed.
func (f *requestFramer) feed(p []byte) *violation {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(p) > 0 {
		switch f.st {
		case fsPending, fsOff, fsFailed:
			return nil
		case fsStart:
			if c := p[0]; c == '\r' || c == '\n' {
				p = p[1:]
				f.block++
				if f.block > f.maxBlock {
					return f.fail(http.StatusRequestHeaderFieldsTooLarge, "request header block larger than limits.max_header_bytes")
				}
				continue
			}
			f.st = fsLine
		case fsLine, fsHeaders, fsTrailer, fsChunkSize:
			i := bytes.IndexByte(p, '\n')
			seg := p
			if i >= 0 {
				seg = p[:i]
			}
			if f.st != fsChunkSize {
				f.block += len(seg)
				if i >= 0 {
					f.block++
				}
				if f.st == fsLine && len(f.line)+len(seg) > f.maxLine+1 { // +1: a CR may end it
					return f.fail(http.StatusRequestURITooLong, "request line longer than limits.max_request_line")
				}
				if f.block > f.maxBlock {
					return f.fail(http.StatusRequestHeaderFieldsTooLarge, "request header block larger than limits.max_header_bytes")
				}
			} else if len(f.line)+len(seg) > maxChunkLine+1 {
				return f.fail(http.StatusBadRequest, "chunk-size line too long")
			}
			if f.st == fsLine && len(f.line) == 0 && len(seg) > 0 && !isTokenByte(seg[0]) {
				// Binary garbage, a TLS handshake sent in clear: say so at
				// once rather than wait for a line that never ends.
				return f.fail(http.StatusBadRequest, "malformed request line")
			}
			f.line = append(f.line, seg...)
			if i < 0 {
				return nil
			}
			p = p[i+1:]
			if v := f.endLine(); v != nil {
				return v
			}
		case fsBody, fsChunkData:
			n := uint64(len(p))
			if n > f.remaining {
				n = f.remaining
			}
			p = p[n:]
			f.remaining -= n
			if f.remaining > 0 {
				return nil
			}
			if f.st == fsBody {
				f.endMessage()
			} else {
				f.st, f.endCR = fsChunkEnd, false
			}
		case fsChunkEnd:
			c := p[0]
			p = p[1:]
			switch {
			case !f.endCR && c == '\r':
				f.endCR = true
			case f.endCR && c == '\n':
				f.st = fsChunkSize
			default:
				return f.fail(http.StatusBadRequest, "malformed chunked encoding")
			}
		}
	}
	return nil
}

// endLine interprets the complete line in f.line.
func (f *requestFramer) endLine() *violation {
	line := f.line
	f.line = f.line[:0]
	if cap(f.line) > 4096 {
		f.line = nil // do not keep a long line's buffer for the life of the connection
	}
	switch f.st {
	case fsChunkSize:
		return f.chunkSize(line)
	case fsTrailer:
		if len(bytes.TrimSuffix(line, []byte{'\r'})) == 0 {
			f.endMessage()
		}
		return nil
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if f.st == fsLine {
		return f.requestLine(line)
	}
	if len(line) == 0 {
		return f.endHeaders()
	}
	return f.headerField(line)
}

func (f *requestFramer) requestLine(line []byte) *violation {
	if len(line) > f.maxLine {
		return f.fail(http.StatusRequestURITooLong, "request line longer than limits.max_request_line")
	}
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 || !isToken(method) || hasCTL(target) {
		return f.fail(http.StatusBadRequest, "malformed request line")
	}
	if string(method) == "PRI" && string(target) == "*" && string(version) == "HTTP/2.0" {
		f.st = fsOff // the HTTP/2 connection preface: not ours to follow
		return nil
	}
	major, minor, ok := http.ParseHTTPVersion(string(version))
	if !ok {
		return f.fail(http.StatusBadRequest, "malformed HTTP version")
	}
	f.st = fsHeaders
	f.http11 = major > 1 || major == 1 && minor >= 1
	f.connect = string(method) == http.MethodConnect
	f.upgrade, f.chunked, f.haveCL, f.teLines, f.clValue = false, false, false, 0, f.clValue[:0]
	return nil
}

func (f *requestFramer) headerField(line []byte) *violation {
	if line[0] == ' ' || line[0] == '\t' {
		return f.fail(http.StatusBadRequest, "obsolete line folding in a header field")
	}
	name, value, ok := bytes.Cut(line, []byte{':'})
	if !ok || len(name) == 0 || !isToken(name) {
		return f.fail(http.StatusBadRequest, "malformed header field")
	}
	value = bytes.Trim(value, " \t")
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return f.fail(http.StatusBadRequest, "control character in a header field value")
		}
	}
	switch {
	case equalFoldASCII(name, "content-length"):
		// net/http: one value, or the same value repeated; decimal digits.
		if _, err := strconv.ParseUint(string(value), 10, 63); err != nil {
			return f.fail(http.StatusBadRequest, "malformed Content-Length")
		}
		if f.haveCL && !bytes.Equal(value, f.clValue) {
			return f.fail(http.StatusBadRequest, "conflicting Content-Length fields")
		}
		f.haveCL = true
		f.clValue = append(f.clValue[:0], value...)
	case equalFoldASCII(name, "transfer-encoding"):
		f.teLines++
		f.chunked = equalFoldASCII(value, "chunked")
	case equalFoldASCII(name, "upgrade"):
		f.upgrade = true
	}
	return nil
}

func (f *requestFramer) endHeaders() *violation {
	f.completed++
	f.block = 0
	chunked := false
	if f.teLines > 0 && f.http11 {
		// net/http honours Transfer-Encoding from HTTP/1.1 on, only as a
		// single "chunked" (which then beats Content-Length), and answers
		// 501 to anything else.
		if f.teLines != 1 || !f.chunked {
			return f.fail(http.StatusNotImplemented, "unsupported Transfer-Encoding")
		}
		chunked = true
	}
	if f.connect && !f.inTunnel {
		// The gate says whether it became a tunnel (off) or was answered
		// and the connection goes on (resume).
		f.st = fsPending
		return nil
	}
	switch {
	case chunked:
		f.st = fsChunkSize
	case f.haveCL:
		f.remaining, _ = strconv.ParseUint(string(f.clValue), 10, 63)
		f.st = fsBody
		if f.remaining == 0 {
			f.endMessage()
		}
	default:
		f.endMessage()
	}
	return nil
}

func (f *requestFramer) chunkSize(line []byte) *violation {
	// As net/http reads it: CRLF only, no other CR, trailing blanks
	// trimmed, extensions cut at ';', at most 16 hex digits.
	n := len(line)
	if n == 0 || line[n-1] != '\r' || bytes.IndexByte(line[:n-1], '\r') >= 0 || n-1 >= maxChunkLine {
		return f.fail(http.StatusBadRequest, "malformed chunked encoding")
	}
	line = bytes.TrimRight(line[:n-1], " \t")
	line, _, _ = bytes.Cut(line, []byte{';'})
	if len(line) == 0 || len(line) > 16 {
		return f.fail(http.StatusBadRequest, "malformed chunked encoding")
	}
	size, err := strconv.ParseUint(string(line), 16, 64)
	if err != nil || !isHex(line) {
		return f.fail(http.StatusBadRequest, "malformed chunked encoding")
	}
	if size == 0 {
		f.st = fsTrailer
		return nil
	}
	f.remaining = size
	f.st = fsChunkData
	return nil
}

// endMessage is the end of a request: the next byte starts another, unless
// this one asked to switch protocols.
func (f *requestFramer) endMessage() {
	if f.upgrade {
		f.st = fsPending
		return
	}
	f.st = fsStart
	f.block = 0
}

func (f *requestFramer) fail(status int, reason string) *violation {
	f.st = fsFailed
	f.line = nil
	return &violation{status: status, reason: reason}
}

// resume follows the stream again after a CONNECT that was answered
// without a tunnel, or an upgrade the upstream refused.
func (f *requestFramer) resume() {
	f.mu.Lock()
	if f.st == fsPending {
		f.st, f.block = fsStart, 0
	}
	f.mu.Unlock()
}

// off stops following the stream for good: it became a tunnel or another
// protocol.
func (f *requestFramer) off() {
	f.mu.Lock()
	if f.st != fsFailed {
		f.st = fsOff
	}
	f.mu.Unlock()
}

// headerOpen reports whether a request's header block has begun and not
// ended: the time a slow client may take is bounded then.
func (f *requestFramer) headerOpen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st == fsLine || f.st == fsHeaders || f.st == fsStart && f.block > 0
}

// headerBlocks is how many header blocks were read to their end.
func (f *requestFramer) headerBlocks() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.completed
}

// isTokenByte reports an RFC 9110 tchar.
func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func isToken(b []byte) bool {
	for _, c := range b {
		if !isTokenByte(c) {
			return false
		}
	}
	return true
}

func hasCTL(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// equalFoldASCII compares b with the lower-case ASCII string s, ignoring
// case, without allocating.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
