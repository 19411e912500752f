import { z } from 'zod';
import { JWT_KID, X509_ID, type CaState } from './authority.js';
import { CaError } from './errors.js';
import { CA_KEY_TYPES, type CaKeyType } from './key-type.js';
import type { Lifecycle } from './lifecycle.js';

/**
 * The manifest (`ca/manifest.json`): which slots exist, in which state, since when. Key material
 * lives in one file per key beside it; the manifest is written last, so it is the commit point:
 * a slot exists once the manifest names it, and files it does not name are leftovers.
 */
export interface Manifest {
  readonly trustDomain: string;
  readonly x509: readonly {
    readonly id: string; readonly keyType: CaKeyType; readonly intermediate: boolean; readonly lifecycle: Lifecycle;
    /** Under the `ca.upstream` root (absent in manifests from before it: false). */
    readonly upstream: boolean;
  }[];
  readonly jwt: readonly {
    readonly id: string; readonly keyType: CaKeyType; readonly notBefore: Date; readonly notAfter: Date; readonly lifecycle: Lifecycle;
  }[];
}

const MANIFEST_VERSION = 1;
const time = z.iso.datetime().transform((s) => new Date(s));
const ttl = z.number().int().nonnegative();
const lifecycle = z.discriminatedUnion('state', [
  z.object({ state: z.literal('prepared'), preparedAt: time }),
  z.object({ state: z.literal('active'), preparedAt: time, activatedAt: time, maxIssuedTtlSeconds: ttl }),
  z.object({ state: z.literal('retiring'), preparedAt: time, activatedAt: time, activeUntil: time, maxIssuedTtlSeconds: ttl }),
  z.object({ state: z.literal('retired'), preparedAt: time, retiredAt: time }),
]);
const keyType = z.enum(CA_KEY_TYPES);
const schema = z.object({
  version: z.literal(MANIFEST_VERSION),
  trustDomain: z.string().min(1),
  x509: z.array(z.object({ id: z.string().regex(X509_ID), keyType, intermediate: z.boolean(), upstream: z.boolean().default(false), lifecycle })),
  jwt: z.array(z.object({ id: z.string().regex(JWT_KID), keyType, notBefore: time, notAfter: time, lifecycle })),
});

export function manifestOf(trustDomain: string, state: CaState): Manifest {
  return {
    trustDomain,
    x509: state.x509.map((a) => ({
      id: a.id, keyType: a.keyType, intermediate: a.intermediate !== undefined, upstream: a.upstream, lifecycle: a.lifecycle,
    })),
    jwt: state.jwt.map((k) => ({ id: k.id, keyType: k.keyType, notBefore: k.notBefore, notAfter: k.notAfter, lifecycle: k.lifecycle })),
  };
}

/** Pretty JSON (Dates as ISO strings): an operator reads it with `tail -n +2 manifest.json`. */
export function encodeManifest(manifest: Manifest): string {
  return `${JSON.stringify({ version: MANIFEST_VERSION, ...manifest }, null, 2)}\n`;
}

export function parseManifest(path: string, payload: Buffer): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new CaError('CORRUPT_STATE', `manifest ${path} is not JSON`, { cause: err, path });
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > MANIFEST_VERSION) {
    throw new CaError('UNSUPPORTED_STATE', `manifest ${path} is version ${version}; this agent reads ${MANIFEST_VERSION}`, { path });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${issue.path.join('.') || '(top)'}: ${issue.message}` : 'unknown shape';
    const message = `manifest ${path} does not have the shape this agent writes (${where})`;
    throw new CaError('CORRUPT_STATE', message, { cause: parsed.error, path });
  }
  const { version: _v, ...manifest } = parsed.data;
  const active = (slots: readonly { lifecycle: Lifecycle }[]): number => slots.filter((s) => s.lifecycle.state === 'active').length;
  if (active(manifest.x509) > 1 || active(manifest.jwt) > 1) {
    throw new CaError('CORRUPT_STATE', `manifest ${path} has more than one active authority of a kind`, { path });
  }
  return manifest;
}
