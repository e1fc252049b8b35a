import type { DiskCounters, DiskHealth } from '@backstop/shared'

/**
 * Pure parsers for smartctl's JSON output (smartmontools ≥ 7.0, `-j`). Field names follow smartctl's JSON
 * schema as emitted by smartctl.cpp / ataprint.cpp / nvmeprint.cpp / scsiprint.cpp and are pinned by the real
 * recordings in agent/test/fixtures/smartctl/ (see its SOURCE.md). Exit status
 * bits: man smartctl(8), "RETURN VALUES".
 */
export const SMARTCTL_EXIT = {
  cmdline: 1 << 0,
  /** Device open failed, no IDENTIFY data, or device in low-power mode. */
  open: 1 << 1,
  commandFailed: 1 << 2,
  /** SMART status check returned "DISK FAILING". */
  diskFailing: 1 << 3,
  prefailBelowThreshold: 1 << 4,
  pastBelowThreshold: 1 << 5,
  errorLog: 1 << 6,
  selfTestLog: 1 << 7,
} as const

export interface ScannedDevice {
  readonly name: string
  /** The `-d` type smartctl chose (`sat`, `nvme`, `scsi`, `megaraid,0` …). */
  readonly type: string
  readonly protocol: string
}

/** `smartctl --scan -j`: `{ devices: [{ name, info_name, type, protocol }] }`; prints nothing useful on VMs. */
export function parseSmartctlScan(json: string): ScannedDevice[] {
  const doc = parseJson(json)
  const devices = Array.isArray(doc['devices']) ? doc['devices'] : []
  return devices.flatMap((d: unknown) => {
    const o = asObj(d)
    const name = str(o['name'])
    return name ? [{ name, type: str(o['type']) ?? 'auto', protocol: str(o['protocol']) ?? 'unknown' }] : []
  })
}

/**
 * `smartctl -j -x [-d TYPE] DEV` (also `-a`/`-i`) → the wire `DiskHealth`. `fallback` names a device that could not be
 * opened.
 */
export function parseSmartctlDevice(json: string, fallback?: { name: string; type: string }): DiskHealth {
  const doc = parseJson(json)
  const device = asObj(doc['device'])
  const smartctl = asObj(doc['smartctl'])
  const exitStatus = int(smartctl['exit_status'])
  const protocol = normalizeProtocol(str(device['protocol']))
  const attrs = ataAttributes(doc)
  const nvmeLog = asObj(doc['nvme_smart_health_information_log'])
  const hasNvmeLog = Object.keys(nvmeLog).length > 0
  const temp = asObj(doc['temperature'])

  const counters: DiskCounters = {}
  const setCounter = (k: keyof DiskCounters, v: number | undefined): void => {
    if (v !== undefined && v >= 0) {
      counters[k] = v
    }
  }
  setCounter('reallocatedSectors', attrs.get(5)?.raw)
  setCounter('reportedUncorrect', attrs.get(187)?.raw)
  setCounter('reallocationEvents', attrs.get(196)?.raw)
  setCounter('pendingSectors', attrs.get(197)?.raw)
  setCounter('offlineUncorrectable', attrs.get(198)?.raw)
  setCounter('crcErrors', attrs.get(199)?.raw)
  if (hasNvmeLog) {
    setCounter('mediaErrors', int(nvmeLog['media_errors']))
    setCounter('errorLogEntries', int(nvmeLog['num_err_log_entries']))
  }
  setCounter('grownDefects', int(doc['scsi_grown_defect_list']))
  setCounter('uncorrectedErrors', scsiUncorrected(doc))

  // A 0 °C "current" with no trip point is a RAID volume or bridge that reports nothing (smart-raid.json).
  let temperatureC =
    int(temp['current']) ??
    attrs.get(194)?.raw ??
    attrs.get(190)?.raw ??
    (hasNvmeLog ? int(nvmeLog['temperature']) : undefined)
  if (temperatureC === 0 && !(int(temp['drive_trip']) ?? 0)) {
    temperatureC = undefined
  }
  const temperatureLimitC = positive(int(temp['drive_trip']) ?? int(temp['op_limit_max']) ?? int(temp['limit_max']))
  const powerOnHours =
    int(asObj(doc['power_on_time'])['hours']) ??
    attrs.get(9)?.raw ??
    (hasNvmeLog ? int(nvmeLog['power_on_hours']) : undefined)

  const passed = asObj(doc['smart_status'])['passed']
  const smart: DiskHealth['smart'] =
    passed === true
      ? 'passed'
      : passed === false
        ? 'failed'
        : exitStatus !== undefined && (exitStatus & SMARTCTL_EXIT.diskFailing) !== 0
          ? 'failed'
          : 'unknown'

  const model = str(doc['model_name']) ?? joinDefined(str(doc['vendor']), str(doc['product']))
  const capacityBytes = int(asObj(doc['user_capacity'])['bytes']) ?? int(doc['nvme_total_capacity'])
  const out: DiskHealth = {
    name: str(device['name']) ?? fallback?.name ?? 'unknown',
    type: str(device['type']) ?? fallback?.type ?? 'unknown',
    protocol,
    source: 'smartctl',
    smart,
    counters,
    failingAttributes: [...attrs.values()].filter((a) => a.whenFailed === 'now').map((a) => `${a.id} ${a.name}`),
    messages: messagesOf(smartctl),
  }
  assign(out, 'model', model)
  assign(out, 'serial', str(doc['serial_number']))
  assign(out, 'firmware', str(doc['firmware_version']) ?? str(doc['revision']))
  assign(out, 'capacityBytes', capacityBytes)
  assign(out, 'rotationRpm', int(doc['rotation_rate']))
  assign(out, 'exitStatus', exitStatus)
  assign(out, 'temperatureC', temperatureC)
  assign(out, 'temperatureLimitC', temperatureLimitC)
  assign(out, 'powerOnHours', powerOnHours)
  if (hasNvmeLog) {
    out.nvme = {
      criticalWarning: int(nvmeLog['critical_warning']) ?? 0,
      percentageUsed: int(nvmeLog['percentage_used']) ?? 0,
      availableSpare: int(nvmeLog['available_spare']) ?? 100,
      availableSpareThreshold: int(nvmeLog['available_spare_threshold']) ?? 0,
    }
  }
  return out
}

