/**
 * Canonical JSON: the exact bytes that get signed. Object keys sorted by code unit, no whitespace,
 * `undefined` members dropped (as JSON.stringify does), non-finite numbers refused because they have no JSON
 * form and would make signer and verifier disagree.
 */
export function canonicalJson(value: unknown): string {
  return write(value, 0)
}

const MAX_DEPTH = 64

function write(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) {
    throw new TypeError(`canonicalJson: nesting deeper than ${MAX_DEPTH}`)
  }
  if (value === null) {
    return 'null'
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(value)) {
        throw new TypeError('canonicalJson: non-finite number')
      }
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((v) => (v === undefined ? 'null' : write(v, depth + 1))).join(',')}]`
      }
      const obj = value as Record<string, unknown>
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort()
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(obj[k], depth + 1)}`).join(',')}}`
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`)
  }
}
