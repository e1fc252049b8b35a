import { BackstopError, type ErrorCode } from '@backstop/shared'
import { describeFailure, succeeded, type Exec, type ExecResult } from '../exec/exec.ts'

/**
 * The ZFS CLI as Backstop drives it. zfs-fuse 0.7 (what runs on the build machine) and OpenZFS 2.x differ in
 * what they accept, so nothing here assumes one of them: `probeZfsCapabilities` reads the usage text once and
 * the argv builders pick the form each CLI understands (snapshot-anchors.md §6, env-feasibility.md §5).
 */
export interface ZfsCapabilities {
  /** `zfs list -p` (exact numbers). zfs-fuse lacks it: `zfs get -Hp` is then the only parsable path. */
  readonly parsableList: boolean
  /** `zfs holds -H`. zfs-fuse prints a usage line for `holds` but fails (pyzfs.py missing): userrefs instead. */
  readonly holdsCommand: boolean
  /** `zfs list -j` (OpenZFS ≥ 2.3). Detected for completeness; the tab format is used either way. */
  readonly json: boolean
  /** `zfs snapshot a@x b@x` in one atomic call. zfs-fuse takes one name (plus -r). */
  readonly multiSnapshot: boolean
  /** `zfs destroy ds@a,b,c`. zfs-fuse destroys one snapshot per call (or one name with -r). */
  readonly batchDestroy: boolean
  /**
   * `zfs receive -s` and `zfs send -t <token>`: a cut transfer resumes where it stopped. zfs-fuse has neither, so
   * there a cut transfer starts again from the base on the next run.
   */
  readonly resumable: boolean
  /** `zfs receive -u`: the replica stays unmounted. zfs-fuse lacks it: the receive root gets mountpoint=none. */
  readonly receiveNoMount: boolean
  /** `zfs receive -o property=value` (OpenZFS ≥ 0.8): received datasets get `canmount=noauto`. */
  readonly receiveProps: boolean
  /** `zfs send -c`: blocks travel as compressed on disk. */
  readonly compressedSend: boolean
  /** `zfs send -w`: raw send, an encrypted dataset travels and lands still encrypted. */
  readonly rawSend: boolean
}

/** What zfs-fuse 0.7 supports; used when the usage text cannot be read at all. */
export const minimalZfsCapabilities: ZfsCapabilities = {
  parsableList: false,
  holdsCommand: false,
  json: false,
  multiSnapshot: false,
  batchDestroy: false,
  resumable: false,
  receiveNoMount: false,
  receiveProps: false,
  compressedSend: false,
  rawSend: false,
}

/** Pure: capabilities from the full usage text that `zfs` prints when run without a command. */
export function parseZfsUsage(usage: string): ZfsCapabilities {
  const line = (cmd: string): string[] =>
    usage
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith(`${cmd} `))
  const flags = (l: string): string => /^\S+ \[-([A-Za-z]+)\]/.exec(l)?.[1] ?? ''
  const list = line('list')
  const holds = line('holds')
  const send = line('send')
  const receive = [...line('receive'), ...line('receive|recv')]
  const sendFlags = send.map(flags).join('')
  return {
    parsableList: list.some((l) => flags(l).includes('p')),
    holdsCommand: holds.some((l) => flags(l).includes('H')),
    json: list.some((l) => l.includes('[-j')),
    multiSnapshot: line('snapshot').some((l) => /@<snap> \.\.\.$/.test(l)),
    batchDestroy: line('destroy').some((l) => l.includes('[,...]')),
    resumable: receive.some((l) => flags(l).includes('s')) && send.some((l) => l.includes('-t <receive_resume_token>')),
    receiveNoMount: receive.some((l) => flags(l).includes('u')),
    receiveProps: receive.some((l) => /-o <?property>?=/.test(l)),
    compressedSend: sendFlags.includes('c'),
    rawSend: sendFlags.includes('w'),
  }
}

/** Runs `zfs` without a command once (exit 2, usage on stderr) and reads what this CLI accepts. */
export async function probeZfsCapabilities(exec: Exec): Promise<ZfsCapabilities> {
  const r = await exec.run(['zfs'], { timeoutMs: 30_000 })
  const text = `${r.stdout}\n${r.stderr}`
  if (!text.includes('usage:')) {
    return minimalZfsCapabilities
  }
  return parseZfsUsage(text)
}

/** The properties read for every snapshot, in this order. */
export const snapshotProps = ['guid', 'createtxg', 'creation', 'userrefs', 'used', 'referenced'] as const

