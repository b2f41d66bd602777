package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
	"github.com/event-grpc/event-grpc/internal/app/apptest"

	"github.com/event-grpc/event-grpc/client"
)

// TestSender: a Sender sends one request as built, over Connect to the
// HTTP port and over gRPC to the gRPC port, and returns the service's
// answer: per-event results (an id the service minted for the event that
// had none, the invalid event rejected with its code), or the refusal of
// the request as a whole; credentials go by ClientID and APIKey or by
// RequestHeader.
func TestSender(t *testing.T) {
	a := apptest.Start(t, map[string]string{"AUTH_MODE": "apikey", "AUTH_API_KEYS": "go:" + testKey})
	for _, tc := range []struct{ protocol, url string }{
		{client.ProtocolConnect, apptest.URL(a)},
		{client.ProtocolGRPC, "http://" + a.GRPCAddr().String()},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			user := "sender-" + tc.protocol
			s, err := client.NewSender(client.Config{URL: tc.url, Protocol: tc.protocol, ClientID: "go", APIKey: testKey})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
			given := uuid.Must(uuid.NewV7()).String()
			req := &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: user}, Events: []*eventgrpcv1.Event{
				{Id: given, Timestamp: ts, EventOf: testEvent().EventOf},
				{Timestamp: ts, EventOf: testEvent().EventOf},         // no id: the service mints one
				{Id: uuid.Must(uuid.NewV7()).String(), Timestamp: ts}, // no payload: invalid
			}}
			resp, err := s.Send(ctx, req)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if resp.GetAccepted() != 2 || resp.GetRejected() != 1 || len(resp.GetResults()) != 3 {
				t.Fatalf("response %v", resp)
			}
			r := resp.GetResults()
			if !r[0].GetAccepted() || r[0].GetEventId() != given {
				t.Errorf("result 0 %v, want accepted with id %s", r[0], given)
			}
			if !r[1].GetAccepted() || len(r[1].GetEventId()) != 36 {
				t.Errorf("result 1 %v, want accepted with a minted id", r[1])
			}
			if r[2].GetAccepted() || r[2].GetCode() != eventgrpcv1.ResultCode_RESULT_CODE_INVALID || r[2].GetReason() == "" {
				t.Errorf("result 2 %v, want rejected as invalid with a reason", r[2])
			}
			if req.Events[1].Id != "" {
				t.Errorf("Send changed the request: id %q", req.Events[1].Id)
			}
			count(t, a, user, 2)

			// The same credentials as plain request headers.
			byHeader, err := client.NewSender(client.Config{URL: tc.url, Protocol: tc.protocol,
				RequestHeader: http.Header{"Authorization": {"Bearer " + testKey}, "X-Client-Id": {"go"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer byHeader.Close()
			resp, err = byHeader.Send(ctx, &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: user}, Events: []*eventgrpcv1.Event{
				{Id: uuid.Must(uuid.NewV7()).String(), Timestamp: ts, EventOf: testEvent().EventOf}}})
			if err != nil || resp.GetAccepted() != 1 {
				t.Fatalf("credentials in RequestHeader: %v, %v", resp, err)
			}
			count(t, a, user, 3)

			// No credentials: the request is refused as a whole.
			anon, err := client.NewSender(client.Config{URL: tc.url, Protocol: tc.protocol})
			if err != nil {
				t.Fatal(err)
			}
			defer anon.Close()
			resp, err = anon.Send(ctx, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{{Timestamp: ts, EventOf: testEvent().EventOf}}})
			if connect.CodeOf(err) != connect.CodeUnauthenticated || resp != nil {
				t.Fatalf("without credentials: %v, %v; want unauthenticated", resp, err)
			}
		})
	}
}

// TestSenderUnreachable: with nothing listening, Ping and Send fail at
// once, Send with unavailable.
func TestSenderUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	for _, protocol := range []string{client.ProtocolConnect, client.ProtocolGRPC} {
		s, err := client.NewSender(client.Config{URL: url, Protocol: protocol})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: Ping: %v, want connection refused", protocol, err)
		}
		if _, err := s.Send(ctx, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{testEvent()}}); connect.CodeOf(err) != connect.CodeUnavailable {
			t.Errorf("%s: Send: %v, want unavailable", protocol, err)
		}
		cancel()
		s.Close()
	}
}

// TestNewSenderChecksConfig: what New refuses about the transport,
// NewSender refuses too.
func TestNewSenderChecksConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  client.Config
		want string
	}{
		{"no URL", client.Config{}, "URL is required"},
		{"key without client id", client.Config{URL: "http://x", APIKey: "k"}, "ClientID is required"},
		{"key and secret", client.Config{URL: "http://x", ClientID: "c", APIKey: "k", HMACSecret: []byte("s")}, "not both"},
		{"protocol", client.Config{URL: "http://x", Protocol: "http3"}, "Protocol"},
		{"compression", client.Config{URL: "http://x", Compression: "zstd"}, "Compression"},
	} {
		if _, err := client.NewSender(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
		if _, err := client.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New, %s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestSenderConnectionReset: a service that resets the connection while a
// request waits for its answer (as when it is killed) fails the request
// as unavailable, as gRPC does, not as canceled: the caller did not give up.
func TestSenderConnectionReset(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64<<10)
			_, _ = c.Read(buf) // the request has begun
			time.Sleep(50 * time.Millisecond)
			_ = c.(*net.TCPConn).SetLinger(0) // close with a reset
			_ = c.Close()
		}
	}()
	defer func() { _ = lis.Close(); <-done }()
	s, err := client.NewSender(client.Config{URL: "http://" + lis.Addr().String(), Protocol: client.ProtocolGRPC})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		_, err := s.Send(ctx, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{testEvent()}})
		if connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatalf("Send: %v (code %v), want unavailable", err, connect.CodeOf(err))
		}
	}
	// A caller's cancel stays canceled.
	cctx, ccancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, ccancel)
	if _, err := s.Send(cctx, &eventgrpcv1.Events{Events: []*eventgrpcv1.Event{testEvent()}}); connect.CodeOf(err) != connect.CodeCanceled {
		t.Fatalf("Send, cancelled: %v, want canceled", err)
	}
}

// TestSenderRefused: a request the gRPC port refuses (rate limited) fails
// as resource_exhausted with the service's retry hint.
func TestSenderRefused(t *testing.T) {
	a := apptest.Start(t, map[string]string{"RATE_LIMIT_RPS": "1", "RATE_LIMIT_BURST": "1"})
	s, err := client.NewSender(client.Config{URL: "http://" + a.GRPCAddr().String(), Protocol: client.ProtocolGRPC})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var refused int
	for range 5 {
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		resp, err := s.Send(ctx, &eventgrpcv1.Events{Header: &eventgrpcv1.Header{UserId: "sender-refused"},
			Events: []*eventgrpcv1.Event{{Id: uuid.Must(uuid.NewV7()).String(), Timestamp: ts, EventOf: testEvent().EventOf}}})
		if err == nil {
			if resp.GetAccepted() != 1 {
				t.Fatalf("response %v", resp)
			}
			continue
		}
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
			t.Fatalf("Send: %v, want accepted or resource_exhausted", err)
		}
		if ce.Meta().Get("retry-after-ms") == "" && len(ce.Details()) == 0 {
			t.Errorf("refusal without a retry hint: %v %v", err, ce.Meta())
		}
		refused++
	}
	if refused == 0 {
		t.Fatal("no request refused at 1 request/s")
	}
}
