// Command labserve is the one program in the image a lab builds for its real nodes.
//
// Without arguments (as the pod sandbox's "pause" process) it sleeps until SIGTERM or
// SIGINT. As "labserve serve ADDRESS" (the real-node seed workload) it answers 200 on every path
// at ADDRESS; while the address is still held (by the pod being replaced) it keeps
// trying to bind, so the container runs but is not ready until it serves.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != "serve" {
		pause()
		return
	}
	serve(os.Args[2])
}

func pause() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}

func serve(address string) {
	var listener net.Listener
	for {
		var err error
		listener, err = net.Listen("tcp", address)
		if err == nil {
			break
		}
		fmt.Fprintf(os.Stderr, "waiting to bind %s: %v\n", address, err)
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Printf("serving on %s\n", address)
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		pause()
		server.Close()
	}()
	if err := server.Serve(listener); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
