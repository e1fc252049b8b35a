import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { mkdirDataSync, writeFileDurableSync } from '@backstop/node-io'
import { parseVzdumpLog } from '../tools/vzdump-log.ts'

/**
 * `backstop-agent vzdump-hook <phase> [<mode> <vmid>]` — installed as `script:
 * /usr/local/bin/backstop-agent-vzdump-hook`
 * (a two-line wrapper calling this) in /etc/vzdump.conf, so backups that Proxmox itself schedules are reported.
 *
 * Calling convention (pve-manager PVE/VZDump.pm `run_hook_script`; example vzdump-hook-script.pl):
 *   job phases:   job-init, job-start, job-end, job-abort                       argv: <phase>
 *   guest phases: backup-start, backup-end, backup-abort, log-end, pre-stop,   argv: <phase> <mode> <vmid>
 *                 pre-restart, post-restart
 *   env: STOREID (unset with --dumpdir), DUMPDIR (unset for PBS), VMTYPE (qemu|lxc), HOSTNAME (the guest's
 *        name), TARGET (backup-end only; the archive path, or the PBS snapshot), LOGFILE (log-end only; unset for PBS)
 * A non-zero exit fails that phase — for backup-start, the guest's backup. So this never exits non-zero and
 * never talks to the network: it appends small records to a spool directory (write, fsync, rename) that the
 * running agent drains into its signed outbox (vzdump-hook-spool.ts). It reads no archive (fast).
 */
export const JOB_PHASES = ['job-init', 'job-start', 'job-end', 'job-abort'] as const
export const GUEST_PHASES = [
  'backup-start',
  'backup-end',
  'backup-abort',
  'log-end',
  'pre-stop',
  'pre-restart',
  'post-restart',
] as const

/** One spooled record; the drain turns them into job.started / job.finished events. */
export type HookRecord =
  | {
      v: 1
      type: 'job'
      phase: 'start' | 'end' | 'abort'
      jobId: string
      at: string
      storeid?: string
      dumpdir?: string
    }
  | {
      v: 1
      type: 'guest'
      jobId: string
      vmid: number
      vmtype: 'qemu' | 'lxc'
      mode: string
      name?: string
      storeid?: string
      dumpdir?: string
      target?: string
      startedAt: string
      finishedAt: string
      status: 'ok' | 'failed'
      error?: string
    }

interface GuestState {
  vmid: number
  vmtype: 'qemu' | 'lxc'
  mode: string
  name?: string
  target?: string
  startedAt: string
  status: 'running' | 'ok' | 'failed'
}
interface JobState {
  jobId: string
  startedAt: string
  guests: Record<string, GuestState>
}

export interface HookDeps {
  /** Agent state dir; the hook uses `<stateDir>/vzdump-hook/` (state + spool). */
  readonly stateDir: string
  readonly now: () => Date
  readonly env: Readonly<Record<string, string | undefined>>
  readonly warn: (msg: string) => void
}

export function hookDirs(stateDir: string): { state: string; spool: string } {
  return { state: join(stateDir, 'vzdump-hook', 'state'), spool: join(stateDir, 'vzdump-hook', 'spool') }
}

/** Runs one hook phase. Returns the exit code to use: always 0 (a reporting problem must not fail a backup). */
export function runVzdumpHook(argv: readonly string[], deps: HookDeps): 0 {
  try {
    handle(argv, deps)
  } catch (e) {
    deps.warn(`backstop vzdump-hook ${argv.join(' ')}: ${(e as Error).message} (backup continues; not reported)`)
  }
  return 0
}

