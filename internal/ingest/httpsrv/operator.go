package httpsrv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// side is one extra listener: the operator listener (ADMIN_ADDR) or the
// metrics listener (METRICS_ADDR).
type side struct {
	name  string
	addr  string
	mux   *http.ServeMux
	admin bool // the operator listener: its requests need no token (see Operator)
	srv   *http.Server
	lis   net.Listener
}

type adminListenerKey struct{}

// onAdminListener reports whether r arrived on the operator listener.
func onAdminListener(r *http.Request) bool {
	v, _ := r.Context().Value(adminListenerKey{}).(bool)
	return v
}

// sideListeners sets up the muxes of AdminAddr and MetricsAddr; without
// them, every route is on the public mux.
func (s *Server) sideListeners() {
	s.admin = s.mux
	if s.cfg.AdminAddr != "" {
		s.admin = http.NewServeMux()
		s.side = append(s.side, &side{name: "operator", addr: s.cfg.AdminAddr, mux: s.admin, admin: true})
	}
	if s.cfg.MetricsAddr != "" && s.cfg.MetricsAddr != s.cfg.AdminAddr {
		s.side = append(s.side, &side{name: "metrics", addr: s.cfg.MetricsAddr, mux: http.NewServeMux()})
	}
}

// metricsMux is the mux /metrics is served on.
func (s *Server) metricsMux() *http.ServeMux {
	switch {
	case s.cfg.MetricsAddr == "":
		return s.mux
	case s.cfg.MetricsAddr == s.cfg.AdminAddr:
		return s.admin
	}
	return s.side[len(s.side)-1].mux
}

// HandleOperator mounts an operator route behind Operator, on the operator
// listener when there is one (the public port then answers 404 for it).
func (s *Server) HandleOperator(pattern string, h http.Handler) {
	s.admin.Handle(pattern, s.Operator(h))
}

// AdminAddrBound is the operator listener's bound address; nil without
// one or before Start.
func (s *Server) AdminAddrBound() net.Addr { return s.sideAddr("operator") }

// MetricsAddrBound is the metrics listener's bound address; nil without
// one or before Start.
func (s *Server) MetricsAddrBound() net.Addr { return s.sideAddr("metrics") }

func (s *Server) sideAddr(name string) net.Addr {
	for _, sd := range s.side {
		if sd.lis != nil && (sd.name == name || name == "metrics" && sd.admin && s.cfg.MetricsAddr == s.cfg.AdminAddr) {
			return sd.lis.Addr()
		}
	}
	return nil
}

func (s *Server) startSide() error {
	for _, sd := range s.side {
		lis, err := net.Listen("tcp", sd.addr)
		if err != nil {
			return fmt.Errorf("http %s listen %s: %w", sd.name, sd.addr, err)
		}
		sd.lis = lis
		var h http.Handler = sd.mux
		if s.cfg.Outer != nil {
			h = s.cfg.Outer(h)
		}
		admin := sd.admin
		sd.srv = httpServer(h)
		sd.srv.BaseContext = func(net.Listener) context.Context {
			return context.WithValue(context.Background(), adminListenerKey{}, admin)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := sd.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.cfg.Logger.Error("http server stopped", "listener", sd.name, "err", err)
			}
		}()
		s.cfg.Logger.Info("http listening", "listener", sd.name, "addr", lis.Addr().String())
	}
	return nil
}

func (s *Server) shutdownSide(ctx context.Context) error {
	var errs []error
	for _, sd := range s.side {
		if sd.srv == nil {
			continue
		}
		if err := sd.srv.Shutdown(ctx); err != nil {
			sd.srv.Close()
			errs = append(errs, fmt.Errorf("http %s: %w", sd.name, err))
		}
	}
	return errors.Join(errs...)
}
