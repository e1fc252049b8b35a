import type { Document, LineCounter } from 'yaml'
import { BackstopError } from '../errors.ts'

/**
 * Turning schema errors on a parsed YAML document into "file:line:col: field: message" — shared by the agent's
 * and the collector's config loaders. Pure: the caller parses the text and brings the LineCounter.
 */
export type FieldPath = (string | number)[]

/** One problem in a config file, where an operator finds it. */
export interface ConfigIssue {
  readonly file: string
  readonly line: number
  readonly column: number
  /** The field as an operator reads it (fieldName): `jobs[0].retention`, `enrollment.tokens[0]`. */
  readonly field: string
  readonly message: string
}

/** `file:line:column: field: message`, the form editors and grep understand. */
export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.field || '(root)'}: ${i.message}`
}

/** Thrown with every issue found (not just the first), one formatted issue per line. */
export class ConfigError extends BackstopError {
  readonly issues: readonly ConfigIssue[]
  constructor(issues: readonly ConfigIssue[]) {
    super('BK_ERR_CONFIG_INVALID', `\n${issues.map(formatIssue).join('\n')}`)
    this.issues = issues
  }
}

/** TypeBox's error, phrased for an operator: which fields are unknown or missing, not which keyword failed. */
export function explainSchemaError(e: { keyword: string; message: string; params: Record<string, unknown> }): string {
  if (e.keyword === 'additionalProperties' && Array.isArray(e.params['additionalProperties'])) {
    return `unknown field(s) ${(e.params['additionalProperties'] as string[]).map((p) => `"${p}"`).join(', ')}`
  }
  if (e.keyword === 'required' && Array.isArray(e.params['requiredProperties'])) {
    return `missing required field(s) ${(e.params['requiredProperties'] as string[]).map((p) => `"${p}"`).join(', ')}`
  }
  return e.message
}

/** JSON pointer (`/jobs/0/keepLast`) → path (`['jobs', 0, 'keepLast']`). */
export function pointerToPath(pointer: string): FieldPath {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')))
}

/** Path → the name an operator reads: `jobs[0].keepLast`. */
export function fieldName(path: FieldPath): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '')
}

/** Line/column of the deepest node of `path` present in the document (a missing field points at its parent). */
export function yamlPosition(doc: Document, lines: LineCounter, path: FieldPath): { line: number; column: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)
    const range = (node as { range?: [number, number, number] } | undefined)?.range
    if (range) {
      const pos = lines.linePos(range[0])
      return { line: pos.line, column: pos.col }
    }
  }
  return { line: 1, column: 1 }
}
