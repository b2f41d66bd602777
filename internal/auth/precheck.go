package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// CheckHeaders checks what the headers alone can tell, before a byte of
// the body is read: in apikey mode everything (client id and key); in
// hmac mode the headers' presence and form, the clock skew and that the
// client id is configured (the signature needs the body, and is checked
// by UnaryInterceptor or Middleware once it is read). A refusal is
// counted like the full check's. With mode off it accepts everything.
// Nothing is counted on success: the full check that follows counts it.
func (a *Authenticator) CheckHeaders(get func(name string) []string) (ok bool, msg string, code int) {
	if a.mode == ModeOff {
		return true, "", 0
	}
	id, f := single(get, HeaderClientID)
	if f == nil {
		if a.mode == ModeAPIKey {
			f = a.checkKey(id, get)
		} else {
			f = a.checkSignature(id, get, nil)
		}
	}
	if f != nil {
		a.refused(f)
		return false, f.msg, f.status
	}
	return true, "", 0
}

// TapHandle is a grpc InTapHandle that refuses, with UNAUTHENTICATED, a
// call to the EventService whose metadata fails CheckHeaders; it runs
// before grpc-go reads the call's message, so an unauthenticated call
// costs its headers only. Other services pass.
func (a *Authenticator) TapHandle(ctx context.Context, info *tap.Info) (context.Context, error) {
	if a.mode == ModeOff || !strings.HasPrefix(info.FullMethodName, ingestPrefix) {
		return ctx, nil
	}
	md := info.Header
	if ok, msg, _ := a.CheckHeaders(func(name string) []string { return md.Get(name) }); !ok {
		return ctx, status.Error(codes.Unauthenticated, msg)
	}
	return ctx, nil
}

// Precheck is the HTTP form of CheckHeaders: a refusal is answered like
// Middleware's (401 with {"error": "..."}) before the body is read.
// With mode off it returns next unchanged.
func (a *Authenticator) Precheck(next http.Handler) http.Handler {
	if a.mode == ModeOff {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, msg, code := a.CheckHeaders(r.Header.Values)
		if !ok {
			if a.mode == ModeAPIKey {
				w.Header().Set("WWW-Authenticate", `Bearer realm="event-grpc"`)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]string{"error": msg})
			return
		}
		next.ServeHTTP(w, r)
	})
}
