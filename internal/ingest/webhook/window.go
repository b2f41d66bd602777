package webhook

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-grpc/event-grpc/internal/dedupe"
)

// The de-duplication window of the webhooks is internal/dedupe's, the one
// the pipeline asks about event ids: claim a delivery before publishing
// it, then Commit it once the broker confirmed, or Forget it when the
// publish failed, so the provider's retry is published instead of being
// answered as a duplicate (see dedupe's doc). The service passes its
// window to New (its bounds, metrics and Redis layer); without one New
// keeps a local window of its own.

// windowKey is the window's key of a provider's delivery id. The
// pipeline's keys begin with the length of their sender scope, a digit;
// these begin with "webhook:", so the two never meet in a shared window.
// The id already holds a digest of the body (contentID), so no content
// digest is passed beside it: another body is another key.
func windowKey(provider, id string) string { return "webhook:" + provider + ":" + id }

// claim asks the window about the delivery id. dup: it was published
// within the window; answer it without publishing. Otherwise key is ""
// (no window, or no id) or the key to settle once the publish ended, and
// claimed says whether this request holds the claim. A delivery another
// request is still publishing (InFlight) is published again rather than
// answered as a duplicate — that publish may yet fail; the broker and
// storage de-duplicate on the message id. So is one the window could not
// be asked about; that error is counted and logged (windowFailed).
func (e *endpoint) claim(ctx context.Context, id string) (key string, dup, claimed bool) {
	if e.window == nil || id == "" {
		return "", false, false
	}
	key = windowKey(e.name, id)
	states, err := e.window.Claim(ctx, []string{key}, nil)
	if err != nil {
		e.windowFailed("claim", err)
		return key, false, false
	}
	return key, states[0] == dedupe.Done, states[0] == dedupe.New
}

// settle tells the window how the publish of a claimed key ended: a
// confirmed delivery is remembered for the window; a failed one is
// released when this request claimed it (a claim of another request is
// that request's to settle). An error is counted and logged: after a
// failed Commit a repeat of the delivery is published again; after a
// failed Forget a repeat finds it in flight, and is published, until the
// claim expires.
// dedupe.Layered counts its own Redis failures and never returns one.
func (e *endpoint) settle(ctx context.Context, key string, claimed bool, published error) {
	if key == "" {
		return
	}
	ctx = context.WithoutCancel(ctx)
	switch {
	case published == nil:
		if err := e.window.Commit(ctx, []string{key}, nil); err != nil {
			e.windowFailed("commit", err)
		}
	case claimed:
		if err := e.window.Forget(ctx, []string{key}); err != nil {
			e.windowFailed("forget", err)
		}
	}
}

// windowFailed counts an error of the window's op and logs it at warn, at
// most once a minute.
func (w *Webhooks) windowFailed(provider, op string, err error) {
	w.m.window.WithLabelValues(op).Inc()
	if held, ok := w.windowLogs.Allow(w.now()); ok {
		w.log.Warn("webhook: the de-duplication window failed", "provider", provider, "op", op, "err", err, "errors_not_logged", held)
	}
}

// openWindow is the window of a Webhooks given none: dedupe's local window
// of maxItems ids for dedupe.DefaultWindow, counted in dedupe's metrics.
func openWindow(maxItems int, log *slog.Logger, reg prometheus.Registerer) (dedupe.Store, error) {
	cfg := dedupe.Config{Window: dedupe.DefaultWindow, PendingTTL: dedupe.DefaultPendingTTL, LocalMaxItems: int64(maxItems)}
	local, err := dedupe.NewLocal(cfg.LocalMaxItems, cfg.Window, cfg.PendingTTL)
	if err != nil {
		return nil, err
	}
	l, err := dedupe.NewLayered(local, nil, cfg, log, reg, nil)
	if err != nil {
		local.Close()
		return nil, err
	}
	return l, nil
}
