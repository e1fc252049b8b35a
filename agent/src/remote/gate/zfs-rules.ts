/**
 * What the forced-command gate lets a Backstop peer run with `zfs`/`zpool` over ssh (authorized_keys
 * `command="backstop-agent remote-gate …",restrict`). Two roles, never both on one key:
 * - `receive` (the target of a push): `zfs receive` only into datasets below `prefix`, the listing, holds and
 *   resume-token reads the sender needs there. No destroy, rollback, `-F`, rename, set or send: a compromised
 *   sender can add replicas but not remove or roll back the ones that are there (zrepl#224 / PR #952).
 * - `send` (the source of a pull): `zfs send` of the listed datasets (and their descendants) and their listing
 *   and holds. No receive, destroy or send of anything else.
 * Pure: argv in, decision out. Options are parsed as getopt would (clustered letters, attached or separate values),
 * and every operand must be a plain ZFS name, so `-F` hidden after an operand (glibc getopt permutes) is refused too.
 */
export type ZfsGateRules =
  | { readonly role: 'receive'; readonly prefix: string }
  | { readonly role: 'send'; readonly datasets: readonly string[] }

/**
 * `resumeToken`: allowed only once the gate has decoded the token and found that it resumes a snapshot of a listed
 * dataset (gate.ts, resumeTokenRefusal): a token is opaque here and could name any dataset of the pool.
 */
export type GateDecision =
  { readonly allow: true; readonly resumeToken?: string } | { readonly allow: false; readonly reason: string }

interface VerbRule {
  /** Option letters without a value. */
  readonly flags: string
  /** Option letters with a value, and the check of that value. */
  readonly valued?: Readonly<Record<string, (v: string) => boolean>>
  /** Checks the operands; returns why they are refused, or null. */
  readonly operands: (ops: readonly string[]) => string | null
}

/** Properties a peer may read: what replication planning needs, nothing that changes anything. */
const readableProps = new Set([
  'name',
  'guid',
  'createtxg',
  'creation',
  'userrefs',
  'used',
  'referenced',
  'receive_resume_token',
  'mountpoint',
  'property',
  'value',
  'avail',
  'available',
])
const propList = (v: string): boolean => v.split(',').every((p) => readableProps.has(p))
const zpoolFields = new Set(['name', 'size', 'allocated', 'alloc', 'free', 'capacity', 'cap', 'health', 'guid', 'frag'])

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*(@[A-Za-z0-9_.:-]+)?$/
/** Hold tags Backstop uses (`backstop-<job>-<target>`): a peer cannot release an operator's own holds. */
const TAG = /^backstop-[A-Za-z0-9_.:-]+$/

function datasetOf(name: string): string {
  const at = name.indexOf('@')
  return at < 0 ? name : name.slice(0, at)
}

function below(name: string, roots: readonly string[], strict: boolean): boolean {
  const ds = datasetOf(name)
  return roots.some((r) => (!strict && ds === r) || ds.startsWith(`${r}/`))
}

/** Every operand is a ZFS name at or below one of `roots` (strictly below for receive targets). */
function names(roots: readonly string[], what: { snapshots: 'only' | 'never' | 'any'; strict?: boolean }) {
  return (ops: readonly string[]): string | null => {
    if (ops.length === 0) {
      return 'a dataset name is required'
    }
    for (const o of ops) {
      if (!NAME.test(o)) {
        return `"${o}" is not a plain ZFS name`
      }
      if (what.snapshots === 'only' && !o.includes('@')) {
        return `"${o}" is not a snapshot`
      }
      if (what.snapshots === 'never' && o.includes('@')) {
        return `"${o}" is a snapshot`
      }
      if (!below(o, roots, what.strict ?? false)) {
        return `"${o}" is outside ${roots.join(', ')}`
      }
    }
    return null
  }
}

const poolsOf = (roots: readonly string[]): string[] => [...new Set(roots.map((r) => r.split('/')[0]!))]

function zpoolRules(roots: readonly string[]): Record<string, VerbRule> {
  const pools = (ops: readonly string[]): string | null =>
    ops.length === 1 && poolsOf(roots).includes(ops[0]!) ? null : `only pool ${poolsOf(roots).join(', ')}`
  return {
    list: { flags: 'Hp', valued: { o: (v) => v.split(',').every((f) => zpoolFields.has(f)) }, operands: pools },
    status: { flags: 'p', operands: pools },
  }
}

