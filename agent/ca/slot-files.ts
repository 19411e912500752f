import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { publicJwkOf, type JwtKey, type NewSlot, type X509Authority } from './authority.js';
import type { CaCertificate, CaRoot } from './ca-certificates.js';
import { CaError } from './errors.js';
import { keyTypeOf, type CaKeyType } from './key-type.js';
import type { Manifest } from './manifest.js';
import { isErrno, readStateFile, writeStateFile, type StateFileKind } from './state-files.js';

/**
 * The files of one slot in the CA directory, and their checks on load: a certificate must be a
 * CA, its key must be the key of that certificate and of the type the manifest records, an
 * intermediate must be issued by its root. Any mismatch is CORRUPT_STATE naming the file.
 *   x509-<id>.root.crt (0644), x509-<id>.root.key (0600), x509-<id>.intermediate.{crt,key}
 *   jwt-<kid>.key (0600)
 * An upstream slot has no root.key: its root.crt is a copy of the shared root's certificate, whose
 * key stays where `ca.upstream.keyFile` keeps it.
 */
export function slotFileNames(kind: 'x509' | 'jwt', id: string, intermediate: boolean, upstream = false): string[] {
  if (kind === 'jwt') return [`jwt-${id}.key`];
  const parts = intermediate || upstream ? ['root', 'intermediate'] : ['root'];
  return parts.flatMap((p) => [`x509-${id}.${p}.crt`, `x509-${id}.${p}.key`])
    .filter((name) => !(upstream && name === `x509-${id}.root.key`));
}

export async function writeSlotFiles(dir: string, slot: NewSlot): Promise<void> {
  if ('jwt' in slot) {
    await writeStateFile(join(dir, `jwt-${slot.jwt.id}.key`), pkcs8Pem(slot.jwt.privateKey), { kind: 'jwt-key', mode: 0o600 });
    return;
  }
  const { id, root, intermediate, upstream } = slot.x509;
  for (const [part, ca] of [['root', root], ['intermediate', intermediate]] as const) {
    if (ca === undefined) continue;
    await writeStateFile(join(dir, `x509-${id}.${part}.crt`), ca.cert.toString(), { kind: 'ca-cert', mode: 0o644 });
    if (ca.privateKey === undefined || (upstream && part === 'root')) continue; // the upstream root's key is never written here
    await writeStateFile(join(dir, `x509-${id}.${part}.key`), pkcs8Pem(ca.privateKey), { kind: 'ca-key', mode: 0o600 });
  }
}

/** Every file the slot could have; absent ones are fine (a crash may have removed some already). */
export async function removeSlotFiles(dir: string, kind: 'x509' | 'jwt', id: string): Promise<void> {
  for (const name of slotFileNames(kind, id, true)) {
    await unlink(join(dir, name)).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw new CaError('STATE_IO', `cannot remove ${join(dir, name)}`, { cause: err });
    });
  }
}

export async function loadX509Authority(dir: string, entry: Manifest['x509'][number]): Promise<X509Authority> {
  const root: CaRoot = entry.upstream
    ? await loadCertificateOnly(dir, `x509-${entry.id}.root`)
    : await loadCertificate(dir, `x509-${entry.id}.root`, entry.keyType);
  const withIntermediate = entry.intermediate || entry.upstream;
  const intermediate = withIntermediate ? await loadCertificate(dir, `x509-${entry.id}.intermediate`, entry.keyType) : undefined;
  if (intermediate && !(intermediate.cert.checkIssued(root.cert) && intermediate.cert.verify(root.cert.publicKey))) {
    const path = join(dir, `x509-${entry.id}.intermediate.crt`);
    throw new CaError('CORRUPT_STATE', `${path} was not issued by the root of CA ${entry.id}`, { path });
  }
  const validity = entry.upstream && intermediate !== undefined ? intermediate.cert : root.cert;
  return {
    id: entry.id, keyType: entry.keyType, root, intermediate, upstream: entry.upstream, lifecycle: entry.lifecycle,
    notBefore: new Date(validity.validFrom), notAfter: new Date(validity.validTo),
  };
}

export async function loadJwtKey(dir: string, entry: Manifest['jwt'][number]): Promise<JwtKey> {
  const privateKey = await loadKey(join(dir, `jwt-${entry.id}.key`), 'jwt-key', entry.keyType);
  return { ...entry, privateKey, publicJwk: publicJwkOf(privateKey) };
}

/** An upstream slot's copy of the shared root: a CA certificate, no key. */
async function loadCertificateOnly(dir: string, base: string): Promise<CaRoot> {
  const certPath = join(dir, `${base}.crt`);
  const cert = await readCertificate(certPath);
  if (!cert.ca) throw new CaError('CORRUPT_STATE', `${certPath} is not a CA certificate`, { path: certPath });
  return { der: cert.raw, cert, privateKey: undefined };
}

async function readCertificate(certPath: string): Promise<X509Certificate> {
  const pem = await requireFile(certPath, 'ca-cert');
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new CaError('CORRUPT_STATE', `${certPath} does not hold an X.509 certificate`, { cause: err, path: certPath });
  }
}

async function loadCertificate(dir: string, base: string, keyType: CaKeyType): Promise<CaCertificate> {
  const certPath = join(dir, `${base}.crt`);
  const keyPath = join(dir, `${base}.key`);
  const cert = await readCertificate(certPath);
  const privateKey = await loadKey(keyPath, 'ca-key', keyType);
  if (!cert.ca || !cert.checkPrivateKey(privateKey)) {
    throw new CaError('CORRUPT_STATE', `${keyPath} is not the key of the CA certificate ${certPath}`, { path: keyPath });
  }
  return { der: cert.raw, cert, privateKey };
}

async function loadKey(path: string, kind: StateFileKind, keyType: CaKeyType): Promise<KeyObject> {
  const pem = await requireFile(path, kind);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new CaError('CORRUPT_STATE', `${path} does not hold a private key`, { cause: err, path });
  }
  const found = keyTypeOf(key);
  if (found !== keyType) {
    throw new CaError('CORRUPT_STATE', `${path} holds a ${found ?? 'foreign'} key where the manifest records ${keyType}`, { path });
  }
  return key;
}

async function requireFile(path: string, kind: StateFileKind): Promise<Buffer> {
  const payload = await readStateFile(path, kind);
  if (payload === undefined) throw new CaError('CORRUPT_STATE', `${path} is missing, but the manifest names it`, { path });
  return payload;
}

function pkcs8Pem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}
