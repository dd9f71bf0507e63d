/**
 * deploy/gatehouse.service: the settings the lifecycle depends on, and a clean `systemd-analyze verify`. Where that
 * tool is missing, every key is checked against the keys systemd knows instead (a typo would otherwise be ignored
 * by systemd with only a log line).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { configSchema } from '../../../src/config';

const UNIT = path.join(__dirname, '..', '..', '..', 'deploy', 'gatehouse.service');

type Unit = Map<string, Map<string, string[]>>;

/** Sections → key → values in order (keys such as SystemCallFilter may repeat). */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      return;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`line ${i + 1} is neither a section, a comment nor KEY=VALUE: ${raw}`);
    section.set(kv[1]!, [...(section.get(kv[1]!) ?? []), kv[2]!]);
  });
  return unit;
}

/** The keys this unit may use, per section (systemd.unit(5), systemd.service(5), systemd.exec(5), systemd.kill(5)). */
const KNOWN: Record<string, string[]> = {
  Unit: ['Description', 'Documentation', 'After', 'Wants', 'Requires', 'Before', 'StartLimitIntervalSec', 'StartLimitBurst'],
  Service: [
    'Type', 'User', 'Group', 'EnvironmentFile', 'Environment', 'ExecStart', 'ExecStartPre', 'ExecReload', 'KillSignal',
    'KillMode', 'TimeoutStopSec', 'TimeoutStartSec', 'Restart', 'RestartSec', 'RestartPreventExitStatus', 'LimitNOFILE',
    'NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables',
    'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectClock', 'ProtectHostname', 'ProtectProc',
    'RestrictNamespaces', 'RestrictRealtime', 'RestrictSUIDSGID', 'LockPersonality', 'RemoveIPC', 'MemoryDenyWriteExecute',
    'RestrictAddressFamilies', 'SystemCallArchitectures', 'SystemCallFilter', 'SystemCallErrorNumber',
    'CapabilityBoundingSet', 'AmbientCapabilities', 'UMask', 'ReadOnlyPaths', 'ReadWritePaths',
  ],
  Install: ['WantedBy'],
};

const unit = parseUnit(fs.readFileSync(UNIT, 'utf8'));
const one = (section: string, key: string): string | undefined => {
  const values = unit.get(section)?.get(key);
  if (values !== undefined && values.length !== 1) throw new Error(`${key} is set ${values.length} times`);
  return values?.[0];
};

/** systemd time spans as this unit writes them: 45s, 2min, 500ms, or bare seconds. */
function spanMs(s: string): number {
  const m = /^([0-9]+)(ms|s|min)?$/.exec(s);
  if (!m) throw new Error(`unexpected time span ${s}`);
  return Number(m[1]) * ({ ms: 1, s: 1000, min: 60_000 } as Record<string, number>)[m[2] ?? 's']!;
}

describe('deploy/gatehouse.service', () => {
  it('has only [Unit], [Service] and [Install], and only keys systemd knows', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    for (const [section, keys] of unit) {
      for (const key of keys.keys()) expect(`${section}.${key}`).toBe(KNOWN[section]!.includes(key) ? `${section}.${key}` : 'a known key');
    }
  });

  it('runs serve on the system config as a simple service, reloads with SIGHUP, stops with SIGTERM', () => {
    expect(one('Service', 'Type')).toBe('simple');
    expect(one('Service', 'ExecStart')).toBe('/usr/bin/gatehouse serve --config /etc/gatehouse/gatehouse.yaml');
    expect(one('Service', 'ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Service', 'KillSignal')).toBe('SIGTERM');
    // A configuration error (exit 2) is not worth restarting for.
    expect(one('Service', 'RestartPreventExitStatus')).toBe('2');
    expect(one('Install', 'WantedBy')).toBe('multi-user.target');
  });

  it('gives in-flight queries their whole shutdown timeout before SIGKILL', () => {
    const shutdownMs = configSchema.parse({ writer: 'w:9000' }).lifecycle.shutdown_timeout_ms;
    expect(spanMs(one('Service', 'TimeoutStopSec')!)).toBeGreaterThan(shutdownMs);
  });

  it('runs as a dedicated unprivileged user, hardened', () => {
    expect(one('Service', 'User')).toBe('gatehouse');
    expect(one('Service', 'Group')).toBe('gatehouse');
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['PrivateDevices', 'yes'],
      ['CapabilityBoundingSet', ''],
      ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
    ]) {
      expect(`${key}=${one('Service', key!)}`).toBe(`${key}=${value}`);
    }
    // Node's JIT needs writable-then-executable memory.
    expect(one('Service', 'MemoryDenyWriteExecute')).toBe('no');
    // One descriptor per client and per pooled backend connection: the default 1024 is far too low for a proxy.
    expect(Number(one('Service', 'LimitNOFILE'))).toBeGreaterThanOrEqual(65536);
  });

  const tool = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  const haveTool = tool.status === 0;
  it(
    haveTool
      ? 'passes systemd-analyze verify with no warning (ExecStart pointed at a stand-in binary)'
      : 'systemd-analyze is not installed: the known-keys check above stands in for it',
    () => {
      if (!haveTool) {
        expect(tool.error ?? tool.status).toBeTruthy();
        return;
      }
      // verify insists that ExecStart's binary exists; /usr/bin/gatehouse is only there after an install.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-unit-'));
      try {
        const bin = path.join(dir, 'gatehouse');
        fs.writeFileSync(bin, '#!/bin/sh\n', { mode: 0o755 });
        const file = path.join(dir, 'gatehouse.service');
        fs.writeFileSync(file, fs.readFileSync(UNIT, 'utf8').split('/usr/bin/gatehouse').join(bin));
        const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
        expect({ status: r.status, stderr: r.stderr, stdout: r.stdout }).toEqual({ status: 0, stderr: '', stdout: '' });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