function handle(argv: readonly string[], deps: HookDeps): void {
  const [phase, mode, vmidText] = argv
  const dirs = hookDirs(deps.stateDir)
  mkdirDataSync(dirs.state)
  mkdirDataSync(dirs.spool)
  const env = deps.env
  const at = deps.now().toISOString()
  const where = {
    ...(env['STOREID'] ? { storeid: env['STOREID'] } : {}),
    ...(env['DUMPDIR'] ? { dumpdir: env['DUMPDIR'] } : {}),
  }
  const stateFile = join(dirs.state, 'job.json')
  const load = (): JobState | null => {
    try {
      return JSON.parse(readFileSync(stateFile, 'utf8')) as JobState
    } catch {
      return null
    }
  }
  const save = (s: JobState): void => writeFileDurableSync(stateFile, JSON.stringify(s))
  // A guest phase without a job-start (hook installed mid-job, or the state was lost): start one implicitly.
  const job = (): JobState => load() ?? startJob()
  const startJob = (): JobState => {
    const s: JobState = { jobId: `${at.replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`, startedAt: at, guests: {} }
    save(s)
    spool(dirs.spool, { v: 1, type: 'job', phase: 'start', jobId: s.jobId, at, ...where })
    return s
  }

  if (phase === 'job-init' || phase === 'job-start') {
    // job-init (PVE ≥ 8.2) comes right before job-start: both open the same job record.
    const s = load()
    const fresh =
      s !== null && Object.keys(s.guests).length === 0 && Date.parse(at) - Date.parse(s.startedAt) < 10 * 60_000
    if (phase === 'job-init' || !fresh) {
      startJob()
    }
    return
  }
  if (phase === 'job-end' || phase === 'job-abort') {
    const s = load()
    if (s === null) {
      return
    }
    for (const g of Object.values(s.guests)) {
      spoolGuest(
        dirs.spool,
        s,
        g,
        at,
        where,
        g.status === 'running'
          ? `job ${phase === 'job-abort' ? 'aborted' : 'ended'} before this guest's log-end`
          : undefined,
      )
    }
    spool(dirs.spool, { v: 1, type: 'job', phase: phase === 'job-end' ? 'end' : 'abort', jobId: s.jobId, at, ...where })
    rmSync(stateFile, { force: true })
    return
  }
  if (!(GUEST_PHASES as readonly string[]).includes(phase ?? '')) {
    deps.warn(`backstop vzdump-hook: unknown phase "${phase}" ignored`)
    return
  }
  const vmid = Number(vmidText)
  if (!Number.isInteger(vmid)) {
    deps.warn(`backstop vzdump-hook: phase ${phase} without a numeric vmid (argv: ${argv.join(' ')})`)
    return
  }
  const s = job()
  const key = String(vmid)
  const vmtype = env['VMTYPE'] === 'lxc' ? 'lxc' : 'qemu'
  const g: GuestState = s.guests[key] ?? { vmid, vmtype, mode: mode ?? 'snapshot', startedAt: at, status: 'running' }
  if (env['HOSTNAME']) {
    g.name = env['HOSTNAME']
  }
  switch (phase) {
    case 'backup-start':
      s.guests[key] = {
        vmid,
        vmtype,
        mode: mode ?? 'snapshot',
        startedAt: at,
        status: 'running',
        ...(g.name ? { name: g.name } : {}),
      }
      break
    case 'backup-end':
      g.status = 'ok'
      if (env['TARGET']) {
        g.target = env['TARGET']
      }
      s.guests[key] = g
      break
    case 'backup-abort':
      g.status = 'failed'
      s.guests[key] = g
      break
    case 'log-end': {
      // The log says why a guest failed; for PBS there is no LOGFILE (the log went to the server).
      let error: string | undefined
      const logfile = env['LOGFILE']
      if (logfile) {
        try {
          const parsed = parseVzdumpLog(readFileSync(logfile, 'utf8')).guests.find((x) => x.vmid === vmid)
          error = parsed?.error
          if (parsed && parsed.status === 'failed') {
            g.status = 'failed'
          }
        } catch (e) {
          deps.warn(`backstop vzdump-hook: cannot read LOGFILE ${logfile}: ${(e as Error).message}`)
        }
      }
      if (g.status === 'running') {
        g.status = 'failed'
        error = error ?? 'log-end without backup-end'
      }
      spoolGuest(dirs.spool, s, g, at, where, error)
      delete s.guests[key]
      break
    }
    default:
      // pre-stop / pre-restart / post-restart: nothing to report, but the guest is known from here on.
      s.guests[key] = g
  }
  save(s)
}

function spoolGuest(
  dir: string,
  s: JobState,
  g: GuestState,
  at: string,
  where: { storeid?: string; dumpdir?: string },
  error: string | undefined,
): void {
  spool(dir, {
    v: 1,
    type: 'guest',
    jobId: s.jobId,
    vmid: g.vmid,
    vmtype: g.vmtype,
    mode: g.mode,
    startedAt: g.startedAt,
    finishedAt: at,
    status: g.status === 'ok' ? 'ok' : 'failed',
    ...where,
    ...(g.name ? { name: g.name } : {}),
    ...(g.target ? { target: g.target } : {}),
    ...(error ? { error: error.slice(0, 4000) } : {}),
  })
}

/** Spool file names sort in write order: `<ms>-<uuid>.json`. */
function spool(dir: string, rec: HookRecord): void {
  writeFileDurableSync(
    join(dir, `${Date.now().toString().padStart(15, '0')}-${randomUUID()}.json`),
    JSON.stringify(rec),
  )
}

/** Spooled records, oldest first (for the drain and for tests). */
export function readSpool(stateDir: string): { file: string; record: HookRecord }[] {
  const dir = hookDirs(stateDir).spool
  let names: string[]
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort()
  } catch {
    return []
  }
  return names.map((n) => ({
    file: join(dir, n),
    record: JSON.parse(readFileSync(join(dir, n), 'utf8')) as HookRecord,
  }))
}
