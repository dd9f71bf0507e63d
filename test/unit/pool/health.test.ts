/**
 * HealthMonitor's ban logic driven by passive reports only (no check is started, so no socket is
 * opened): thresholds, reasons, events, ban expiry, backoff doubling and its cap. The active checks
 * are covered against real servers in test/integration/health.test.ts.
 */
import {
  DEFAULT_REPLICA_DELAY_QUERY,
  HealthMonitor,
  type BackendStatus,
  type BackendTarget,
  type HealthOptions,
  type UnbanCause,
} from '../../../src/pool';

const W: BackendTarget = { name: 'writer', host: '127.0.0.1', port: 9000 };
const R1: BackendTarget = { name: 'reader1', host: '127.0.0.1', port: 9001 };

const OPTS: HealthOptions = {
  intervalMs: 200,
  timeoutMs: 500,
  failuresToBan: 3,
  banMs: 1_000,
  maxBanMs: 3_000,
  maxReplicaDelaySeconds: null,
  replicaDelayQuery: DEFAULT_REPLICA_DELAY_QUERY,
};

function monitor(over: Partial<HealthOptions> = {}): HealthMonitor {
  return new HealthMonitor(
    [
      { target: W, role: 'writer', weight: 1 },
      { target: R1, role: 'reader', weight: 2 },
    ],
    () => ({ user: 'u', password: 'p' }),
    { ...OPTS, ...over },
  );
}

function recorder(h: HealthMonitor): { bans: BackendStatus[]; unbans: [BackendStatus, UnbanCause][] } {
  const got = { bans: [] as BackendStatus[], unbans: [] as [BackendStatus, UnbanCause][] };
  h.on('ban', (s) => got.bans.push(s));
  h.on('unban', (s, cause) => got.unbans.push([s, cause]));
  return got;
}

afterEach(() => {
  jest.useRealTimers();
});

describe('HealthMonitor (passive reports)', () => {
  test('initial status: every backend healthy, nothing known yet', () => {
    const h = monitor();
    expect(h.status()).toEqual([
      {
        name: 'writer', address: '127.0.0.1:9000', role: 'writer', healthy: true, banned: false, banReason: null,
        bannedUntil: null, consecutiveFailures: 0, lastCheckMs: null, replicaDelaySeconds: null, lagging: false,
        outstanding: 0, weight: 1,
      },
      {
        name: 'reader1', address: '127.0.0.1:9001', role: 'reader', healthy: true, banned: false, banReason: null,
        bannedUntil: null, consecutiveFailures: 0, lastCheckMs: null, replicaDelaySeconds: null, lagging: false,
        outstanding: 0, weight: 2,
      },
    ]);
    expect(h.isAvailable(R1)).toBe(true);
    expect(h.isAvailable({ name: 'unknown', host: 'x', port: 1 })).toBe(true);
  });

  test('failuresToBan consecutive failures ban with a reason and a ban event', () => {
    const h = monitor();
    const got = recorder(h);
    h.reportFailure(R1, 'Gatehouse: no connection to reader1 (127.0.0.1:9001) as u: ECONNREFUSED');
    h.reportFailure(R1, 'Gatehouse: no connection to reader1 (127.0.0.1:9001) as u: ECONNREFUSED');
    expect(h.isAvailable(R1)).toBe(true);
    expect(h.status()[1]).toMatchObject({ healthy: false, banned: false, consecutiveFailures: 2 });
    const before = Date.now();
    h.reportFailure(R1, 'Gatehouse: no connection to reader1 (127.0.0.1:9001) as u: ECONNREFUSED');
    expect(h.isAvailable(R1)).toBe(false);
    expect(h.isBanned(R1)).toBe(true);
    expect(got.bans).toHaveLength(1);
    expect(got.bans[0]).toMatchObject({
      name: 'reader1',
      banned: true,
      banReason: '3 consecutive failures: no connection to reader1 (127.0.0.1:9001) as u: ECONNREFUSED',
      consecutiveFailures: 3,
    });
    expect(got.bans[0].bannedUntil).toBeGreaterThanOrEqual(before + 1_000);
    expect(got.bans[0].bannedUntil).toBeLessThanOrEqual(Date.now() + 1_000);
    // further failures while banned: no new event
    h.reportFailure(R1, 'again');
    expect(got.bans).toHaveLength(1);
    // the writer is untouched
    expect(h.isAvailable(W)).toBe(true);
    return h.close();
  });

  test('a success in between resets the count; it does not lift a ban', () => {
    const h = monitor();
    h.reportFailure(R1, 'a');
    h.reportFailure(R1, 'b');
    h.reportSuccess(R1);
    h.reportFailure(R1, 'c');
    h.reportFailure(R1, 'd');
    expect(h.isBanned(R1)).toBe(false);
    h.reportFailure(R1, 'e');
    expect(h.isBanned(R1)).toBe(true);
    h.reportSuccess(R1);
    expect(h.isBanned(R1)).toBe(true);
    return h.close();
  });

  test('without active checks a ban expires; failing again bans at once for twice as long, capped', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const h = monitor();
    const got = recorder(h);
    for (let i = 0; i < 3; i++) h.reportFailure(R1, 'boom');
    expect(got.bans[0].bannedUntil).toBe(1_000_000 + 1_000);
    jest.advanceTimersByTime(999);
    expect(h.isBanned(R1)).toBe(true);
    jest.advanceTimersByTime(1);
    expect(h.isBanned(R1)).toBe(false);
    expect(got.unbans.map(([s, c]) => [s.name, s.banned, c])).toEqual([['reader1', false, 'ban expired']]);
    // half-open: one more failure is enough
    h.reportFailure(R1, 'boom');
    expect(got.bans).toHaveLength(2);
    expect(got.bans[1].bannedUntil).toBe(Date.now() + 2_000);
    expect(got.bans[1].banReason).toBe('4 consecutive failures: boom');
    jest.advanceTimersByTime(2_000);
    h.reportFailure(R1, 'boom');
    expect(got.bans[2].bannedUntil).toBe(Date.now() + 3_000); // 4 s capped at maxBanMs
    jest.advanceTimersByTime(3_000);
    expect(h.isBanned(R1)).toBe(false);
    return h.close();
  });

  test('close() cancels ban timers; reports after close are ignored', async () => {
    jest.useFakeTimers();
    const h = monitor();
    const got = recorder(h);
    for (let i = 0; i < 3; i++) h.reportFailure(R1, 'boom');
    await h.close();
    jest.advanceTimersByTime(10_000);
    expect(got.unbans).toHaveLength(0);
    h.reportFailure(W, 'x');
    expect(h.status()[0].consecutiveFailures).toBe(0);
  });

  test('rejects bad options and duplicate names', () => {
    expect(() => monitor({ failuresToBan: 0 })).toThrow(RangeError);
    expect(() => monitor({ intervalMs: 0 })).toThrow(RangeError);
    expect(
      () =>
        new HealthMonitor(
          [
            { target: R1, role: 'reader', weight: 1 },
            { target: R1, role: 'reader', weight: 1 },
          ],
          () => ({ user: 'u', password: '' }),
          OPTS,
        ),
    ).toThrow(/twice/);
  });
});
