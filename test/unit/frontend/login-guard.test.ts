import { LoginGuard } from '../../../src/frontend/login-guard';

function setup(maxAddresses?: number) {
  const clock = { t: 1_000 };
  const guard = new LoginGuard({ maxFailures: 3, windowMs: 1_000, blockMs: 5_000, maxAddresses }, () => clock.t);
  return { clock, guard };
}

describe('LoginGuard', () => {
  it('blocks an address at the max_failures-th failure within the window, for block_ms', () => {
    const { clock, guard } = setup();
    expect(guard.failed('a')).toBe(false);
    expect(guard.failed('a')).toBe(false);
    expect(guard.blockedFor('a')).toBe(0);
    expect(guard.failed('a')).toBe(true);
    expect(guard.blockedFor('a')).toBe(5_000);
    expect(guard.blockedFor('b')).toBe(0); // other addresses are not affected
    clock.t += 4_999;
    expect(guard.blockedFor('a')).toBe(1);
    clock.t += 1;
    expect(guard.blockedFor('a')).toBe(0);
  });

  it('counts failures within one window only', () => {
    const { clock, guard } = setup();
    guard.failed('a');
    guard.failed('a');
    clock.t += 1_000; // the window has passed: counting starts again
    expect(guard.failed('a')).toBe(false);
    expect(guard.failed('a')).toBe(false);
    expect(guard.failed('a')).toBe(true);
  });

  it('a success clears the failures, but not a block in force', () => {
    const { guard } = setup();
    guard.failed('a');
    guard.failed('a');
    guard.succeeded('a');
    expect(guard.failed('a')).toBe(false);
    guard.failed('b');
    guard.failed('b');
    guard.failed('b');
    guard.succeeded('b');
    expect(guard.blockedFor('b')).toBe(5_000);
  });

  it('keeps memory bounded: past maxAddresses the oldest finished entries go first', () => {
    const { clock, guard } = setup(100);
    for (let i = 0; i < 1_000; i++) {
      guard.failed(`10.0.${i >> 8}.${i & 255}`);
      clock.t += 10;
    }
    expect(guard.tracked).toBeLessThanOrEqual(100);
    // A blocked address survives while younger, finished ones exist to drop.
    for (let i = 0; i < 3; i++) guard.failed('blocked');
    for (let i = 0; i < 50; i++) guard.failed(`x${i}`);
    expect(guard.blockedFor('blocked')).toBeGreaterThan(0);
  });
});