/**
 * argv that lists snapshots below `roots` with exact numbers. `-p` where the CLI has it (one line per
 * snapshot); otherwise `zfs get -Hp -r` (one line per property), which zfs-fuse does support.
 * `depth1` roots list only their own snapshots (non-recursive datasets).
 */
export function listSnapshotsArgv(
  caps: ZfsCapabilities,
  roots: readonly string[],
  tagProperty?: string,
  depth1 = false,
): string[] {
  const props = [...snapshotProps, ...(tagProperty === undefined ? [] : [tagProperty])]
  const depth = depth1 ? ['-d', '1'] : ['-r']
  if (caps.parsableList) {
    return [
      'zfs',
      'list',
      '-H',
      '-p',
      '-t',
      'snapshot',
      '-o',
      ['name', ...props].join(','),
      '-s',
      'createtxg',
      ...depth,
      ...roots,
    ]
  }
  return ['zfs', 'get', '-H', '-p', ...depth, '-o', 'name,property,value', props.join(','), ...roots]
}

/** The light listing for CLIs without `list -p` (see parseZfsLightList): name and hold count. */
export function lightListArgv(roots: readonly string[]): string[] {
  return ['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name,userrefs', '-r', ...roots]
}

/** One atomic call where the CLI takes many names; otherwise one call per name (the caller warns). */
export function snapshotArgvs(
  caps: ZfsCapabilities,
  targets: readonly { dataset: string; recursive: boolean }[],
  snapName: string,
  props: Readonly<Record<string, string>>,
): string[][] {
  const o = Object.entries(props).flatMap(([k, v]) => ['-o', `${k}=${v}`])
  const recursive = targets.filter((t) => t.recursive)
  const flat = targets.filter((t) => !t.recursive)
  if (caps.multiSnapshot) {
    // `-r` applies to every name of a call, so recursive and flat datasets need one call each.
    const calls: string[][] = []
    for (const [group, r] of [
      [recursive, ['-r']],
      [flat, []],
    ] as const) {
      if (group.length > 0) {
        calls.push(['zfs', 'snapshot', ...r, ...o, ...group.map((t) => `${t.dataset}@${snapName}`)])
      }
    }
    return calls
  }
  return targets.map((t) => ['zfs', 'snapshot', ...(t.recursive ? ['-r'] : []), ...o, `${t.dataset}@${snapName}`])
}

/** Linux ARG_MAX is large, but a 40k-name destroy line is not needed to be fast: chunk it. */
const maxArgChars = 100_000

/**
 * Destroy calls for `names` (short snapshot names) of one dataset: `ds@a,b,c` batches where supported,
 * else one call each.
 */
export function destroyArgvs(caps: ZfsCapabilities, dataset: string, names: readonly string[]): string[][] {
  if (!caps.batchDestroy) {
    return names.map((n) => ['zfs', 'destroy', `${dataset}@${n}`])
  }
  const out: string[][] = []
  let batch: string[] = []
  let len = 0
  for (const n of names) {
    if (batch.length > 0 && len + n.length + 1 > maxArgChars) {
      out.push(['zfs', 'destroy', `${dataset}@${batch.join(',')}`])
      batch = []
      len = 0
    }
    batch.push(n)
    len += n.length + 1
  }
  if (batch.length > 0) {
    out.push(['zfs', 'destroy', `${dataset}@${batch.join(',')}`])
  }
  return out
}

/** `zfs destroy -r root@name`: the same-named snapshot of root and every descendant in one call. */
export function destroyRecursiveArgv(root: string, name: string): string[] {
  return ['zfs', 'destroy', '-r', `${root}@${name}`]
}

export function holdArgv(tag: string, fullNames: readonly string[]): string[] {
  return ['zfs', 'hold', tag, ...fullNames]
}

export function releaseArgv(tag: string, fullNames: readonly string[]): string[] {
  return ['zfs', 'release', tag, ...fullNames]
}

export interface SendFlags {
  /** `-c` where the CLI has it: compressed blocks stay compressed on the wire. */
  readonly compressed?: boolean
  /** `-w`: raw send of an encrypted dataset (lands encrypted, the key never leaves the source). */
  readonly raw?: boolean
}

const sendFlagArgs = (f: SendFlags): string[] => [
  ...(f.raw === true ? ['-w'] : []),
  ...(f.compressed === true ? ['-c'] : []),
]

