// Node-only edge: the core never touches the file system.
import { readFile } from 'node:fs/promises'
import { ConfigError } from './errors.js'
import { checkConfigObject, type NodeOptions } from './options.js'

export const DEFAULT_CONFIG_FILE = 'shoal.config.json'

/** Reads a config file; options given in code win over the file's. */
export async function withConfigFile (options: NodeOptions): Promise<NodeOptions> {
  if (options.config == null) return options
  const path = options.config === true ? DEFAULT_CONFIG_FILE : options.config
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err: any) {
    throw new ConfigError(`cannot read config file ${path}: ${err.code ?? err.message}`, { cause: err })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err: any) {
    throw new ConfigError(`${path} is not valid JSON: ${err.message}`, { cause: err })
  }
  const fromFile = checkConfigObject(parsed, path)
  const merged: NodeOptions = { ...fromFile }
  for (const [k, v] of Object.entries(options)) if (v !== undefined && k !== 'config') (merged as any)[k] = v
  return merged
}
