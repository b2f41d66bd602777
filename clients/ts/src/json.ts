/**
 * Free-form properties, traits and context → the JSON a
 * google.protobuf.Struct can carry, with JSON.stringify's rules (what
 * Segment's SDKs send): toJSON() is called (a Date becomes its ISO
 * string), undefined, functions and symbols are left out of objects and
 * become null in arrays, NaN and ±Infinity become null. A bigint becomes a
 * number when it is a safe integer, else its decimal string (Struct numbers
 * are doubles). A cycle is an error naming where it closes.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

export type { JsonObject, JsonValue };

/** What the generic calls take as properties, traits or context: any JSON-like object. */
export type Properties = { [key: string]: unknown };

/** Thrown for a value no JSON can hold; the message names the path (e.g. "properties.items[2]"). */
export class JsonValueError extends Error {}

/** Converts value (an object) into a JsonObject; path names it in errors. */
export function toJsonObject(value: unknown, path: string): JsonObject {
  if (value === undefined || value === null) return {};
  const v = convert(value, path, new Set());
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new JsonValueError(`${path} must be an object, got ${Array.isArray(v) ? "an array" : typeof value}`);
  }
  return v as JsonObject;
}

const SKIP = Symbol("skip");

function convert(value: unknown, path: string, seen: Set<object>): JsonValue | typeof SKIP {
  if (value !== null && typeof value === "object" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
    value = (value as { toJSON: (k: string) => unknown }).toJSON("");
  }
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : null;
    case "bigint":
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return SKIP;
  }
  if (value === null) return null;
  const obj = value as object;
  if (seen.has(obj)) throw new JsonValueError(`${path} refers back to itself (a cycle)`);
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const out: JsonValue[] = [];
      for (let i = 0; i < obj.length; i++) {
        const x = convert(obj[i], `${path}[${i}]`, seen);
        out.push(x === SKIP ? null : x);
      }
      return out;
    }
    if (obj instanceof Map || obj instanceof Set) {
      throw new JsonValueError(`${path} is a ${obj instanceof Map ? "Map" : "Set"}; use a plain object or an array`);
    }
    const out: JsonObject = {};
    for (const k of Object.keys(obj)) {
      const x = convert((obj as Record<string, unknown>)[k], `${path}.${k}`, seen);
      if (x !== SKIP) out[k] = x;
    }
    return out;
  } finally {
    seen.delete(obj);
  }
}
