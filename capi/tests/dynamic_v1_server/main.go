// A real gRPC Go server (grpc-go) for capi/tests/test_dynamic.c: grpc.testing.TestService's
// UnaryCall, and server reflection by grpc-go's own implementation registered for
// grpc.reflection.v1 only (reflection.RegisterV1), so a client that spoke only v1alpha would
// fail. The other reference servers at hand (grpc++ 1.51, grpcio-reflection 1.85) serve only
// v1alpha; this one exercises the path a client tries first.
//
// Usage: capi_dynamic_v1_server. Listens on 127.0.0.1 (a free port), prints
// "listening on port N" on stdout, and serves until its stdin closes or 120 seconds have passed.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/reflection"
)

type testService struct {
	testgrpc.UnimplementedTestServiceServer
}

// UnaryCall answers with response_size zero bytes of response_type.
func (testService) UnaryCall(_ context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	payload := &testgrpc.Payload{Type: req.GetResponseType(), Body: make([]byte, req.GetResponseSize())}
	return &testgrpc.SimpleResponse{Payload: payload}, nil
}

func main() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, testService{})
	reflection.RegisterV1(s)
	go func() {
		if err := s.Serve(lis); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
	}()
	fmt.Printf("listening on port %d\n", lis.Addr().(*net.TCPAddr).Port)
	go func() {
		time.Sleep(120 * time.Second)
		fmt.Fprintln(os.Stderr, "capi_dynamic_v1_server: 120 s passed, exiting")
		os.Exit(3)
	}()
	io.Copy(io.Discard, os.Stdin) // until the test closes it
	s.Stop()
}
