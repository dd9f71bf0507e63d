import fc from 'fast-check';
import { LEGACY_SETTING_KINDS } from '../../../../src/protocol/packets/legacy-settings';
import type {
  ClientInfo,
  ClientInfoQuery,
  ClientPacket,
  ServerPacket,
  Setting,
} from '../../../../src/protocol/packets';

/**
 * fast-check generators of every packet as it exists at a given revision: a gated field is present
 * exactly when the revision has it. The gates are restated here as literal numbers (from
 * native-protocol.md §4, §6, §7), independently of src/protocol/revision.ts, so a wrong gate in the
 * codec makes decode(encode(x)) differ from x.
 */

const str = fc.string({ unit: 'grapheme', maxLength: 6 });
const ascii = fc.string({ maxLength: 8 });
const nat = fc.nat({ max: 2 ** 31 });
const u53 = fc.maxSafeNat();
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
/** A counter as readCount returns it: a number when exact, else a bigint. */
const count = fc.oneof(u53, fc.bigInt({ min: 1n << 53n, max: (1n << 64n) - 1n }));
const bytes = fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a));
const list = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T[]> => fc.array(a, { maxLength: 3 });

/** Sets `key` to a generated value when `on`, else leaves it out. */
function opt<T>(on: boolean, a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return on ? a : fc.constant(undefined);
}
function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export const settingWithFlags: fc.Arbitrary<Setting> = fc.record({
  name: str.filter((s) => s !== ''),
  value: str,
  flags: fc.nat({ max: 300 }),
});

const legacyNames = [...LEGACY_SETTING_KINDS.keys()];
export const legacySetting: fc.Arbitrary<Setting> = fc.constantFrom(...legacyNames).chain((name) => {
  const kind = LEGACY_SETTING_KINDS.get(name)!;
  const value =
    kind === 'varuint' ? u64.map(String) : kind === 'varint' ? fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map(String) : str;
  return value.map((v) => ({ name, value: v, flags: 0 }));
});

export function querySettings(rev: number): fc.Arbitrary<Setting[]> {
  return list(rev >= 54429 ? settingWithFlags : legacySetting);
}

export function clientInfo(rev: number): fc.Arbitrary<ClientInfo> {
  const full = fc
    .record({
      queryKind: fc.integer({ min: 1, max: 255 }),
      initialUser: str,
      initialQueryId: str,
      initialAddress: str,
      initialQueryStartTimeMicroseconds: opt(rev >= 54449, u64),
      interface: fc.constantFrom(1, 2, 3, 6, 7),
      tcpFields: fc.record({
        osUser: str,
        clientHostname: str,
        clientName: str,
        clientVersionMajor: nat,
        clientVersionMinor: nat,
        clientTcpProtocolVersion: nat,
        clientVersionPatch: opt(rev >= 54401, nat),
      }),
      httpFields: fc.record({
        httpMethod: fc.integer({ min: 0, max: 255 }),
        httpUserAgent: str,
        forwardedFor: opt(rev >= 54443, str),
        httpReferer: opt(rev >= 54447, str),
      }),
      quotaKey: opt(rev >= 54060, str),
      distributedDepth: opt(rev >= 54448, nat),
      openTelemetry: opt(
        rev >= 54442,
        fc.option(fc.record({ traceId: fc.uuid(), spanId: u64, traceState: str, traceFlags: fc.integer({ min: 0, max: 255 }) })),
      ),
      parallelReplicas: opt(
        rev >= 54453,
        fc.record({ collaborateWithInitiator: nat, countParticipatingReplicas: nat, numberOfCurrentReplica: nat }),
      ),
      script: opt(rev >= 54475, fc.tuple(nat, nat)),
      jwt: opt(rev >= 54476, fc.option(str)),
      clientAgent: opt(rev >= 54485, str),
    })
    .map(({ tcpFields, httpFields, script, ...rest }) => {
      const info: ClientInfoQuery = { ...rest };
      if (rest.interface === 1) info.tcp = clean({ ...tcpFields });
      if (rest.interface === 2) info.http = clean({ ...httpFields });
      if (script) [info.scriptQueryNumber, info.scriptLineNumber] = script;
      return clean(info);
    });
  return fc.oneof({ arbitrary: fc.constant<ClientInfo>({ queryKind: 0 }), weight: 1 }, { arbitrary: full, weight: 4 });
}

const INTERSERVER = ' INTERSERVER SECRET ';

