/**
 * JSON values as google.protobuf.Struct, in the object shape proto-loader uses with our options
 * (proto-options.ts): the well-known types come from protobufjs with camelCase field names
 * (stringValue, structValue ...), the oneof `kind` names the one set, enums are strings.
 * ValidateJWTSVID answers with a token's claims this way; WorkloadClient reads them back.
 */
import type { ListValue__Output } from './gen/google/protobuf/ListValue.js';
import type { Struct, Struct__Output } from './gen/google/protobuf/Struct.js';
import type { Value, Value__Output } from './gen/google/protobuf/Value.js';
import { WorkloadError } from './errors.js';

export function toStruct(object: Readonly<Record<string, unknown>>): Struct {
  // No prototype: a claim named "__proto__" is a field like any other.
  const fields = Object.create(null) as Record<string, Value>;
  for (const [key, value] of Object.entries(object)) fields[key] = toValue(value, key);
  return { fields };
}

function toValue(value: unknown, path: string): Value {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  switch (typeof value) {
    case 'string': return { stringValue: value };
    case 'boolean': return { boolValue: value };
    case 'number':
      // JSON has no NaN or Infinity, and a Struct carries JSON.
      if (!Number.isFinite(value)) throw new WorkloadError('INVALID_TOKEN', `claim ${path} is not a JSON number`);
      return { numberValue: value };
    case 'object':
      if (Array.isArray(value)) return { listValue: { values: value.map((v, i) => toValue(v, `${path}[${i}]`)) } };
      return { structValue: toStruct(value as Record<string, unknown>) };
    default:
      throw new WorkloadError('INVALID_TOKEN', `claim ${path} is not a JSON value (${typeof value})`);
  }
}

/** A decoded Struct back to plain JSON (the inverse of toStruct for any JSON object). */
export function fromStruct(struct: Struct__Output | null | undefined): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = fromValue(value);
  return out;
}

function fromValue(value: Value__Output): unknown {
  switch (value.kind) {
    case 'stringValue': return value.stringValue;
    case 'numberValue': return value.numberValue;
    case 'boolValue': return value.boolValue;
    case 'structValue': return fromStruct(value.structValue);
    case 'listValue': return fromList(value.listValue);
    case 'nullValue':
    case undefined: // a Value with no kind set: proto3 reads it as null
      return null;
    default: {
      const never: never = value.kind;
      throw new WorkloadError('BAD_RESPONSE', `google.protobuf.Value of unknown kind ${String(never)}`);
    }
  }
}

function fromList(list: ListValue__Output | null | undefined): unknown[] {
  return (list?.values ?? []).map(fromValue);
}
