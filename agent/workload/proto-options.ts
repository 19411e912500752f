import type { Options } from '@grpc/proto-loader';

/**
 * How proto-loader turns Workload API messages into JS objects. The runtime loader
 * (proto-loader.ts) uses this object and `make proto` hands the same choices to
 * proto-loader-gen-types as flags (the Makefile's PROTO_LOADER_FLAGS), so the types in gen/
 * describe exactly the objects the handlers get; test/unit/workload/proto-gen.test.ts fails
 * when the two disagree or gen/ is stale.
 * - keepCase: field names as the standard spells them (spiffe_id, x509_svid_key).
 * - longs/enums as String: no Long objects, enum values by name (google.protobuf.NullValue).
 * - defaults: absent fields read as their proto3 default, so a handler never sees undefined.
 * - oneofs: google.protobuf.Value says which of its kinds is set.
 */
export const PROTO_LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const satisfies Options;

/** The proto-loader-gen-types flags that say what PROTO_LOADER_OPTIONS says. */
export function protoLoaderFlags(options: Options = PROTO_LOADER_OPTIONS): string[] {
  return Object.entries(options).flatMap(([name, value]: [string, unknown]) => {
    if (value === true) return [`--${name}`];
    if (value === false || value === undefined) return [];
    if (value === String || value === Number || value === Array) return [`--${name}=${(value as { name: string }).name}`];
    throw new Error(`proto loader option ${name} has no proto-loader-gen-types flag`);
  });
}