/** True when smartctl could not talk to the device at all (exit bit 1 set, or nothing but messages). */
export function smartctlUnreadable(d: DiskHealth): boolean {
  return d.exitStatus !== undefined && (d.exitStatus & (SMARTCTL_EXIT.cmdline | SMARTCTL_EXIT.open)) !== 0
}

/** smartctl's hint that a USB bridge needs an explicit `-d` (os_linux.cpp: "Unknown USB bridge"). */
export function needsExplicitType(d: DiskHealth): boolean {
  return d.messages.some((m) => /Unknown USB bridge|Please specify device type with the -d option/i.test(m))
}

interface AtaAttr {
  readonly id: number
  readonly name: string
  readonly raw: number | undefined
  readonly whenFailed: string
}

/**
 * ATA attributes by id. The raw value is the leading integer of `raw.string`: vendors pack min/max or extra
 * fields into the 48-bit raw value (194 "32 (Min/Max 24/38)" has raw.value 163210330144), and smartctl's
 * string is the decoded number it prints in its table.
 */
function ataAttributes(doc: Record<string, unknown>): Map<number, AtaAttr> {
  const table = asObj(doc['ata_smart_attributes'])['table']
  const out = new Map<number, AtaAttr>()
  for (const row of Array.isArray(table) ? table : []) {
    const o = asObj(row)
    const id = int(o['id'])
    if (id === undefined) {
      continue
    }
    const raw = asObj(o['raw'])
    const m = /^\s*(\d+)/.exec(str(raw['string']) ?? '')
    out.set(id, {
      id,
      name: str(o['name']) ?? `attr${id}`,
      raw: m ? Number(m[1]) : int(raw['value']),
      whenFailed: str(o['when_failed']) ?? '',
    })
  }
  return out
}

function scsiUncorrected(doc: Record<string, unknown>): number | undefined {
  const log = asObj(doc['scsi_error_counter_log'])
  let total: number | undefined
  for (const dir of ['read', 'write', 'verify']) {
    const v = int(asObj(log[dir])['total_uncorrected_errors'])
    if (v !== undefined) {
      total = (total ?? 0) + v
    }
  }
  return total
}

function messagesOf(smartctl: Record<string, unknown>): string[] {
  const msgs = Array.isArray(smartctl['messages']) ? smartctl['messages'] : []
  return msgs
    .map((m: unknown) => (str(asObj(m)['string']) ?? '').slice(0, 256))
    .filter((s) => s.length > 0)
    .slice(0, 32)
}

function normalizeProtocol(p: string | undefined): DiskHealth['protocol'] {
  return p === 'ATA' || p === 'NVMe' || p === 'SCSI' ? p : 'unknown'
}

function parseJson(json: string): Record<string, unknown> {
  try {
    return asObj(JSON.parse(json))
  } catch {
    return {}
  }
}

function asObj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {}
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, 256) : undefined
}

function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined
}

function positive(v: number | undefined): number | undefined {
  return v !== undefined && v > 0 ? v : undefined
}

function joinDefined(...parts: (string | undefined)[]): string | undefined {
  const s = parts.filter((p) => p !== undefined).join(' ')
  return s === '' ? undefined : s
}

function assign<K extends keyof DiskHealth>(o: DiskHealth, k: K, v: DiskHealth[K] | undefined): void {
  if (v !== undefined) {
    o[k] = v
  }
}
