import { SingleFlight } from '../../../src/cache';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  it('identical keys in flight share one run', async () => {
    const sf = new SingleFlight<string>();
    const d = deferred<string>();
    let runs = 0;
    const fn = (): Promise<string> => {
      runs++;
      return d.promise;
    };
    const all = Array.from({ length: 50 }, () => sf.run('k', fn));
    expect(runs).toBe(1);
    expect(sf.has('k')).toBe(true);
    d.resolve('result');
    expect(await Promise.all(all)).toEqual(Array(50).fill('result'));
    expect(sf.size).toBe(0);
    await sf.run('k', async () => 'again');
    expect(runs).toBe(1); // the second run used its own fn
  });

  it('different keys run separately', async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    const [a, b] = await Promise.all([sf.run('a', async () => ++runs), sf.run('b', async () => ++runs)]);
    expect(new Set([a, b])).toEqual(new Set([1, 2]));
  });

  it('a failure reaches every waiter and clears the key', async () => {
    const sf = new SingleFlight<string>();
    const d = deferred<string>();
    const waiters = Array.from({ length: 5 }, () => sf.run('k', () => d.promise));
    d.reject(new Error('backend down'));
    for (const w of waiters) await expect(w).rejects.toThrow('backend down');
    expect(sf.has('k')).toBe(false);
    await expect(sf.run('k', async () => 'ok')).resolves.toBe('ok');
  });

  it('a synchronous throw is a rejection, and the key is cleared', async () => {
    const sf = new SingleFlight<string>();
    await expect(
      sf.run('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(sf.size).toBe(0);
  });

  it('a caller arriving after settlement starts a new run', async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    await sf.run('k', async () => ++runs);
    await sf.run('k', async () => ++runs);
    expect(runs).toBe(2);
  });
});
