//go:build unix

package fastpath

import "testing"

// TestParseFastAnswer: only a 200 whose body is all there (its
// Content-Length, or to the end without one) and not chunked is the fast
// path's; anything else goes to the tree.
func TestParseFastAnswer(t *testing.T) {
	for _, c := range []struct {
		answer, body string
		ok           bool
	}{
		{"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{}\n", "{}\n", true},
		{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}\n", "{}\n", true},
		{"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\n{}\n", "", false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n", "", false},
		{"HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\n{}\n", "", false},
		{"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n", "", false},
		{"HTTP/1.0 200 OK\r\nbad header\r\n\r\n{}", "", false},
		{"", "", false},
	} {
		body, ok := parseFastAnswer([]byte(c.answer))
		if string(body) != c.body || ok != c.ok {
			t.Errorf("parseFastAnswer(%q) = %q, %v; want %q, %v", c.answer, body, ok, c.body, c.ok)
		}
	}
}
