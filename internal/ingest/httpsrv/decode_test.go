package httpsrv

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func FuzzDecodeEvents(f *testing.F) {
	for _, s := range []string{
		`{"header":{"sessionId":"s","userId":"u"},"events":[{"id":"1","timestamp":"1795000000000","launchEvent":{}}]}`,
		`{"events":[{"addToCartEvent":{"productId":"p","price":1.5,"quantity":"2"}},{"customEvent":{"name":"x","params":{"a":"b"}}}]}`,
		`{"events":[{}]}`,
		`{"evnts":[]}`,
		`[]`,
		`{"events":[{"launchEvent":{},"clickEvent":{}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := DecodeEvents(body)
		if err != nil {
			return
		}
		// What was accepted must survive a round trip unchanged.
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeEvents(b)
		if err != nil {
			t.Fatalf("decode of own encoding: %v", err)
		}
		if !proto.Equal(ev, again) {
			t.Fatalf("round trip changed the message")
		}
	})
}
