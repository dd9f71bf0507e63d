/**
 * ClientWatchdog (connections.idle_timeout_ms, connections.receive_timeout_ms) on a scripted session, with jest's fake
 * clock: when each limit fires, what resets it, what holds it off, and that a changed setting reaches it.
 */
import { ClientWatchdog, type ClientTimeoutSettings } from '../../../src/frontend/client-timeouts';

interface Script {
  busy: boolean;
  partial: boolean;
  paused: boolean;
  idle: number[];
  partials: number[];
}

function watch(settings: ClientTimeoutSettings) {
  const s: Script = { busy: false, partial: false, paused: false, idle: [], partials: [] };
  const current = { ...settings };
  const dog = new ClientWatchdog(
    {
      busy: () => s.busy,
      partialPacket: () => s.partial,
      readingPaused: () => s.paused,
      onIdle: (ms) => s.idle.push(ms),
      onPartialPacket: (ms) => s.partials.push(ms),
    },
    () => current,
  );
  dog.start();
  return { s, dog, current, fired: () => s.idle.length + s.partials.length };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

const IDLE = 10_000;
const RECV = 3_000;

test('an idle client is reported once idle_timeout_ms passed with no byte and no query', () => {
  const { s, dog } = watch({ idleTimeoutMs: IDLE, receiveTimeoutMs: RECV });
  jest.advanceTimersByTime(IDLE - 1);
  expect(s.idle).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(s.idle).toEqual([IDLE]);
  // Reported once: the session closes; nothing is scheduled after a report.
  jest.advanceTimersByTime(IDLE * 3);
  expect(s.idle).toEqual([IDLE]);
  dog.stop();
});

test('bytes and finished work restart the idle clock; a running query holds it', () => {
  const { s, dog } = watch({ idleTimeoutMs: IDLE, receiveTimeoutMs: RECV });
  jest.advanceTimersByTime(IDLE - 1_000);
  dog.read(Date.now());
  jest.advanceTimersByTime(IDLE - 1_000);
  expect(s.idle).toEqual([]);
  // A query runs for three idle periods, its client silent.
  s.busy = true;
  jest.advanceTimersByTime(IDLE * 3);
  expect(s.idle).toEqual([]);
  s.busy = false;
  const ended = Date.now();
  dog.active(ended);
  jest.advanceTimersByTime(IDLE - 1);
  expect(s.idle).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(s.idle).toEqual([IDLE]);
  dog.stop();
});

test('part of a packet, then silence: reported after receive_timeout_ms, counted from the last byte', () => {
  const { s, dog } = watch({ idleTimeoutMs: IDLE, receiveTimeoutMs: RECV });
  jest.advanceTimersByTime(5_000); // idle a while, then half a packet arrives
  s.partial = true;
  dog.read(Date.now());
  jest.advanceTimersByTime(RECV - 1);
  expect(s.partials).toEqual([]);
  dog.read(Date.now()); // one more byte (still not the whole packet)
  jest.advanceTimersByTime(RECV - 1);
  expect(s.partials).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(s.partials).toEqual([RECV]);
  expect(s.idle).toEqual([]);
  dog.stop();
});

test('a partial packet while the proxy itself stopped reading the client is not the client\'s silence', () => {
  const { s, dog } = watch({ idleTimeoutMs: IDLE, receiveTimeoutMs: RECV });
  s.partial = true;
  s.busy = true;
  dog.read(Date.now());
  s.paused = true;
  jest.advanceTimersByTime(RECV * 5);
  expect(s.partials).toEqual([]);
  s.paused = false;
  jest.advanceTimersByTime(RECV * 2 + 1);
  expect(s.partials).toEqual([RECV]);
  dog.stop();
});

test('a partial packet is bounded even while a query runs (an INSERT whose client stopped mid-block)', () => {
  const { s, dog } = watch({ idleTimeoutMs: IDLE, receiveTimeoutMs: RECV });
  s.busy = true;
  s.partial = true;
  dog.read(Date.now());
  jest.advanceTimersByTime(RECV);
  expect(s.partials).toEqual([RECV]);
  dog.stop();
});

test('0 turns a limit off; a new value (a reload) is picked up by an open connection', () => {
  const { s, dog, current } = watch({ idleTimeoutMs: 0, receiveTimeoutMs: 0 });
  jest.advanceTimersByTime(3_600_000);
  s.partial = true;
  jest.advanceTimersByTime(3_600_000);
  expect(s.idle.length + s.partials.length).toBe(0);
  current.receiveTimeoutMs = RECV;
  // Seen at the next look (at most a minute while both were off), then counted from the last byte (long ago).
  jest.advanceTimersByTime(60_000);
  expect(s.partials).toEqual([RECV]);
  dog.stop();
});

test('stop() cancels everything', () => {
  const { dog, fired } = watch({ idleTimeoutMs: IDLE, receiveTimeoutMs: RECV });
  dog.stop();
  jest.advanceTimersByTime(IDLE * 10);
  expect(fired()).toBe(0);
  expect(jest.getTimerCount()).toBe(0);
});

test('one timer per connection, whatever the traffic', () => {
  const { dog } = watch({ idleTimeoutMs: IDLE, receiveTimeoutMs: RECV });
  for (let i = 0; i < 1_000; i++) {
    dog.read(Date.now());
    dog.active(Date.now());
    jest.advanceTimersByTime(7);
  }
  expect(jest.getTimerCount()).toBe(1);
  dog.stop();
});
