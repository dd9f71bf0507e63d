/** The serve command's cache flags: names, the FlagValues keys commander gives them, help naming the config keys. */
import { buildProgram } from '../../../bin/cli';
import { loadConfig, type FlagValues } from '../../../src/config';

function serveOption(flag: string) {
  const serve = buildProgram().commands.find((c) => c.name() === 'serve')!;
  return serve.options.find((o) => o.long === flag);
}

describe('gatehouse serve cache flags', () => {
  it.each<[string, keyof FlagValues, string[]]>([
    ['--redis', 'redis', ['config: cache.redis.url', 'cache.store', 'cache.enabled', 'url_env']],
    ['--cache-ttl', 'cacheTtl', ['config: cache.ttl_seconds', 'cache.enabled']],
  ])('%s arrives as flags.%s and its help names the config keys', (flag, key, inHelp) => {
    const option = serveOption(flag)!;
    expect(option.attributeName()).toBe(key);
    expect(option.required).toBe(true); // takes a value
    for (const text of inHelp) expect(option.description).toContain(text);
  });
});

it('parsed flags load into a cache configuration', async () => {
  const program = buildProgram();
  const serve = program.commands.find((c) => c.name() === 'serve')!;
  let flags: FlagValues | undefined;
  serve.action((opts: FlagValues) => {
    flags = opts; // instead of starting the proxy
  });
  await program.parseAsync(['serve', '--writer', 'w:9000', '--redis', 'redis://:pw@r:6379/1', '--cache-ttl', '30'], { from: 'user' });
  expect(flags).toEqual({ writer: 'w:9000', redis: 'redis://:pw@r:6379/1', cacheTtl: '30' });
  expect(loadConfig({ flags: flags!, env: {} }).cache).toMatchObject({
    enabled: true,
    store: 'redis',
    ttl_seconds: 30,
    redis: { url: 'redis://:pw@r:6379/1' },
  });
});
