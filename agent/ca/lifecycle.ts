import type { CaKeyType } from './key-type.js';

/**
 * The life of a signing key (an X.509 CA or a JWT key), one tag at a time:
 * prepared (published in the bundle, signs nothing yet) → active (signs) → retiring (published,
 * signs nothing, until the last credential it signed has expired) → retired (out of the bundle).
 * Prepared first and retired last are what make a rotation overlap: a peer always holds the
 * authority of every credential in circulation.
 */
export type Lifecycle =
  | { readonly state: 'prepared'; readonly preparedAt: Date }
  | { readonly state: 'active'; readonly preparedAt: Date; readonly activatedAt: Date; readonly maxIssuedTtlSeconds: number }
  | {
    readonly state: 'retiring'; readonly preparedAt: Date; readonly activatedAt: Date; readonly activeUntil: Date;
    readonly maxIssuedTtlSeconds: number;
  }
  | { readonly state: 'retired'; readonly preparedAt: Date; readonly retiredAt: Date };

export type SlotState = Lifecycle['state'];

/** What every slot has: X509Authority and JwtKey add their key material. */
export interface Slot {
  /** Random hex: a CA's id, a JWT key's kid; names its files. */
  readonly id: string;
  readonly keyType: CaKeyType;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly lifecycle: Lifecycle;
}

/** Published in the bundle: every slot but the retired. */
export function isPublished(slot: Slot): boolean {
  return slot.lifecycle.state !== 'retired';
}

export function activated(life: Lifecycle, now: Date): Lifecycle {
  if (life.state !== 'prepared') throw new Error(`cannot activate a ${life.state} slot`);
  return { state: 'active', preparedAt: life.preparedAt, activatedAt: now, maxIssuedTtlSeconds: 0 };
}

export function steppedDown(life: Lifecycle, now: Date): Lifecycle {
  if (life.state !== 'active') throw new Error(`cannot step down a ${life.state} slot`);
  return { ...life, state: 'retiring', activeUntil: now };
}

export function retired(life: Lifecycle, now: Date): Lifecycle {
  if (life.state === 'retired' || life.state === 'active') throw new Error(`cannot retire a ${life.state} slot`);
  return { state: 'retired', preparedAt: life.preparedAt, retiredAt: now };
}

/** The lifecycle with a longer issued TTL recorded, or the same object when it is no longer. */
export function withIssuedTtl(life: Lifecycle, ttlSeconds: number): Lifecycle {
  if (life.state !== 'active' || ttlSeconds <= life.maxIssuedTtlSeconds) return life;
  return { ...life, maxIssuedTtlSeconds: ttlSeconds };
}

/**
 * When a slot may leave the bundle: once the last credential it signed has expired. That is its
 * last moment as signer plus the longest TTL it issued, and never later than its own notAfter
 * (credentials are clipped to their issuer's). A prepared slot signed nothing; it leaves only
 * once it has expired unused (it can no longer be activated).
 */
export function retireAt(slot: Slot): Date | undefined {
  const life = slot.lifecycle;
  switch (life.state) {
    case 'prepared':
      return slot.notAfter;
    case 'active':
    case 'retired':
      return undefined;
    case 'retiring': {
      const lastExpiry = life.activeUntil.getTime() + life.maxIssuedTtlSeconds * 1000;
      return new Date(Math.min(lastExpiry, slot.notAfter.getTime()));
    }
    default: {
      const never: never = life;
      return never;
    }
  }
}

/** SPIRE's schedule (pkg/server/ca/manager.go): prepare the next at 1/2 of the active's life, activate it at 5/6. */
export function rotationTimes(active: Slot): { readonly prepareAt: Date; readonly activateAt: Date } {
  const start = active.notBefore.getTime();
  const life = active.notAfter.getTime() - start;
  return { prepareAt: new Date(start + life / 2), activateAt: new Date(start + (life * 5) / 6) };
}

export interface MaintenancePlan {
  readonly prepare: boolean;
  readonly activate: boolean;
  readonly retire: readonly string[];
}

/**
 * What the slots of one kind need at `now`. No usable active slot (none, or expired) means
 * prepare (unless a usable one is prepared) and activate at once; an expired prepared slot is
 * retired, never activated.
 */
export function planMaintenance(slots: readonly Slot[], now: Date): MaintenancePlan {
  const t = now.getTime();
  const usable = (s: Slot): boolean => s.notAfter.getTime() > t;
  const active = slots.find((s) => s.lifecycle.state === 'active');
  const prepared = slots.find((s) => s.lifecycle.state === 'prepared' && usable(s));
  const retire = slots.filter((s) => {
    const at = retireAt(s);
    return at !== undefined && at.getTime() <= t;
  }).map((s) => s.id);
  if (!active || !usable(active)) return { prepare: !prepared, activate: true, retire };
  const { prepareAt, activateAt } = rotationTimes(active);
  const activate = t >= activateAt.getTime();
  return { prepare: !prepared && (activate || t >= prepareAt.getTime()), activate, retire };
}
