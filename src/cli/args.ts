import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { DEFAULT_CONFIG_FILE } from '../config-file.js'
import type { NodeOptions } from '../options.js'

/** Flags every command that starts a node understands. */
export const NODE_FLAGS = {
  name: { type: 'string' },
  group: { type: 'string', multiple: true },
  header: { type: 'string', multiple: true },
  bootstrap: { type: 'string', multiple: true },
  listen: { type: 'string', multiple: true },
  'no-mdns': { type: 'boolean' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

export class UsageError extends Error {}

export function parse<O extends Record<string, any>> (argv: string[], extra: O): Record<string, any> {
  try {
    return parseArgs({ args: argv, options: { ...NODE_FLAGS, ...extra }, strict: true, allowPositionals: false }).values
  } catch (err: any) {
    throw new UsageError(err.message)
  }
}

/** Turns flags into node options; ./shoal.config.json is read when present and no --config is given. */
export function nodeOptions (v: Record<string, any>): NodeOptions {
  const headers: Record<string, string> = {}
  for (const h of (v.header ?? []) as string[]) {
    const i = h.indexOf('=')
    if (i <= 0) throw new UsageError(`--header wants key=value, got "${h}"`)
    headers[h.slice(0, i)] = h.slice(i + 1)
  }
  const o: NodeOptions = {}
  if (v.config != null) o.config = v.config
  else if (existsSync(DEFAULT_CONFIG_FILE)) o.config = true
  if (v.name != null) o.name = v.name
  if (v.header != null) o.headers = headers
  if (v.bootstrap != null) o.bootstrap = v.bootstrap
  if (v.listen != null) o.listen = v.listen
  if (v['no-mdns'] === true) o.mdns = false
  if (v.group != null) o.groups = v.group
  return o
}

/** "3s", "500ms", "2" (seconds) -> milliseconds. */
export function duration (s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(s)
  if (m == null) throw new UsageError(`not a duration: "${s}" (try 3s or 500ms)`)
  return m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * 1000
}