/** The read-only verbs both roles need: listing snapshots/datasets and reading properties. */
function listingRules(roots: readonly string[]): Record<string, VerbRule> {
  const any = names(roots, { snapshots: 'any' })
  return {
    list: {
      flags: 'Hpr',
      valued: {
        o: propList,
        t: (v) => v.split(',').every((t) => ['snapshot', 'filesystem', 'volume'].includes(t)),
        s: (v) => readableProps.has(v),
        d: (v) => /^[0-9]+$/.test(v),
      },
      operands: any,
    },
    get: {
      flags: 'Hpr',
      valued: { o: propList, d: (v) => /^[0-9]+$/.test(v) },
      operands: (ops) => (ops.length > 0 && propList(ops[0]!) ? any(ops.slice(1)) : 'only replication properties'),
    },
    hold: {
      flags: '',
      operands: (ops) => (TAG.test(ops[0] ?? '') ? names(roots, { snapshots: 'only' })(ops.slice(1)) : 'tag'),
    },
    release: {
      flags: '',
      operands: (ops) => (TAG.test(ops[0] ?? '') ? names(roots, { snapshots: 'only' })(ops.slice(1)) : 'tag'),
    },
  }
}

function zfsRules(rules: ZfsGateRules): Record<string, VerbRule> {
  if (rules.role === 'receive') {
    const roots = [rules.prefix]
    const inside = names(roots, { snapshots: 'never', strict: true })
    return {
      ...listingRules(roots),
      create: {
        flags: 'p',
        valued: { o: (v) => v === 'mountpoint=none' },
        operands: (ops) => (ops.length === 1 && (ops[0] === rules.prefix || inside(ops) === null) ? null : 'prefix'),
      },
      receive: {
        // -F (rollback/destroy), -d/-e (names from the stream) and any other -o are refused.
        flags: 'usA',
        valued: { o: (v) => v === 'canmount=noauto' },
        operands: (ops) => (ops.length === 1 ? inside(ops) : 'exactly one target dataset'),
      },
    }
  }
  const roots = rules.datasets
  return {
    ...listingRules(roots),
    send: {
      // -R would add every descendant's properties and -p the properties; the rest change only the encoding.
      flags: 'cwLe',
      valued: { I: (v) => names(roots, { snapshots: 'only' })([v]) === null },
      operands: (ops) => (ops.length === 1 ? names(roots, { snapshots: 'only' })(ops) : 'exactly one snapshot'),
    },
  }
}

/** Splits getopt-style options from operands; null with a reason on an unknown option. */
function parseOptions(args: readonly string[], rule: VerbRule): { ops: string[] } | { reason: string } {
  let i = 0
  for (; i < args.length; i++) {
    const a = args[i]!
    if (a === '--' || !a.startsWith('-') || a === '-') {
      break
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!
      const check = rule.valued?.[c]
      if (check !== undefined) {
        const v = j + 1 < a.length ? a.slice(j + 1) : args[++i]
        if (v === undefined || !check(v)) {
          return { reason: `option -${c} ${v ?? '(missing)'} is not allowed` }
        }
        break
      }
      if (!rule.flags.includes(c)) {
        return { reason: `option -${c} is not allowed` }
      }
    }
  }
  const ops = args.slice(args[i] === '--' ? i + 1 : i)
  const late = ops.find((o) => o.startsWith('-'))
  return late === undefined ? { ops } : { reason: `option ${late} after an operand is not allowed` }
}

/** OpenZFS's receive_resume_token: `<version>-<checksum>-<length>-<packed nvlist>`, all hex. */
const RESUME_TOKEN = /^[0-9]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+$/

/** Why the send role may not send `snapshot` (outside its datasets, not a plain snapshot name), or null. */
export function sendRefusal(snapshot: string, rules: Extract<ZfsGateRules, { role: 'send' }>): string | null {
  return names(rules.datasets, { snapshots: 'only' })([snapshot])
}

/** The decision for one argv (already split by the gate, without a shell). */
export function checkZfsCommand(argv: readonly string[], rules: ZfsGateRules): GateDecision {
  const deny = (reason: string): GateDecision => ({ allow: false, reason: `${argv.join(' ')}: ${reason}` })
  const [cmd, verb, ...rest] = argv
  // A pull resumes a cut transfer with exactly `zfs send -t <token>`; the gate decodes the token before running it.
  if (rules.role === 'send' && cmd === 'zfs' && verb === 'send' && rest[0] === '-t' && rest.length === 2) {
    const token = rest[1]!
    return RESUME_TOKEN.test(token) && token.length <= 65_536 ? { allow: true, resumeToken: token } : deny('token')
  }
  if (cmd !== 'zfs' && cmd !== 'zpool') {
    return deny('only zfs and zpool')
  }
  if (verb === undefined) {
    // `zfs` alone prints its usage: the peer reads which flags this CLI has (resume, -u, -c).
    return { allow: true }
  }
  const roots = rules.role === 'receive' ? [rules.prefix] : rules.datasets
  const rule = (cmd === 'zfs' ? zfsRules(rules) : zpoolRules(roots))[verb]
  if (rule === undefined) {
    return deny(`${cmd} ${verb} is not allowed for the ${rules.role} role`)
  }
  const parsed = parseOptions(rest, rule)
  if ('reason' in parsed) {
    return deny(parsed.reason)
  }
  const bad = rule.operands(parsed.ops)
  return bad === null ? { allow: true } : deny(bad)
}
