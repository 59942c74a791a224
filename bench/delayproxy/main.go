// Command delayproxy makes a loopback registry answer like a distant one:
// it forwards each TCP connection it accepts on -listen to -to and holds
// every chunk of bytes for -delay in each direction, so every round trip
// takes 2×delay more. With -handshake N a new connection first waits N
// round trips before anything goes through, as the TCP and TLS handshakes
// of an HTTPS connection do (2 for TLS 1.3). Bandwidth is not limited.
// The bench scripts start it (LATENCY_MS, HANDSHAKE_RTTS) to weigh round
// trips against CPU, which a registry on the same machine hides.
//
// Usage: delayproxy -listen 127.0.0.1:PORT -to 127.0.0.1:PORT -delay 10ms [-handshake 2]
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	to := flag.String("to", "", "address to forward to")
	delay := flag.Duration("delay", 10*time.Millisecond, "one-way delay added to every chunk")
	handshake := flag.Int("handshake", 0, "round trips a new connection waits before its first bytes go through")
	flag.Parse()
	if *to == "" {
		fmt.Fprintln(os.Stderr, "delayproxy: -to is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("delayproxy: %v", err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("delayproxy: %v", err)
		}
		go serve(c.(*net.TCPConn), *to, *delay, time.Duration(*handshake)*2**delay)
	}
}

// serve forwards c to addr both ways, each with the delay, after the
// handshake wait.
func serve(c *net.TCPConn, addr string, delay, handshake time.Duration) {
	defer c.Close()
	time.Sleep(handshake)
	u, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	up := u.(*net.TCPConn)
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { pipe(up, c, delay); done <- struct{}{} }()
	go func() { pipe(c, up, delay); done <- struct{}{} }()
	<-done
	<-done
}

// chunk is bytes read at a time, due for writing at due.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, writing each chunk delay after it was read, and
// half-closes dst at src's end. At most 256 chunks (8 MiB) wait at once.
func pipe(dst, src *net.TCPConn, delay time.Duration) {
	q := make(chan chunk, 256)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{b[:n], time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		time.Sleep(time.Until(ch.due))
		if _, err := dst.Write(ch.b); err != nil {
			src.CloseRead()
			for range q {
			}
			return
		}
	}
	dst.CloseWrite()
}
