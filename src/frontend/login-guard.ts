/**
 * Failed logins per client address (issue 6): after `maxFailures` failures within `windowMs`, logins from that address
 * are refused for `blockMs`, before any password is checked, so a password cannot be guessed at network speed. Memory
 * stays bounded: entries whose window and block have passed are dropped as new addresses arrive.
 */
export interface LoginGuardOptions {
  maxFailures: number;
  windowMs: number;
  blockMs: number;
  /** Addresses tracked at most (the oldest are dropped first when full). */
  maxAddresses?: number;
}

interface Tracked {
  windowStart: number;
  failures: number;
  blockedUntil: number;
}

export class LoginGuard {
  private readonly byAddress = new Map<string, Tracked>();
  private readonly maxAddresses: number;

  constructor(
    private readonly o: LoginGuardOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.maxAddresses = o.maxAddresses ?? 100_000;
  }

  /** Milliseconds until `address` may try again; 0 when it may now. */
  blockedFor(address: string): number {
    const t = this.byAddress.get(address);
    if (t === undefined) return 0;
    return Math.max(0, t.blockedUntil - this.now());
  }

  /** A failed login from `address`; true when it is now blocked. */
  failed(address: string): boolean {
    const now = this.now();
    let t = this.byAddress.get(address);
    if (t === undefined || now - t.windowStart >= this.o.windowMs) {
      if (t === undefined) this.makeRoom(now);
      t = { windowStart: now, failures: 0, blockedUntil: t?.blockedUntil ?? 0 };
      this.byAddress.delete(address);
      this.byAddress.set(address, t);
    }
    t.failures++;
    if (t.failures >= this.o.maxFailures) {
      t.blockedUntil = now + this.o.blockMs;
      t.failures = 0;
      t.windowStart = now;
      return true;
    }
    return false;
  }

  /** A successful login clears the address's failures. */
  succeeded(address: string): void {
    const t = this.byAddress.get(address);
    if (t !== undefined && t.blockedUntil <= this.now()) this.byAddress.delete(address);
  }

  get tracked(): number {
    return this.byAddress.size;
  }

  private makeRoom(now: number): void {
    if (this.byAddress.size < this.maxAddresses) return;
    // Insertion order = age: drop finished entries from the oldest, then the oldest outright if still full.
    for (const [addr, t] of this.byAddress) {
      if (this.byAddress.size < this.maxAddresses) return;
      if (now - t.windowStart >= this.o.windowMs && t.blockedUntil <= now) this.byAddress.delete(addr);
    }
    while (this.byAddress.size >= this.maxAddresses) this.byAddress.delete(this.byAddress.keys().next().value as string);
  }
}
