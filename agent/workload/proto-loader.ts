import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { SpiffeWorkloadAPIDefinition } from './gen/SpiffeWorkloadAPI.js';
import type { ProtoGrpcType } from './gen/workload.js';
import { PROTO_LOADER_OPTIONS } from './proto-options.js';

/** The loaded Workload API: the service definition for a server, the client class for a client. */
export interface WorkloadApi {
  readonly service: SpiffeWorkloadAPIDefinition;
  readonly Client: ProtoGrpcType['SpiffeWorkloadAPI'];
}

/**
 * proto/workload.proto, found from the package root: the nearest directory above this file with
 * a package.json (agent/workload/ under vitest, build/agent/workload/ when compiled). The same
 * walk as kernel/'s packageRoot, kept here so that finding the .proto needs nothing of kernel/.
 */
export function workloadProtoPath(): string {
  const here = fileURLToPath(import.meta.url);
  let dir = dirname(here);
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${here}: cannot find proto/workload.proto`);
    dir = up;
  }
  return join(dir, 'proto', 'workload.proto');
}

/** Loads the .proto with the options the generated types were made with (proto-options.ts).
 * google/protobuf/struct.proto comes from protobufjs's bundled well-known types. */
export function loadWorkloadApi(protoPath: string = workloadProtoPath()): WorkloadApi {
  // The parsed definition is immutable and costs ~2 ms to build: one per proto file per process.
  const cached = loaded.get(protoPath);
  if (cached) return cached;
  const definition = loadSync(protoPath, { ...PROTO_LOADER_OPTIONS, includeDirs: [dirname(protoPath)] });
  const api = loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  const out = { service: api.SpiffeWorkloadAPI.service, Client: api.SpiffeWorkloadAPI };
  loaded.set(protoPath, out);
  return out;
}

const loaded = new Map<string, WorkloadApi>();
