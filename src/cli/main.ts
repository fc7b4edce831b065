#!/usr/bin/env node
import { ShoalError } from '../errors.js'
import { UsageError } from './args.js'
import { chat, CHAT_USAGE } from './chat.js'
import { peers, PEERS_USAGE } from './peers.js'

const USAGE = `usage: shoal <command> [options]
  chat    join the mesh and chat: shout typed lines, whisper with /w
  peers   list the peers on the mesh
  sim     simulate a mesh of real nodes with faults and write a report
Run 'shoal <command> --help' for a command's options.

${CHAT_USAGE}

${PEERS_USAGE}`

const out = (line: string): void => { process.stdout.write(line + '\n') }
const [cmd, ...rest] = process.argv.slice(2)

try {
  if (cmd === 'chat') await chat(rest, out)
  else if (cmd === 'peers') await peers(rest, out)
  else if (cmd === 'sim') process.exitCode = await (await import('../../sim/cli.js')).sim(rest, out)
  else if (cmd === '--help' || cmd === '-h' || cmd === 'help') out(USAGE)
  else throw new UsageError(cmd == null ? 'no command given' : `unknown command "${cmd}"`)
} catch (err: any) {
  if (err instanceof UsageError) {
    process.stderr.write(`shoal: ${err.message}\n${USAGE}\n`)
    process.exitCode = 2
  } else if (err instanceof ShoalError || err?.name === 'ScenarioError') {
    process.stderr.write(`shoal: ${err.message}\n`)
    process.exitCode = 1
  } else {
    throw err
  }
}
