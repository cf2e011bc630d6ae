package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// feedAll gives the framer s in pieces of n bytes and returns the first
// violation.
func feedAll(f *requestFramer, s string, n int) *violation {
	for len(s) > 0 {
		k := min(n, len(s))
		if v := f.feed([]byte(s[:k])); v != nil {
			return v
		}
		s = s[k:]
	}
	return nil
}

func TestRequestFramer(t *testing.T) {
	tests := []struct {
		name          string
		stream        string
		inTunnel      bool
		wantStatus    int // 0: no violation
		wantCompleted uint64
		wantState     framerState
	}{
		{"one request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, 0, 1, fsStart},
		{"bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", true, 0, 1, fsStart},
		{"pipelined, with a Content-Length body", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", true, 0, 2, fsStart},
		{"chunked body with extensions and trailers", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5;x=y\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\nGET / HTTP/1.1\r\n\r\n", true, 0, 2, fsStart},
		{"chunked beats Content-Length", "POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true, 0, 1, fsStart},
		{"HTTP/1.0 ignores Transfer-Encoding", "POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nhi", true, 0, 1, fsStart},
		{"stray CRLF before a request", "\r\n\r\nGET / HTTP/1.1\r\n\r\n", true, 0, 1, fsStart},
		{"in the middle of a body", "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nhello", true, 0, 1, fsBody},
		{"CONNECT on the proxy port waits for the gate", "CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03\x01garbage", false, 0, 1, fsPending},
		{"CONNECT inside a tunnel is a request", "CONNECT a:443 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", true, 0, 2, fsStart},
		{"upgrade waits for the answer", "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x05hello", true, 0, 1, fsPending},
		{"HTTP/2 preface", h2Preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00", true, 0, 0, fsOff},
		{"garbage", "\x16\x03\x01", true, 400, 0, fsFailed},
		{"bad method", "G(T / HTTP/1.1\r\n\r\n", true, 400, 0, fsFailed},
		{"control character in the target", "GET /\x01 HTTP/1.1\r\n\r\n", true, 400, 0, fsFailed},
		{"long request line", "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\n\r\n", true, 414, 0, fsFailed},
		{"long header block", "GET / HTTP/1.1\r\n" + strings.Repeat("X: 0123456789\r\n", 20) + "\r\n", true, 431, 0, fsFailed},
		{"folding", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", true, 400, 0, fsFailed},
		{"header without colon", "GET / HTTP/1.1\r\nnocolon\r\n\r\n", true, 400, 0, fsFailed},
		{"two Transfer-Encoding lines", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", true, 501, 1, fsFailed},
		{"negative Content-Length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", true, 400, 0, fsFailed},
		{"repeated equal Content-Length", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", true, 0, 1, fsStart},
		{"chunk size not hex", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", true, 400, 1, fsFailed},
		{"chunk line with bare LF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", true, 400, 1, fsFailed},
		{"chunk data without CRLF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxyz", true, 400, 1, fsFailed},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 3, 1 << 20} {
			f := newRequestFramer(64, 256, tt.inTunnel)
			v := feedAll(f, tt.stream, n)
			status := 0
			if v != nil {
				status = v.status
			}
			if status != tt.wantStatus || f.headerBlocks() != tt.wantCompleted || f.st != tt.wantState {
				t.Errorf("%s (pieces of %d): got status %d, %d blocks, state %d; want %d, %d, %d",
					tt.name, n, status, f.headerBlocks(), f.st, tt.wantStatus, tt.wantCompleted, tt.wantState)
			}
		}
	}
}

func TestRequestFramerSignals(t *testing.T) {
	f := newRequestFramer(1024, 4096, false)
	if v := feedAll(f, "CONNECT a:443 HTTP/1.1\r\n\r\n", 5); v != nil || f.st != fsPending {
		t.Fatalf("CONNECT: %v, state %d", v, f.st)
	}
	// Answered 407 on the same connection: it goes on as HTTP/1.
	f.resume()
	if v := feedAll(f, "GET http://a/ HTTP/1.1\r\n\r\nGET", 5); v != nil || !f.headerOpen() {
		t.Fatalf("after resume: %v, header open %v", v, f.headerOpen())
	}
	if v := feedAll(f, " / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 5); v != nil || f.st != fsPending || f.headerOpen() {
		t.Fatalf("upgrade: %v, state %d", v, f.st)
	}
	f.off() // 101: frames follow
	if v := feedAll(f, "\x00\x01 anything at all", 5); v != nil || f.st != fsOff {
		t.Fatalf("after off: %v, state %d", v, f.st)
	}
}

// The line buffer never outgrows the limits, whatever the input.
func TestRequestFramerBuffersAtMostALine(t *testing.T) {
	f := newRequestFramer(1024, 4096, true)
	v := feedAll(f, "GET /"+strings.Repeat("a", 1<<20)+" HTTP/1.1\r\n", 32<<10)
	if v == nil || v.status != 414 || cap(f.line) > 0 {
		t.Fatalf("got %v, line buffer cap %d", v, cap(f.line))
	}
	f = newRequestFramer(1024, 4096, true)
	feedAll(f, "GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 4000), 100)
	if cap(f.line) > 2*4096 {
		t.Fatalf("line buffer cap %d for a 4 KiB header block", cap(f.line))
	}
}

// goRequestEnds reads data as net/http does (http.ReadRequest, bodies read
// to the end) and returns the offset after each request it read whole,
// stopping where the framer stops following (an upgrade, the HTTP/2
// preface).
func goRequestEnds(data []byte) (ends []int) {
	rd := bytes.NewReader(data)
	br := bufio.NewReader(rd)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return ends
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return ends
		}
		ends = append(ends, len(data)-rd.Len()-br.Buffered())
		if req.Header.Get("Upgrade") != "" || req.Method == "PRI" {
			return ends
		}
	}
}

// FuzzRequestFramer checks the framer against net/http's own reading of the
// same bytes: where net/http reads a sequence of requests whole, the framer
// finds the same number of requests and ends between two of them, unless it
// refused one for a reason net/http is lenient about; and it never panics
// or buffers more than its limits.
func FuzzRequestFramer(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nx",
		"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nA : b\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
		h2Preface,
		"\x16\x03\x01\x00",
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, piece uint8) {
		n := int(piece)%16 + 1
		whole := newRequestFramer(1<<20, 1<<20, true)
		feedAll(whole, string(data), n)
		if cap(whole.line) > 2<<20 {
			t.Fatalf("line buffer cap %d", cap(whole.line))
		}

		ends := goRequestEnds(data)
		if len(ends) == 0 {
			return
		}
		fr := newRequestFramer(1<<20, 1<<20, true)
		v := feedAll(fr, string(data[:ends[len(ends)-1]]), n)
		if v != nil {
			switch v.reason {
			case "obsolete line folding in a header field", "malformed header field":
				return // net/http accepts these; the framer refuses them on purpose
			}
			t.Fatalf("net/http read %d requests, the framer refused: %d %s", len(ends), v.status, v.reason)
		}
		switch fr.st {
		case fsStart:
			if fr.headerBlocks() != uint64(len(ends)) {
				t.Fatalf("net/http read %d requests, the framer %d", len(ends), fr.headerBlocks())
			}
		case fsPending, fsOff:
			if fr.headerBlocks() > uint64(len(ends)) {
				t.Fatalf("net/http read %d requests, the framer %d", len(ends), fr.headerBlocks())
			}
		default:
			t.Fatalf("after the %d requests net/http read, the framer is in state %d, not between requests", len(ends), fr.st)
		}
	})
}
