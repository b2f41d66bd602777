// Package grpcsrv serves EventService.dispatch, grpc.health.v1 (tied to the
// service's readiness) and server reflection on the gRPC port.
//
// # Nothing is read before it is admitted
//
// grpc-go reads a call's whole message (up to MaxRecvBytes) before any
// interceptor runs, and a stream's flow-control window opens to the
// message's declared length as soon as the server starts reading it. The
// one hook before that is the InTapHandle, which sees the headers and
// nothing of the length. So, in the tap:
//
//   - the credentials that travel in the metadata are checked
//     (Config.Tap: the API key, or the HMAC client id, headers and clock);
//     a call without them is refused before a byte of its message is
//     read;
//   - MaxRecvBytes, the most the message may be, is reserved in the
//     in-flight byte budget (Config.Budget). That, and not the declared
//     length, is what bounds memory: once admitted, a stream may be sent
//     and buffered up to its declared length, which the server learns only
//     by reading. When the message has been read and decoded the
//     reservation shrinks to the message's size, and it ends with the
//     call. The price: at most budget ÷ MaxRecvBytes messages are being
//     read at once (16 with the defaults; a burst beyond it is refused
//     with RESOURCE_EXHAUSTED and a retry hint);
//   - a read deadline starts (Config.ReadTimeout): a message not sent in
//     full by then is cut off (CANCELLED) and its reservation freed.
//
// The message is then decoded through a codec that first counts the
// events on the wire bytes (event.CountEvents) and refuses more than
// MaxEvents before proto.Unmarshal (INVALID_ARGUMENT). Streams per
// connection, connections (MaxConns), the stream window (fixed at 64 KiB
// instead of grpc-go's bandwidth estimate, which a peer could grow to
// 16 MiB), idle and total connection age and ping rates are bounded too.
package grpcsrv
