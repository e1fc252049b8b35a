import type { DiskHealth, DiskHealthBody, FsUsage, PoolHealth } from '../schemas/disk-health.ts'
import {
  type CounterDelta,
  counterDeltas,
  describeDamage,
  type DiskBaseline,
  diskKey,
  preExistingDamage,
} from './baseline.ts'
import { alertKey } from '../compliance/alert-flips.ts'
import { forecastFull, type UsagePoint } from './forecast.ts'

/**
 * Disk-health alert rules, pure: the collector feeds them the latest `disk.health` body, the stored baselines
 * and the usage history, and gets the set of conditions that hold *now*. A condition that no longer holds is
 * simply absent, so transient states (a hot afternoon, a pending sector that got rewritten) clear by
 * themselves; the alert engine turns presence/absence into fire/resolve transitions keyed by
 * `diskAlertKey(node, alert)`.
 */
export const diskAlertRules = [
  'smart-failed',
  'attribute-failing',
  'counter-grew',
  'pre-existing-damage',
  'nvme-critical-warning',
  'nvme-spare-low',
  'nvme-worn',
  'temperature',
  'capacity',
  'forecast-full',
  'pool-degraded',
  'pool-errors',
] as const
export type DiskAlertRule = (typeof diskAlertRules)[number]

export interface DiskAlert {
  readonly rule: DiskAlertRule
  readonly severity: 'warning' | 'critical'
  /** Disk key (`serial:…`), mount point or pool name. */
  readonly subject: string
  readonly message: string
}

/**
 * The alert key of a disk alert on `node`: an `unhealthy-device` key (alertKey) whose subject is `<rule>/<subject>`,
 * kept to characters an MQTT topic level allows ('/' separates levels; '+', '#' and blanks become '_').
 */
