import { backendReadiness, type BackendHealth } from '../../../src/metrics';

const up = (name: string, role: 'writer' | 'reader', extra: Partial<BackendHealth> = {}): BackendHealth => ({
  name,
  role,
  healthy: true,
  lastCheckMs: 1_000,
  ...extra,
});
const unchecked = { lastCheckMs: null } as const;
const failing = { healthy: false } as const;

describe('backendReadiness', () => {
  it('is ready when the writer and at least one reader answered their last health check', () => {
    expect(backendReadiness([up('w', 'writer'), up('r1', 'reader', failing), up('r2', 'reader')])).toEqual({ ready: true });
  });

  it('needs only the writer when no reader is configured (reads go to the writer)', () => {
    expect(backendReadiness([up('w', 'writer')])).toEqual({ ready: true });
    expect(backendReadiness([up('w', 'writer', unchecked)])).toEqual({
      ready: false,
      notReady: ['writer w: no health check answered yet'],
    });
  });

  it('lists the writer and the readers that keep it from being ready', () => {
    expect(
      backendReadiness([
        up('w', 'writer', failing),
        up('r1', 'reader', unchecked),
        up('r2', 'reader', failing),
        up('r3', 'reader', { lagging: true }),
      ]),
    ).toEqual({
      ready: false,
      notReady: [
        'writer w: failing its health checks',
        'no reader takes reads (r1: no health check answered yet; r2: failing its health checks; r3: replica delay too high)',
      ],
    });
  });

  it('requires every writer (one per cluster)', () => {
    expect(backendReadiness([up('a-w', 'writer'), up('b-w', 'writer', unchecked), up('r', 'reader')])).toEqual({
      ready: false,
      notReady: ['writer b-w: no health check answered yet'],
    });
  });

  it('is not ready with no backend at all', () => {
    expect(backendReadiness([])).toEqual({ ready: false, notReady: ['no backend configured'] });
  });
});
