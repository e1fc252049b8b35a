/**
 * Splits SSH_ORIGINAL_COMMAND into argv without a shell. It accepts exactly what `remoteCommandLine`
 * (agent/src/remote/ssh.ts) produces — plain words, single-quoted words, `\'` between quoted parts — and refuses
 * everything a shell would treat specially (`;`, `|`, `&`, `$`, backticks, redirections, globs, double quotes,
 * newlines …), so what the gate checks is what runs: no second command, no expansion, no redirection.
 */
export type SplitResult = { readonly argv: string[] } | { readonly reason: string }

const PLAIN = /[A-Za-z0-9_@%+=:,./-]/

export function splitCommandLine(line: string): SplitResult {
  const argv: string[] = []
  let word: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === ' ' || c === '\t') {
      if (word !== null) {
        argv.push(word)
        word = null
      }
      continue
    }
    if (c === "'") {
      const end = line.indexOf("'", i + 1)
      if (end < 0) {
        return { reason: `unterminated single quote at column ${i + 1}` }
      }
      word = (word ?? '') + line.slice(i + 1, end)
      i = end
      continue
    }
    if (c === '\\' && line[i + 1] === "'") {
      word = (word ?? '') + "'"
      i++
      continue
    }
    if (!PLAIN.test(c)) {
      return { reason: `shell metacharacter ${JSON.stringify(c)} at column ${i + 1} outside single quotes` }
    }
    word = (word ?? '') + c
  }
  if (word !== null) {
    argv.push(word)
  }
  return argv.length === 0 ? { reason: 'an empty command (an interactive login is not allowed)' } : { argv }
}