export function clientPackets(rev: number): fc.Arbitrary<ClientPacket>[] {
  const arbs: fc.Arbitrary<ClientPacket>[] = [
    fc
      .record({
        clientName: str,
        versionMajor: nat,
        versionMinor: nat,
        revision: nat,
        database: str,
        user: str.filter((u) => u !== INTERSERVER),
        password: str,
      })
      .map((h) => ({ code: 0 as const, ...h })),
    fc
      .record({ clientName: str, database: str, cluster: str, salt: ascii, revision: nat })
      .map(({ cluster, salt, ...h }) => ({
        code: 0 as const,
        versionMajor: 1,
        versionMinor: 2,
        ...h,
        user: INTERSERVER,
        password: '',
        interserver: { cluster, salt },
      })),
    fc
      .record({
        queryId: str,
        clientInfo: opt(rev >= 54032, clientInfo(rev)),
        settings: querySettings(rev),
        externalRoles: opt(rev >= 54472, bytes),
        interserverSecretHash: opt(rev >= 54441, fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a))),
        stage: fc.integer({ min: 0, max: 5 }),
        compression: fc.boolean(),
        query: fc.string({ unit: 'grapheme', maxLength: 40 }),
        parameters: opt(rev >= 54459, list(settingWithFlags)),
      })
      .map((q) => clean({ code: 1 as const, ...q })),
    str.map((tableName) => ({ code: 2 as const, tableName, blockOffset: -1 })),
    fc.constant({ code: 3 as const }),
    fc.constant({ code: 4 as const }),
    list(fc.record({ database: str, table: str })).map((tables) => ({ code: 5 as const, tables })),
    fc.constant({ code: 6 as const }),
    list(fc.uuid()).map((uuids) => ({ code: 8 as const, uuids })),
  ];
  if (rev >= 54429) arbs.push(str.map((tableName) => ({ code: 7 as const, tableName, blockOffset: -1 })));
  if (rev >= 54466) {
    arbs.push(fc.constant({ code: 11 as const }));
    arbs.push(bytes.map((signature) => ({ code: 12 as const, signature })));
  }
  return arbs;
}

/** The addendum (decoded with state.expectAddendum); at < 54458 it is empty. */
export function addendum(rev: number): fc.Arbitrary<ClientPacket> {
  return fc
    .record({
      quotaKey: opt(rev >= 54458, str),
      chunkedSend: opt(rev >= 54470, fc.constantFrom('chunked', 'notchunked')),
      chunkedRecv: opt(rev >= 54470, fc.constantFrom('chunked', 'notchunked')),
      parallelReplicasProtocolVersion: opt(rev >= 54471, nat),
    })
    .map((a) => clean({ code: -1 as const, ...a }));
}

export function serverPackets(rev: number): fc.Arbitrary<ServerPacket>[] {
  const exceptionItem = fc.record({ code: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), name: str, message: str, stackTrace: str });
  const dataCodes = [1, 7, 8, ...(rev >= 54406 ? [10] : []), ...(rev >= 54451 ? [14] : [])] as const;
  const arbs: fc.Arbitrary<ServerPacket>[] = [
    fc
      .record({
        serverName: str,
        versionMajor: nat,
        versionMinor: nat,
        revision: fc.integer({ min: rev, max: 2 ** 31 }), // gates are min(client, server revision)
        parallelReplicasProtocolVersion: opt(rev >= 54471, nat),
        timezone: opt(rev >= 54058, str),
        displayName: opt(rev >= 54372, str),
        versionPatch: opt(rev >= 54401, nat),
        chunkedSend: opt(rev >= 54470, fc.constantFrom('chunked', 'notchunked', 'chunked_optional', 'notchunked_optional')),
        chunkedRecv: opt(rev >= 54470, fc.constantFrom('chunked', 'notchunked', 'chunked_optional', 'notchunked_optional')),
        passwordComplexityRules: opt(rev >= 54461, list(fc.record({ pattern: str, message: str }))),
        nonce: opt(rev >= 54462, u64),
        serverSettings: opt(rev >= 54474, list(settingWithFlags)),
        queryPlanSerializationVersion: opt(rev >= 54477, nat),
      })
      .map((h) => clean({ code: 0 as const, ...h })),
    fc
      .record({ code: fc.constantFrom(...dataCodes), tableName: str })
      .map((d) => ({ ...d, blockOffset: -1 }) as ServerPacket),
    fc.array(exceptionItem, { minLength: 1, maxLength: 3 }).map((exceptions) => ({ code: 2 as const, exceptions })),
    fc
      .record({
        readRows: count,
        readBytes: count,
        totalRowsToRead: count,
        totalBytesToRead: opt(rev >= 54463, count),
        writtenRows: opt(rev >= 54420, count),
        writtenBytes: opt(rev >= 54420, count),
        elapsedNs: opt(rev >= 54460, count),
      })
      .map((p) => clean({ code: 3 as const, ...p })),
    fc.constant({ code: 4 as const }),
    fc.constant({ code: 5 as const }),
    fc
      .record({
        rows: count,
        blocks: count,
        bytes: count,
        appliedLimit: fc.boolean(),
        rowsBeforeLimit: count,
        calculatedRowsBeforeLimit: fc.boolean(),
        appliedAggregation: opt(rev >= 54469, fc.boolean()),
        rowsBeforeAggregation: opt(rev >= 54469, count),
      })
      .map((p) => clean({ code: 6 as const, ...p })),
    list(
      fc.record({ database: str, table: str, isReplicated: fc.boolean(), absoluteDelay: nat, isReadonly: fc.boolean() }).map((t) =>
        t.isReplicated
          ? clean({ ...t, isReadonly: rev >= 54467 ? t.isReadonly : undefined })
          : { database: t.database, table: t.table, isReplicated: false },
      ),
    ).map((tables) => ({ code: 9 as const, tables })),
    list(fc.uuid()).map((uuids) => ({ code: 12 as const, uuids })),
  ];
  if (rev >= 54410) arbs.push(fc.record({ tableName: str, columns: str }).map((t) => ({ code: 11 as const, ...t })));
  if (rev >= 54464) arbs.push(str.map((timezone) => ({ code: 17 as const, timezone })));
  if (rev >= 54466) arbs.push(bytes.map((challenge) => ({ code: 18 as const, challenge })));
  return arbs;
}
