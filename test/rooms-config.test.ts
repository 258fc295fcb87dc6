import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ALL_ACTORS, RoomConfigError, loadRoomConfig, readRoomConfigFile } from '../src/rooms/config.js'

const examples = join(import.meta.dirname, '..', 'examples')

/** A valid rounds-mode room; each bad case below edits one spot of it. */
const GOOD = `name: tiny
mode: rounds
moderator: mod
limits:
  max_rounds: 3
agents:
  - name: mod
    role: You run the game.
    kind: heuristic
  - name: ann
    role: You play.
    kind: llm
    model: llama3
  - name: bob
    role: You play.
    kind: human
rule_prompt: Be nice.
end_game_prompt: Stop after three rounds.
`

function problemsOf(text: string, file = 'room.yaml'): string[] {
  try {
    loadRoomConfig(text, file)
  } catch (error) {
    expect(error).to.be.instanceOf(RoomConfigError)
    return (error as RoomConfigError).message.split('\n')
  }
  expect.fail('expected a RoomConfigError')
}

describe('room config', () => {
  it('loads the werewolf example', async () => {
    const config = await readRoomConfigFile(join(examples, 'werewolf.yaml'))
    expect(config.mode).to.equal('rounds')
    expect(config.limits.max_rounds).to.be.a('number')
    expect(config.moderator).to.equal('Moderator')
    expect(config.agents.length).to.be.within(7, 9)
    expect(config.agents.every((a) => a.kind === 'heuristic')).to.equal(true)
    const cards = (config.roles ?? []).reduce((n, r) => n + r.count, 0)
    expect(cards).to.equal(config.agents.length - 1)
    expect(config.roles?.map((r) => r.name)).to.include.members(['werewolf', 'seer', 'witch', 'villager'])
    expect(config.phases?.some((p) => p.visibility === 'private')).to.equal(true)
    expect(config.phases?.some((p) => p.actors.includes(ALL_ACTORS))).to.equal(true)
  })

  it('loads the debate example', () => {
    const file = join(examples, 'debate.yaml')
    const config = loadRoomConfig(readFileSync(file, 'utf8'), file)
    expect(config.mode).to.be.oneOf(['ordered', 'concurrent'])
    expect(config.agents.map((a) => a.name)).to.include(config.moderator)
    expect(config.game?.['motion']).to.be.a('string')
  })

  it('fills limits defaults and resolves llm models', () => {
    const config = loadRoomConfig(GOOD.replace('    model: llama3\n', '').replace('mode: rounds', 'mode: rounds\ndefault_model: qwen'), 'room.yaml')
    expect(config.limits).to.include({ max_rounds: 3, max_messages: 500 })
    expect(config.agents[1]?.model).to.equal('qwen')
    const fromEnv = loadRoomConfig(GOOD.replace('    model: llama3\n', ''), 'room.yaml', { defaultModel: 'env-model' })
    expect(fromEnv.agents[1]?.model).to.equal('env-model')
  })

  it('reports a YAML syntax error with its line', () => {
    const lines = problemsOf(GOOD.replace('  max_rounds: 3', '  max_rounds: [3'))
    expect(lines[0]).to.match(/^room\.yaml:6:\d+: yaml: /)
  })

  it('reports a duplicate YAML key with its line', () => {
    const lines = problemsOf(GOOD.replace('rule_prompt: Be nice.', 'rule_prompt: Be nice.\nrule_prompt: twice'))
    expect(lines).to.have.length(1)
    expect(lines[0]).to.match(/^room\.yaml:18:1: yaml: .*unique/)
  })

  it('reports a missing field at the mapping that lacks it', () => {
    expect(problemsOf(GOOD.replace('    role: You play.\n    kind: human\n', '    kind: human\n'))).to.deep.equal([
      'room.yaml:14:5: agents[2].role: missing required field (expected string)',
    ])
    expect(problemsOf(GOOD.replace('end_game_prompt: Stop after three rounds.\n', ''))).to.deep.equal([
      'room.yaml:1:1: end_game_prompt: missing required field (expected string)',
    ])
  })

  it('reports a wrong enum value with the allowed values and the line of the value', () => {
    expect(problemsOf(GOOD.replace('kind: human', 'kind: robot'), 'werewolf.yaml')).to.deep.equal([
      'werewolf.yaml:16:11: agents[2].kind: expected one of llm | heuristic | human, got "robot"',
    ])
    expect(problemsOf(GOOD.replace('mode: rounds', 'mode: chaos'))).to.deep.equal([
      'room.yaml:2:7: mode: expected one of rounds | ordered | concurrent, got "chaos"',
    ])
  })

  it('reports a wrong type', () => {
    expect(problemsOf(GOOD.replace('max_rounds: 3', 'max_rounds: three'))).to.deep.equal([
      'room.yaml:5:15: limits.max_rounds: expected number, got "three"',
    ])
    expect(problemsOf(GOOD.replace('max_rounds: 3', 'max_rounds: 2.5'))).to.deep.equal([
      'room.yaml:5:15: limits.max_rounds: expected int, got number 2.5',
    ])
    expect(problemsOf(GOOD.replace('agents:\n', 'agents: everyone\nx:\n'))[0]).to.match(/^room\.yaml:6:9: agents: expected array, got "everyone"$/)
  })

  it('reports a duplicate agent name at the second one', () => {
    expect(problemsOf(GOOD.replace('name: bob', 'name: ann'))).to.deep.equal([
      'room.yaml:14:11: agents[2].name: duplicate agent name "ann" (first at agents[1])',
    ])
  })

  it('reports a malformed agent name', () => {
    expect(problemsOf(GOOD.replace('name: bob', 'name: bob>ann'))).to.deep.equal([
      'room.yaml:14:11: agents[2].name: must be 1..32 characters of A-Z a-z 0-9 _ -',
    ])
  })

  it('reports an unknown moderator', () => {
    expect(problemsOf(GOOD.replace('moderator: mod', 'moderator: god'))).to.deep.equal([
      'room.yaml:3:12: moderator: "god" is not one of the agents',
    ])
  })

  it('requires max_rounds in rounds mode, pointing at limits', () => {
    expect(problemsOf(GOOD.replace('  max_rounds: 3\n', '  max_messages: 10\n'))).to.deep.equal([
      'room.yaml:5:3: limits.max_rounds: required when mode is rounds',
    ])
    expect(() => loadRoomConfig(GOOD.replace('mode: rounds', 'mode: concurrent').replace('  max_rounds: 3\n', '  max_messages: 10\n'), 'ok.yaml')).to.not.throw()
  })

  it('requires a model for llm agents when there is no default', () => {
    expect(problemsOf(GOOD.replace('    model: llama3\n', ''))).to.deep.equal([
      'room.yaml:10:5: agents[1].model: an llm agent needs a model (or set default_model)',
    ])
  })

  it('reports an unknown field at its key', () => {
    expect(problemsOf(GOOD.replace('    kind: human\n', '    kind: human\n    knd: llm\n'))).to.deep.equal([
      'room.yaml:17:5: agents[2].knd: unknown field',
    ])
  })

  it('checks role cards against players and phase actors against roles and agents', () => {
    const withDeck = `${GOOD}roles:
  - name: wolf
    prompt: Eat.
  - name: seer
    count: 2
    prompt: See.
phases:
  - name: night
    visibility: private
    actors: [mod, wolf, ghost]
    prompt: Night.
`
    expect(problemsOf(withDeck)).to.deep.equal([
      'room.yaml:20:3: roles: 3 role cards for 2 players (one card per non-moderator agent)',
      'room.yaml:28:25: phases[0].actors[2]: "ghost" is neither "all", a role nor an agent',
    ])
  })

  it('lists every schema problem, one per line, in file order', () => {
    const lines = problemsOf(GOOD.replace('kind: human', 'kind: robot').replace('mode: rounds', 'mode: 7'))
    expect(lines).to.have.length(2)
    expect(lines[0]).to.match(/^room\.yaml:2:7: mode: /)
    expect(lines[1]).to.match(/^room\.yaml:16:11: agents\[2\]\.kind: /)
  })
})
