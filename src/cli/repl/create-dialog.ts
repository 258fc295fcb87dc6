/**
 * `create`: one question per field of the villager's profile, each answer checked
 * as it is given (the same rules as the villager's: src/town/rules.ts), so a bad
 * answer is asked again instead of failing the whole form at the end.
 */
import { PROFILE_LIMITS } from '../../town/constants.js'
import { OCCUPATIONS, type Occupation } from '../../town/rules.js'
import { ApiError } from './api-client.js'
import { formatVillager } from './format.js'
import type { ReplContext } from './context.js'

type Check<T> = { ok: true, value: T } | { ok: false, problem: string }

const NAME_PATTERN = /^[\p{L}\p{Nd}_-]+$/u
const CONTROL_CHARACTER = /\p{Cc}/u
const DEFAULT_GENDER = 'unspecified'

export function checkName (answer: string): Check<string> {
  const name = answer.trim()
  if (name === '') return { ok: false, problem: 'a villager needs a name' }
  if ([...name].length > PROFILE_LIMITS.nameMaxLength || !NAME_PATTERN.test(name)) {
    return { ok: false, problem: `a name is 1 to ${PROFILE_LIMITS.nameMaxLength} letters, digits, _ or - (no spaces)` }
  }
  return { ok: true, value: name }
}

/** An occupation, or an unambiguous start of one (`f` is farmer). */
export function checkOccupation (answer: string): Check<Occupation> {
  const word = answer.trim().toLowerCase()
  const matches = word === '' ? [] : OCCUPATIONS.filter(o => o.startsWith(word))
  if (matches.length === 1) return { ok: true, value: matches[0]! }
  return { ok: false, problem: `the occupation is one of ${OCCUPATIONS.join(', ')}` }
}

export function checkGender (answer: string): Check<string> {
  const gender = answer.trim()
  if (gender === '') return { ok: true, value: DEFAULT_GENDER }
  if ([...gender].length > PROFILE_LIMITS.genderMaxLength || CONTROL_CHARACTER.test(gender)) {
    return { ok: false, problem: `gender is at most ${PROFILE_LIMITS.genderMaxLength} printable characters` }
  }
  return { ok: true, value: gender }
}

export function checkPersonality (answer: string): Check<string> {
  const personality = answer.trim()
  if ([...personality].length > PROFILE_LIMITS.personalityMaxLength || CONTROL_CHARACTER.test(personality)) {
    return { ok: false, problem: `personality is at most ${PROFILE_LIMITS.personalityMaxLength} printable characters` }
  }
  return { ok: true, value: personality }
}

/**
 * Ask until the answer passes `check`; a word given on the command line is tried
 * first. Null when the player gives up (Ctrl-C) or input ends.
 */
async function askUntilValid<T> (ctx: ReplContext, question: string, check: (answer: string) => Check<T>, given?: string): Promise<T | null> {
  let answer: string | null | undefined = given
  while (true) {
    if (answer == null) answer = await ctx.ask(question)
    if (answer == null) return null
    const checked = check(answer)
    if (checked.ok) return checked.value
    ctx.print(`${checked.problem}; try again`)
    answer = undefined
  }
}

export async function createDialog (ctx: ReplContext, given: string[]): Promise<void> {
  // a data dir is one villager: say so before asking four questions for nothing
  try {
    const existing = await ctx.api.villager()
    ctx.print(`this peer is already ${existing.name} the ${existing.occupation}: one peer holds one villager (start another \`meshtown villager\` for a new one)`)
    return
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err
  }
  const name = await askUntilValid(ctx, 'name: ', checkName, given[0])
  const occupation = name == null ? null : await askUntilValid(ctx, `occupation (${OCCUPATIONS.join(', ')}): `, checkOccupation, given[1])
  const gender = occupation == null ? null : await askUntilValid(ctx, `gender [${DEFAULT_GENDER}]: `, checkGender, given[2])
  const personality = gender == null ? null : await askUntilValid(ctx, 'personality (a few words, optional): ', checkPersonality, given.length > 3 ? given.slice(3).join(' ') : undefined)
  if (name == null || occupation == null || gender == null || personality == null) {
    ctx.print('create cancelled: no villager was made')
    return
  }
  const villager = await ctx.api.create({ name, occupation, gender, personality })
  ctx.print(`created ${villager.name} the ${villager.occupation}`)
  ctx.print(formatVillager(villager))
  await ctx.watcher.refreshHealth()
}
