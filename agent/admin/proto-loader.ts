import { join } from 'node:path';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { packageRoot } from '../kernel/index.js';
import { PROTO_LOADER_OPTIONS } from '../workload/index.js';
import type { ProtoGrpcType } from './gen/admin.js';
import type { AdminDefinition } from './gen/tether/admin/v1/Admin.js';

type AdminClientClass = ProtoGrpcType['tether']['admin']['v1']['Admin'];

/** The loaded admin API: the service definition for a server, the client class for a client. */
export interface AdminApi {
  readonly service: AdminDefinition;
  readonly Client: AdminClientClass;
}

/** proto/admin.proto, found from the package root (agent/ under vitest, build/agent/ compiled). */
export function adminProtoPath(): string {
  return join(packageRoot(), 'proto', 'admin.proto');
}

/**
 * Loads the .proto with the options its generated types were made with: the Workload API's
 * (`make proto` runs proto-loader-gen-types on both files with one set of flags), so the
 * handlers get the objects gen/ describes (enums by name, uint64 as a string, defaults filled).
 */
export function loadAdminApi(protoPath: string = adminProtoPath()): AdminApi {
  // The parsed definition is immutable and costs a few ms to build: one per proto file per process.
  const cached = loaded.get(protoPath);
  if (cached) return cached;
  const definition = loadSync(protoPath, { ...PROTO_LOADER_OPTIONS, includeDirs: [join(protoPath, '..')] });
  const api = (loadPackageDefinition(definition) as unknown as ProtoGrpcType).tether.admin.v1;
  const out = { service: api.Admin.service, Client: api.Admin };
  loaded.set(protoPath, out);
  return out;
}

const loaded = new Map<string, AdminApi>();
