import type { GuestType } from './vzdump.ts'

/**
 * Streaming parser for a vzdump task log (what `vzdump` prints, and what `/var/log/vzdump/<type>-<vmid>.log`
 * and `<dumpdir>/<basename>.log` hold). Line formats, from pve-manager PVE/VZDump.pm (`exec_backup_task`,
 * `debugmsg`) and qemu-server PVE/VZDump/QemuServer.pm (progress), pinned by the real logs in
 * agent/test/fixtures/vzdump/:
 *   INFO: Starting Backup of VM 103 (qemu)                  guest begins (type qemu | lxc)
 *   INFO: VM Name: nfs-vm  /  INFO: CT Name: babydeb        guest name
 *   INFO: creating vzdump archive '/…/vzdump-lxc-…tar.zst'  file target (older PVE: "creating archive '…'")
 *   INFO: creating Proxmox Backup Server archive 'vm/103/2026-03-11T08:51:30Z'   PBS target
 *   INFO:  21% (1.7 GiB of 8.0 GiB) in 3s, read: …          qemu progress (PVE ≥ 6.x)
 *   INFO: status: 12% (3865470976/30601641984), sparse …    qemu progress (PVE ≤ 5.x)
 *   INFO: archive file size: 173MB                          file size (vzdump's format_size: rounded)
 *   INFO: Finished Backup of VM 103 (00:00:47)              guest ok
 *   ERROR: Backup of VM 200 failed - <reason>               guest failed
 *   INFO: Backup job finished successfully | with errors    job end; the task then prints TASK OK / TASK ERROR
 * On a terminal vzdump prefixes nothing; in /var/log/vzdump/*.log each line carries a timestamp first — both
 * are accepted.
 */
export interface GuestRun {
  readonly vmid: number
  readonly vmtype: GuestType
  name?: string
  status: 'running' | 'ok' | 'failed'
  /** Absolute archive path (file storage) or PBS snapshot name. */
  archive?: string
  target?: 'file' | 'pbs'
  error?: string
  /** Seconds, from "Finished Backup of VM n (hh:mm:ss)". */
  durationS?: number
  /** Bytes from "archive file size" (approximate: vzdump rounds it). */
  approxBytes?: number
  percent: number
}

export interface VzdumpRun {
  readonly guests: GuestRun[]
  /** From the job's last line; null when the log ended before it (killed, still running). */
  jobOk: boolean | null
  /** A job-level error, e.g. "ERROR: Backup job failed - interrupted by signal". */
  jobError?: string
}

export interface ProgressUpdate {
  readonly vmid: number
  readonly guestPercent: number
  /** Overall percent when the number of guests is known, else the guest's. */
  readonly percent: number
  readonly message: string
}

const TS_PREFIX = /^(?:\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} |[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} )/
const RE = {
  start: /^INFO: Starting Backup of VM (\d+) \((qemu|lxc|openvz)\)/,
  name: /^INFO: (?:VM|CT) Name: (.+)$/,
  fileArchive: /^INFO: creating (?:vzdump )?archive '([^']+)'/,
  pbsArchive: /^INFO: creating Proxmox Backup Server archive '([^']+)'/,
  progressNew: /^INFO:\s+(\d{1,3})% \(/,
  progressOld: /^INFO: status: (\d{1,3})% \(/,
  size: /^INFO: archive file size: ([\d.]+)\s*([KMGT]?B)/,
  finished: /^INFO: Finished Backup of VM (\d+) \((?:(\d+):)?(\d+):(\d+)\)/,
  failed: /^ERROR: Backup of VM (\d+) failed - (.*)$/,
  jobOk: /^INFO: Backup job finished successfully/,
  jobErrors: /^INFO: Backup job finished with errors/,
  jobFailed: /^ERROR: Backup job failed - (.*)$/,
  taskOk: /^TASK OK$/,
  taskError: /^TASK ERROR: (.*)$/,
}
const UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }

export class VzdumpLogParser {
  readonly run: VzdumpRun = { guests: [], jobOk: null }
  private current: GuestRun | undefined

