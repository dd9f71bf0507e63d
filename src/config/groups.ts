/** Backend groups: the top-level writer/readers (group `default`) and the named `groups`, with resolved names. */

/** The group formed by the top-level writer and readers. */
export const DEFAULT_GROUP = 'default';

/** One backend as routing sees it. */
export interface BackendSpec {
  /** Unique over all groups: metric label and /status key. */
  readonly name: string;
  /** HOST:PORT */
  readonly address: string;
  /** Share of reads relative to the group's other readers (the writer's is 1). */
  readonly weight: number;
}

/** A writer and its readers. */
export interface BackendGroup {
  readonly name: string;
  readonly writer: BackendSpec;
  readonly readers: readonly BackendSpec[];
}

/** The name of a group's writer: `writer` in the default group, `GROUP.writer` in others. */
export function writerName(group: string): string {
  return group === DEFAULT_GROUP ? 'writer' : `${group}.writer`;
}

/** The name of a reader without its own: `reader1`… in the default group (as before groups), `GROUP.reader1`… else. */
export function readerName(group: string, index: number): string {
  return group === DEFAULT_GROUP ? `reader${index + 1}` : `${group}.reader${index + 1}`;
}

/** The shape backendGroups reads (a GatehouseConfig satisfies it). */
export interface GroupsSource {
  readonly writer: string;
  readonly readers: readonly BackendSpec[];
  readonly groups: Readonly<Record<string, { readonly writer: string; readonly readers: readonly BackendSpec[] }>>;
}

/** Every group, `default` first, then the named groups in file order. */
export function backendGroups(cfg: GroupsSource): BackendGroup[] {
  const group = (name: string, writer: string, readers: readonly BackendSpec[]): BackendGroup => ({
    name,
    writer: { name: writerName(name), address: writer, weight: 1 },
    readers: readers.map((r) => ({ ...r })),
  });
  return [
    group(DEFAULT_GROUP, cfg.writer, cfg.readers),
    ...Object.entries(cfg.groups).map(([name, g]) => group(name, g.writer, g.readers)),
  ];
}