/** `zfs send [-I @base] ds@snap`; `-I` carries every snapshot in between (missed runs of an offline disk). */
export function sendArgv(snapshot: string, incrementalFrom: string | null, flags: SendFlags = {}): string[] {
  const f = sendFlagArgs(flags)
  return incrementalFrom === null
    ? ['zfs', 'send', ...f, snapshot]
    : ['zfs', 'send', ...f, '-I', incrementalFrom, snapshot]
}

/** `zfs send -t <token>`: the rest of a cut transfer (zfs-send(8) allows only `-PVenv` with `-t`). */
export function resumeSendArgv(token: string): string[] {
  return ['zfs', 'send', '-t', token]
}

/**
 * `zfs receive` never with `-F`: a target that changed since its newest snapshot, or that has snapshots the source
 * does not, is refused by zfs and reported as diverged — rolling it back would destroy someone's data (syncoid's
 * default `-F` does exactly that, sanoid#558). `-s` keeps a cut transfer resumable, `-u` leaves it unmounted, and
 * `canmount=noauto` keeps it unmounted after a reboot, each where this CLI has it (`caps` undefined: plain receive,
 * used for a scratch dataset).
 */
export function receiveArgv(targetDataset: string, caps?: ZfsCapabilities): string[] {
  if (caps === undefined) {
    return ['zfs', 'receive', targetDataset]
  }
  return [
    'zfs',
    'receive',
    ...(caps.receiveNoMount ? ['-u'] : []),
    ...(caps.resumable ? ['-s'] : []),
    ...(caps.receiveProps ? ['-o', 'canmount=noauto'] : []),
    targetDataset,
  ]
}

/** `zfs receive -A ds`: drops the saved partial state of a cut receive whose stream can no longer be sent. */
export function abortReceiveArgv(targetDataset: string): string[] {
  return ['zfs', 'receive', '-A', targetDataset]
}

/** `receive_resume_token` of the target dataset; `-` when there is none. */
export function resumeTokenArgv(targetDataset: string): string[] {
  return ['zfs', 'get', '-H', '-o', 'value', 'receive_resume_token', targetDataset]
}

/** Which well-known failure a `zfs`/`zpool` stderr is. */
export type ZfsFailure =
  'busy' | 'missing' | 'no-pool' | 'no-space' | 'exists' | 'unsupported' | 'diverged' | 'resume-stale' | 'other'

export function classifyZfsError(stderr: string): ZfsFailure {
  // zfs wraps long messages ("does not\nmatch incremental source"): match on single-spaced text.
  const s = stderr.toLowerCase().replace(/\s+/g, ' ')
  // Checked first: these name the destination and contain words of the generic cases below.
  if (
    s.includes('has been modified') ||
    s.includes('destination has snapshots') ||
    s.includes('does not match incremental source') ||
    (s.includes('destination') && s.includes('exists') && s.includes('must specify -f'))
  ) {
    return 'diverged'
  }
  if (
    s.includes('used in the initial send no longer exists') ||
    /incremental source [0-9a-fx]+ no longer exists/.test(s)
  ) {
    return 'resume-stale'
  }
  if (s.includes('dataset is busy') || s.includes('pool or dataset is busy')) {
    return 'busy'
  }
  if (s.includes('no such pool')) {
    return 'no-pool'
  }
  if (s.includes('dataset does not exist') || s.includes('could not find any snapshots')) {
    return 'missing'
  }
  if (s.includes('out of space') || s.includes('no space left')) {
    return 'no-space'
  }
  if (s.includes('already exists') || (s.includes('destination') && s.includes('exists'))) {
    return 'exists'
  }
  if (s.includes('invalid option') || s.includes('too many arguments') || s.includes('unrecognized command')) {
    return 'unsupported'
  }
  return 'other'
}

/** Runs argv and throws a coded error on failure; the code says which part of the job failed. */
export async function runZfs(
  exec: Exec,
  argv: readonly string[],
  code: ErrorCode = 'BK_ERR_EXEC_FAILED',
  timeoutMs = 10 * 60_000,
): Promise<ExecResult> {
  const r = await exec.run(argv, { timeoutMs, maxOutputBytes: 512 * 1024 * 1024 })
  if (!succeeded(r)) {
    const kind = classifyZfsError(r.stderr)
    const missing = kind === 'missing' || kind === 'no-pool'
    const hint = missing
      ? ' — check the dataset name in the job config and that its pool is imported (`zpool list`)'
      : ''
    throw new BackstopError(missing ? 'BK_ERR_SNAPSHOT_SOURCE_MISSING' : code, `${describeFailure(r)}${hint}`)
  }
  return r
}