export function diskAlertKey(node: string, a: Pick<DiskAlert, 'rule' | 'subject'>): string {
  const subject = `${a.rule}/${a.subject}`
    .replace(/[+#\s]/g, '_')
    .replace(/\/+/g, '/')
    .replace(/\/$/, '')
  return alertKey('unhealthy-device', node, subject)
}

export interface DiskThresholds {
  /** Rotational disks run hotter than they should above ~50 °C (Backblaze, vendor data sheets: 0–60 °C). */
  readonly hddTempWarnC: number
  readonly hddTempCritC: number
  /** SSD/NVMe throttle near 70 °C; most report a critical composite temperature around 80–85 °C. */
  readonly ssdTempWarnC: number
  readonly ssdTempCritC: number
  readonly capacityWarnPct: number
  readonly capacityCritPct: number
  readonly forecastDays: number
  readonly nvmeWornPct: number
}

export const defaultDiskThresholds: DiskThresholds = {
  hddTempWarnC: 50,
  hddTempCritC: 60,
  ssdTempWarnC: 70,
  ssdTempCritC: 80,
  capacityWarnPct: 80,
  capacityCritPct: 95,
  forecastDays: 14,
  nvmeWornPct: 90,
}

export interface DiskEvalInput {
  readonly report: DiskHealthBody
  /** By `diskKey`; a disk without one is seen for the first time: nothing grew, its media damage is pre-existing. */
  readonly baselines: ReadonlyMap<string, DiskBaseline>
  /** By mount point, oldest first, including the current report's sample. */
  readonly usageHistory: ReadonlyMap<string, readonly UsagePoint[]>
  readonly thresholds?: DiskThresholds
  readonly now: Date
}

/** Counters about the medium itself; CRC errors are cabling/bridge trouble and only warn. */
const mediaCounters = new Set([
  'reallocatedSectors',
  'reallocationEvents',
  'pendingSectors',
  'offlineUncorrectable',
  'reportedUncorrect',
  'mediaErrors',
  'grownDefects',
  'uncorrectedErrors',
])

export function evaluateDiskHealth(input: DiskEvalInput): DiskAlert[] {
  const th = input.thresholds ?? defaultDiskThresholds
  const out: DiskAlert[] = []
  for (const d of input.report.disks) {
    out.push(...diskAlerts(d, input.baselines.get(diskKey(d)), th))
  }
  for (const fs of input.report.filesystems) {
    out.push(...fsAlerts(fs, input.usageHistory.get(fs.mount) ?? [], th, input.now))
  }
  for (const p of input.report.pools) {
    out.push(...poolAlerts(p))
  }
  return out
}

/** Counter growth against the baseline, split into media growth (critical news) and link errors. */
export function grownCounters(d: DiskHealth, baseline: DiskBaseline | undefined): CounterDelta[] {
  return baseline === undefined ? [] : counterDeltas(d, baseline)
}

function diskAlerts(d: DiskHealth, baseline: DiskBaseline | undefined, th: DiskThresholds): DiskAlert[] {
  const subject = diskKey(d)
  const label = `${d.name}${d.model ? ` (${d.model}${d.serial ? ` ${d.serial}` : ''})` : ''}`
  const out: DiskAlert[] = []
  const add = (rule: DiskAlertRule, severity: DiskAlert['severity'], message: string): void => {
    out.push({ rule, severity, subject, message })
  }
  if (d.smart === 'failed') {
    add(
      'smart-failed',
      'critical',
      `${label}: SMART overall health self-assessment FAILED; replace the disk and move its copies`,
    )
  }
  if (d.failingAttributes.length > 0) {
    add(
      'attribute-failing',
      'critical',
      `${label}: attribute(s) at or below the vendor threshold now: ${d.failingAttributes.join(', ')}`,
    )
  }
  const grown = grownCounters(d, baseline)
  if (grown.length > 0) {
    const media = grown.some((g) => mediaCounters.has(g.counter))
    const list = grown.map((g) => `${g.counter} ${g.baseline}→${g.current}`).join(', ')
    const since = baseline?.acknowledgedAt ? 'the acknowledged baseline' : 'the first report'
    add('counter-grew', media ? 'critical' : 'warning', `${label}: ${list} since ${since}; acknowledge once understood`)
  }
  // Damage the disk arrived with is not news to page for, but it must not become the baseline unseen.
  const damage = preExistingDamage(d, baseline)
  if (damage.length > 0) {
    add(
      'pre-existing-damage',
      'warning',
      `${label}: pre-existing damage: ${describeDamage(damage)}; acknowledge to baseline`,
    )
  }
  if (d.nvme) {
    if (d.nvme.criticalWarning !== 0) {
      add(
        'nvme-critical-warning',
        'critical',
        `${label}: NVMe critical warning 0x${d.nvme.criticalWarning.toString(16)} ` +
          `(${nvmeWarningBits(d.nvme.criticalWarning).join(', ')})`,
      )
    }
    if (d.nvme.availableSpareThreshold > 0 && d.nvme.availableSpare <= d.nvme.availableSpareThreshold) {
      add(
        'nvme-spare-low',
        'critical',
        `${label}: available spare ${d.nvme.availableSpare}% ≤ threshold ${d.nvme.availableSpareThreshold}%`,
      )
    }
    if (d.nvme.percentageUsed >= th.nvmeWornPct) {
      add(
        'nvme-worn',
        d.nvme.percentageUsed >= 100 ? 'critical' : 'warning',
        `${label}: ${d.nvme.percentageUsed}% of rated endurance used`,
      )
    }
  }
  if (d.temperatureC !== undefined) {
    const ssd = d.protocol === 'NVMe' || d.rotationRpm === 0
    const warn = ssd ? th.ssdTempWarnC : th.hddTempWarnC
    const crit =
      d.temperatureLimitC !== undefined && d.temperatureLimitC > 0
        ? Math.min(d.temperatureLimitC, ssd ? th.ssdTempCritC : th.hddTempCritC)
        : ssd
          ? th.ssdTempCritC
          : th.hddTempCritC
    if (d.temperatureC >= crit) {
      add('temperature', 'critical', `${label}: ${d.temperatureC} °C ≥ ${crit} °C`)
    } else if (d.temperatureC >= warn) {
      add('temperature', 'warning', `${label}: ${d.temperatureC} °C ≥ ${warn} °C`)
    }
  }
  return out
}

/** NVMe spec "Critical Warning" bits (NVM Express Base Spec, SMART / Health Information log, byte 0). */
export function nvmeWarningBits(v: number): string[] {
  const names = [
    'spare below threshold',
    'temperature out of range',
    'reliability degraded',
    'read-only',
    'volatile backup failed',
    'PMR read-only',
  ]
  return names.filter((_, i) => (v & (1 << i)) !== 0)
}

function fsAlerts(fs: FsUsage, history: readonly UsagePoint[], th: DiskThresholds, now: Date): DiskAlert[] {
  if (fs.sizeBytes <= 0) {
    return []
  }
  const out: DiskAlert[] = []
  const pct = (fs.usedBytes / fs.sizeBytes) * 100
  const subject = fs.mount
  if (pct >= th.capacityCritPct) {
    out.push({
      rule: 'capacity',
      severity: 'critical',
      subject,
      message: `${fs.mount} (${fs.fs}) is ${pct.toFixed(1)}% full (≥ ${th.capacityCritPct}%)`,
    })
  } else if (pct >= th.capacityWarnPct) {
    out.push({
      rule: 'capacity',
      severity: 'warning',
      subject,
      message: `${fs.mount} (${fs.fs}) is ${pct.toFixed(1)}% full (≥ ${th.capacityWarnPct}%)`,
    })
  }
  if (fs.backupTarget) {
    const f = forecastFull(history)
    if (f?.fullAt && Date.parse(f.fullAt) - now.getTime() <= th.forecastDays * 86_400_000) {
      out.push({
        rule: 'forecast-full',
        severity: 'warning',
        subject,
        message:
          `${fs.mount} is projected full on ${f.fullAt.slice(0, 10)} ` +
          `(+${(f.bytesPerDay / 1e9).toFixed(2)} GB/day over ${f.points} samples)`,
      })
    }
  }
  return out
}

function poolAlerts(p: PoolHealth): DiskAlert[] {
  const subject = `${p.kind}:${p.name}`
  const out: DiskAlert[] = []
  if (p.state !== 'ONLINE' && p.state !== 'UNKNOWN') {
    const severity = p.state === 'DEGRADED' ? 'warning' : 'critical'
    out.push({
      rule: 'pool-degraded',
      severity,
      subject,
      message: `${p.kind} pool ${p.name} is ${p.state}${p.detail ? `: ${p.detail}` : ''}`,
    })
  }
  if (p.errors > 0) {
    out.push({
      rule: 'pool-errors',
      severity: 'warning',
      subject,
      message: `${p.kind} pool ${p.name}: ${p.errors} read/write/checksum errors`,
    })
  }
  return out
}
