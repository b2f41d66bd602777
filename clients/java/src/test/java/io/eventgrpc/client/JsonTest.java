package io.eventgrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
  @Test
  void readsAConnectError() {
    Object v =
        Json.parse(
            "{\"code\": \"resource_exhausted\", \"message\": \"slow down \\u00e9\\n\","
                + " \"details\": [{\"type\": \"google.rpc.RetryInfo\", \"value\": \"CgIIAg\", \"debug\": {\"n\": -1.5e2}}],"
                + " \"ok\": true, \"none\": null}");
    Map<?, ?> m = (Map<?, ?>) v;
    assertEquals("resource_exhausted", m.get("code"));
    assertEquals("slow down é\n", m.get("message"));
    Map<?, ?> d = (Map<?, ?>) ((List<?>) m.get("details")).get(0);
    assertEquals("CgIIAg", d.get("value"));
    assertEquals(-150.0, ((Map<?, ?>) d.get("debug")).get("n"));
    assertEquals(Boolean.TRUE, m.get("ok"));
    assertNull(m.get("none"));
    assertEquals(List.of(), Json.parse(" [ ] "));
  }

  @Test
  void refusesBadInputWithTheOffset() {
    for (String bad : new String[] {"", "{", "{\"a\" 1}", "[1,]", "\"abc", "{\"a\":1} x", "tru", "\"\\x\"", "\"a\u0001\""}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
      assertEquals(true, e.getMessage().contains("offset"), e.getMessage());
    }
    assertThrows(IllegalArgumentException.class, () -> Json.parse("[".repeat(100) + "]".repeat(100)), "depth is bounded");
  }
}
