package io.eventgrpc.client;

import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.lang.reflect.Array;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.util.Date;
import java.util.Map;
import java.util.Optional;

/**
 * Turns free-form Java values into {@code google.protobuf.Struct}, the
 * type of the generic events' properties, traits and context: a {@link
 * Map} with String keys becomes an object; a {@link Iterable} or an array
 * a list; a {@link Number} a number (a double: integers beyond ±2^53 lose
 * precision, as in JSON); a {@link Boolean} a boolean; {@code null} and
 * an empty {@link Optional} null; a {@link CharSequence}, {@link
 * Character} or {@link Enum} a string (the enum's name); an {@link
 * Instant} or {@link Date} an ISO-8601 string. {@link Struct}, {@link
 * Value} and {@link ListValue} pass as they are. Anything else, a key that
 * is not a String, NaN or an infinity (JSON has no such number), or
 * nesting deeper than 64 levels is an {@link IllegalArgumentException}
 * naming the path of the value at fault (e.g. {@code
 * properties.items[2].price}).
 */
public final class Structs {
  /** Deepest nesting accepted (a cycle would otherwise recurse forever). */
  static final int MAX_DEPTH = 64;

  private Structs() {}

  /** The Struct of a map; an empty Struct for null. */
  public static Struct of(Map<?, ?> map) {
    return of("properties", map);
  }

  /** Like {@link #of(Map)}, naming the map {@code name} in errors. */
  static Struct of(String name, Map<?, ?> map) {
    if (map == null) {
      return Struct.getDefaultInstance();
    }
    return struct(map, name, 0);
  }

  /** The Value of one Java value (see the class comment). */
  public static Value value(Object v) {
    return value(v, "value", 0);
  }

  private static Struct struct(Map<?, ?> m, String path, int depth) {
    Struct.Builder b = Struct.newBuilder();
    for (Map.Entry<?, ?> e : m.entrySet()) {
      if (!(e.getKey() instanceof String)) {
        throw new IllegalArgumentException(
            path + ": keys must be Strings, not " + (e.getKey() == null ? "null" : e.getKey().getClass().getName()));
      }
      String k = (String) e.getKey();
      b.putFields(k, value(e.getValue(), path + "." + k, depth + 1));
    }
    return b.build();
  }

  private static Value value(Object v, String path, int depth) {
    if (depth > MAX_DEPTH) {
      throw new IllegalArgumentException(path + ": nested deeper than " + MAX_DEPTH + " levels (a cycle?)");
    }
    if (v == null) {
      return Value.newBuilder().setNullValue(NullValue.NULL_VALUE).build();
    }
    if (v instanceof CharSequence || v instanceof Character) {
      return Value.newBuilder().setStringValue(v.toString()).build();
    }
    if (v instanceof Boolean) {
      return Value.newBuilder().setBoolValue((Boolean) v).build();
    }
    if (v instanceof Number) {
      double d;
      if (v instanceof BigDecimal) {
        d = ((BigDecimal) v).doubleValue();
      } else if (v instanceof BigInteger) {
        d = ((BigInteger) v).doubleValue();
      } else {
        d = ((Number) v).doubleValue();
      }
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        throw new IllegalArgumentException(path + ": " + v + " is not a JSON number");
      }
      return Value.newBuilder().setNumberValue(d).build();
    }
    if (v instanceof Map) {
      return Value.newBuilder().setStructValue(struct((Map<?, ?>) v, path, depth)).build();
    }
    if (v instanceof Iterable) {
      ListValue.Builder l = ListValue.newBuilder();
      int i = 0;
      for (Object o : (Iterable<?>) v) {
        l.addValues(value(o, path + "[" + i++ + "]", depth + 1));
      }
      return Value.newBuilder().setListValue(l).build();
    }
    if (v.getClass().isArray()) {
      ListValue.Builder l = ListValue.newBuilder();
      int n = Array.getLength(v);
      for (int i = 0; i < n; i++) {
        l.addValues(value(Array.get(v, i), path + "[" + i + "]", depth + 1));
      }
      return Value.newBuilder().setListValue(l).build();
    }
    if (v instanceof Enum) {
      return Value.newBuilder().setStringValue(((Enum<?>) v).name()).build();
    }
    if (v instanceof Instant) {
      return Value.newBuilder().setStringValue(v.toString()).build();
    }
    if (v instanceof Date) {
      return Value.newBuilder().setStringValue(((Date) v).toInstant().toString()).build();
    }
    if (v instanceof Optional) {
      return value(((Optional<?>) v).orElse(null), path, depth);
    }
    if (v instanceof Value) {
      return (Value) v;
    }
    if (v instanceof Struct) {
      return Value.newBuilder().setStructValue((Struct) v).build();
    }
    if (v instanceof ListValue) {
      return Value.newBuilder().setListValue((ListValue) v).build();
    }
    throw new IllegalArgumentException(
        path + ": a " + v.getClass().getName() + " has no JSON form (use a Map, List, String, Number, Boolean or null)");
  }
}