  /** `expectedGuests` (when known from the selection) turns per-guest progress into job progress. */
  constructor(private readonly expectedGuests?: number) {}

  feed(rawLine: string): ProgressUpdate | undefined {
    const line = rawLine.replace(TS_PREFIX, '').trimEnd()
    let m: RegExpExecArray | null
    if ((m = RE.start.exec(line))) {
      this.current = { vmid: Number(m[1]), vmtype: m[2] === 'qemu' ? 'qemu' : 'lxc', status: 'running', percent: 0 }
      this.run.guests.push(this.current)
      return this.progress(0, `backing up ${m[2]} ${m[1]}`)
    }
    const g = this.current
    if ((m = RE.failed.exec(line))) {
      const failed = this.guest(Number(m[1]))
      if (failed) {
        failed.status = 'failed'
        failed.error = m[2]!.slice(0, 2000)
      }
      return undefined
    }
    if ((m = RE.jobFailed.exec(line))) {
      this.run.jobOk = false
      this.run.jobError = m[1]!
      if (g && g.status === 'running') {
        g.status = 'failed'
        g.error = m[1]!
      }
      return undefined
    }
    if (RE.jobOk.test(line) || RE.taskOk.test(line)) {
      this.run.jobOk = this.run.jobOk ?? true
      return undefined
    }
    if (RE.jobErrors.test(line)) {
      this.run.jobOk = false
      return undefined
    }
    if ((m = RE.taskError.exec(line))) {
      this.run.jobOk = false
      this.run.jobError = this.run.jobError ?? m[1]!
      return undefined
    }
    if (!g) {
      return undefined
    }
    if ((m = RE.name.exec(line))) {
      g.name = m[1]!.trim()
    } else if ((m = RE.pbsArchive.exec(line))) {
      g.archive = m[1]!
      g.target = 'pbs'
    } else if ((m = RE.fileArchive.exec(line))) {
      g.archive = m[1]!
      g.target = 'file'
    } else if ((m = RE.progressNew.exec(line) ?? RE.progressOld.exec(line))) {
      g.percent = Math.min(100, Number(m[1]))
      return this.progress(g.percent, `${g.vmtype} ${g.vmid}: ${g.percent}%`)
    } else if ((m = RE.size.exec(line))) {
      g.approxBytes = Math.round(Number(m[1]) * (UNITS[m[2]!] ?? 1))
    } else if ((m = RE.finished.exec(line))) {
      const done = this.guest(Number(m[1])) ?? g
      done.status = 'ok'
      done.percent = 100
      done.durationS = Number(m[2] ?? 0) * 3600 + Number(m[3]) * 60 + Number(m[4])
      return this.progress(100, `${done.vmtype} ${done.vmid}: finished`)
    }
    return undefined
  }

  /** Call at the end: guests still `running` did not finish (the process died or was killed). */
  finish(exitCode: number): VzdumpRun {
    for (const g of this.run.guests) {
      if (g.status === 'running') {
        g.status = 'failed'
        g.error = g.error ?? `vzdump ended (exit ${exitCode}) before the backup of ${g.vmid} finished`
      }
    }
    if (this.run.jobOk === null) {
      this.run.jobOk = exitCode === 0 && this.run.guests.every((x) => x.status === 'ok')
    }
    return this.run
  }

  private guest(vmid: number): GuestRun | undefined {
    return [...this.run.guests].reverse().find((x) => x.vmid === vmid)
  }

  private progress(guestPercent: number, message: string): ProgressUpdate {
    const vmid = this.current?.vmid ?? 0
    const n = this.expectedGuests
    const percent = n && n > 0 ? Math.min(100, ((this.run.guests.length - 1) * 100 + guestPercent) / n) : guestPercent
    return { vmid, guestPercent, percent, message }
  }
}

/** Parses a whole log at once (hook mode reads LOGFILE at log-end; tests feed fixtures). */
export function parseVzdumpLog(text: string, exitCode = 0): VzdumpRun {
  const p = new VzdumpLogParser()
  for (const line of text.split('\n')) {
    p.feed(line)
  }
  return p.finish(exitCode)
}
