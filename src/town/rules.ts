// The rules of the town as pure functions over plain, JSON-serialisable data.
// No libp2p, no I/O, no clocks: the services call these and decide what to do with the result.
// Every function returns a new state and never mutates its input, so a refused action
// leaves the caller holding exactly what it had.

import { LIMITS, MERCHANT_PRICES, PROFILE_LIMITS, RECIPES, STAMINA, TIME, VILLAGER_START } from './constants.js';

// ---------------------------------------------------------------------------------------
// Vocabulary

export const OCCUPATIONS = ['farmer', 'chef', 'carpenter'] as const;
export type Occupation = (typeof OCCUPATIONS)[number];

export const ITEMS = ['seed', 'wheat', 'bread', 'wood', 'house', 'temp_room'] as const;
export type Item = (typeof ITEMS)[number];

export const PERIODS = ['morning', 'noon', 'evening'] as const;
export type Period = (typeof PERIODS)[number];

export const PERIOD_ACTIONS = ['produce', 'sleep', 'idle'] as const;
export type PeriodAction = (typeof PERIOD_ACTIONS)[number];

/** Free text, validated by createVillager: non-empty, at most 32 characters. */
export type Gender = string;

export interface VillagerProfile {
  name: string;
  occupation: Occupation;
  gender: Gender;
  personality: string;
}

export type Inventory = Record<Item, number>;

export interface VillagerState extends VillagerProfile {
  stamina: number;
  coins: number;
  items: Inventory;
}

export interface ItemQuantity {
  readonly item: Item;
  readonly quantity: number;
}

export interface Recipe {
  readonly input: ItemQuantity;
  readonly output: ItemQuantity;
  readonly stamina: number;
}

/** Unit prices; an item missing from `sells` is not for sale, one missing from `buys` is not bought. */
export interface MerchantPrices {
  readonly sells: Readonly<Partial<Record<Item, number>>>;
  readonly buys: Readonly<Partial<Record<Item, number>>>;
}

/** A point in town time. Days count from TIME.firstDay. */
export interface TownTime {
  day: number;
  period: Period;
}

export function isOccupation(value: unknown): value is Occupation {
  return (OCCUPATIONS as readonly unknown[]).includes(value);
}

export function isItem(value: unknown): value is Item {
  return (ITEMS as readonly unknown[]).includes(value);
}

export function isPeriod(value: unknown): value is Period {
  return (PERIODS as readonly unknown[]).includes(value);
}

export function isPeriodAction(value: unknown): value is PeriodAction {
  return (PERIOD_ACTIONS as readonly unknown[]).includes(value);
}

// ---------------------------------------------------------------------------------------
// Results

export const RULE_ERROR_CODES = [
  'INVALID_PROFILE',
  'INVALID_ITEM',
  'INVALID_PERIOD',
  'INVALID_ACTION',
  'INVALID_QUANTITY',
  'INVALID_PRICE',
  'NOT_ENOUGH_STAMINA',
  'MISSING_INPUTS',
  'NO_BED',
  'NOTHING_TO_EAT',
  'STAMINA_FULL',
  'NOT_ENOUGH_COINS',
  'NOT_ENOUGH_ITEMS',
  'NOT_FOR_SALE',
  'NOT_BOUGHT',
  'LIMIT_EXCEEDED',
] as const;
export type RuleErrorCode = (typeof RULE_ERROR_CODES)[number];

export interface CreatedEffect {
  kind: 'created';
}
export interface ProducedEffect {
  kind: 'produced';
  consumed: ItemQuantity;
  produced: ItemQuantity;
  /** Total stamina spent, surcharge included. */
  staminaSpent: number;
  eveningSurcharge: number;
}
export interface SleptEffect {
  kind: 'slept';
  bed: 'house' | 'temp_room';
  /** What was actually gained after the cap, not the nominal restore amount. */
  staminaRestored: number;
}
export interface IdledEffect {
  kind: 'idled';
}
export interface AteEffect {
  kind: 'ate';
  bread: number;
  staminaRestored: number;
}
export interface HungerEffect {
  kind: 'hunger';
  staminaLost: number;
}
export interface BoughtEffect {
  kind: 'bought';
  item: Item;
  quantity: number;
  unitPrice: number;
  coinsPaid: number;
}
export interface SoldEffect {
  kind: 'sold';
  item: Item;
  quantity: number;
  unitPrice: number;
  coinsReceived: number;
}

export type PeriodActionEffect = ProducedEffect | SleptEffect | IdledEffect;
export type RuleEffect =
  | CreatedEffect
  | PeriodActionEffect
  | AteEffect
  | HungerEffect
  | BoughtEffect
  | SoldEffect;

export interface RuleSuccess<E extends RuleEffect> {
  ok: true;
  state: VillagerState;
  effect: E;
}
export interface RuleRefusal {
  ok: false;
  code: RuleErrorCode;
  message: string;
}
export type RuleResult<E extends RuleEffect = RuleEffect> = RuleSuccess<E> | RuleRefusal;

function refuse(code: RuleErrorCode, message: string): RuleRefusal {
  return { ok: false, code, message };
}

function succeed<E extends RuleEffect>(state: VillagerState, effect: E): RuleSuccess<E> {
  return { ok: true, state, effect };
}

// ---------------------------------------------------------------------------------------
// State helpers

function copyState(state: VillagerState): VillagerState {
  return { ...state, items: { ...state.items } };
}

function clampStamina(stamina: number): number {
  return Math.min(STAMINA.max, Math.max(STAMINA.min, stamina));
}

function withStamina(state: VillagerState, stamina: number): VillagerState {
  return { ...copyState(state), stamina: clampStamina(stamina) };
}

function withItemDelta(state: VillagerState, item: Item, delta: number): VillagerState {
  const next = copyState(state);
  next.items[item] = state.items[item] + delta;
  return next;
}

function isValidQuantity(quantity: unknown): quantity is number {
  return Number.isSafeInteger(quantity) && (quantity as number) >= 1 && (quantity as number) <= LIMITS.maxOrderQuantity;
}

function invalidQuantity(quantity: unknown): RuleRefusal {
  return refuse(
    'INVALID_QUANTITY',
    `quantity must be a whole number from 1 to ${LIMITS.maxOrderQuantity}, got ${String(quantity)}`,
  );
}

function characterCount(text: string): number {
  return [...text].length;
}

const NAME_PATTERN = /^[\p{L}\p{Nd}_-]+$/u;
const CONTROL_CHARACTER = /\p{Cc}/u;

// Where each input can be had, so a refusal can tell the villager what to do next.
const WHERE_TO_GET: Record<Item, string> = {
  seed: 'buy seed from the merchant',
  wheat: 'buy wheat from a farmer or the merchant',
  bread: 'buy bread from a chef or the merchant',
  wood: 'buy wood from the merchant',
  house: 'buy a house from a carpenter',
  temp_room: 'buy a temp_room from the merchant',
};

// ---------------------------------------------------------------------------------------
// Villagers

/** Validates a profile (it may come from a user or the wire) and gives it the starting belongings. */
export function createVillager(profile: VillagerProfile): RuleResult<CreatedEffect> {
  const problem = profileProblem(profile);
  if (problem !== undefined) return refuse('INVALID_PROFILE', problem);
  const state: VillagerState = {
    name: profile.name,
    occupation: profile.occupation,
    gender: profile.gender.trim(),
    personality: profile.personality.trim(),
    stamina: VILLAGER_START.stamina,
    coins: VILLAGER_START.coins,
    items: { ...VILLAGER_START.items },
  };
  return succeed(state, { kind: 'created' });
}

function profileProblem(profile: VillagerProfile): string | undefined {
  if (typeof profile !== 'object' || profile === null) return 'a villager profile must be an object';
  const { name, occupation, gender, personality } = profile as Partial<Record<keyof VillagerProfile, unknown>>;
  if (typeof name !== 'string' || characterCount(name) < 1 || characterCount(name) > PROFILE_LIMITS.nameMaxLength || !NAME_PATTERN.test(name)) {
    return `name must be 1 to ${PROFILE_LIMITS.nameMaxLength} letters, digits, _ or -, got ${JSON.stringify(name)}`;
  }
  if (!isOccupation(occupation)) {
    return `occupation must be one of ${OCCUPATIONS.join(', ')}, got ${JSON.stringify(occupation)}`;
  }
  if (typeof gender !== 'string' || gender.trim() === '' || characterCount(gender.trim()) > PROFILE_LIMITS.genderMaxLength || CONTROL_CHARACTER.test(gender)) {
    return `gender must be 1 to ${PROFILE_LIMITS.genderMaxLength} printable characters, got ${JSON.stringify(gender)}`;
  }
  if (typeof personality !== 'string' || characterCount(personality.trim()) > PROFILE_LIMITS.personalityMaxLength || CONTROL_CHARACTER.test(personality)) {
    return `personality must be at most ${PROFILE_LIMITS.personalityMaxLength} printable characters`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Period actions

export function recipeFor(occupation: Occupation): Recipe {
  return RECIPES[occupation];
}

/** Stamina a production costs in this period, evening surcharge included. */
export function productionStaminaCost(occupation: Occupation, period: Period): number {
  return recipeFor(occupation).stamina + eveningSurcharge(period);
}

function eveningSurcharge(period: Period): number {
  return period === 'evening' ? STAMINA.eveningWorkSurcharge : 0;
}

export function produce(state: VillagerState, period: Period): RuleResult<ProducedEffect> {
  if (!isPeriod(period)) return invalidPeriod(period);
  const { input, output } = recipeFor(state.occupation);
  const held = state.items[input.item];
  if (held < input.quantity) {
    return refuse(
      'MISSING_INPUTS',
      `${state.occupation} needs ${input.quantity} ${input.item} to produce, has ${held}: ${WHERE_TO_GET[input.item]}`,
    );
  }
  const surcharge = eveningSurcharge(period);
  const cost = productionStaminaCost(state.occupation, period);
  if (state.stamina < cost) {
    const why = surcharge > 0 ? ` in the evening (${cost - surcharge} + ${surcharge} evening surcharge)` : '';
    return refuse(
      'NOT_ENOUGH_STAMINA',
      `${state.occupation} needs ${cost} stamina to produce${why}, has ${state.stamina}: eat bread or sleep first`,
    );
  }
  if (state.items[output.item] > LIMITS.maxItemCount - output.quantity) {
    return refuse('LIMIT_EXCEEDED', `${state.name} cannot hold more ${output.item}: sell some first`);
  }
  const spent = withStamina(state, state.stamina - cost);
  const next = withItemDelta(withItemDelta(spent, input.item, -input.quantity), output.item, output.quantity);
  return succeed(next, {
    kind: 'produced',
    consumed: { item: input.item, quantity: input.quantity },
    produced: { item: output.item, quantity: output.quantity },
    staminaSpent: cost,
    eveningSurcharge: surcharge,
  });
}

/** A house is a bed for ever; without one, each night uses up a temp_room. */
export function sleep(state: VillagerState): RuleResult<SleptEffect> {
  const bed = state.items.house > 0 ? 'house' : state.items.temp_room > 0 ? 'temp_room' : undefined;
  if (bed === undefined) {
    return refuse('NO_BED', `${state.name} has no house and no temp_room to sleep in: ${WHERE_TO_GET.temp_room}`);
  }
  const rested = withStamina(state, state.stamina + STAMINA.sleepRestore);
  const next = bed === 'temp_room' ? withItemDelta(rested, 'temp_room', -1) : rested;
  return succeed(next, { kind: 'slept', bed, staminaRestored: next.stamina - state.stamina });
}

export function idle(state: VillagerState): RuleResult<IdledEffect> {
  return succeed(copyState(state), { kind: 'idled' });
}

export function applyPeriodAction(
  state: VillagerState,
  action: PeriodAction,
  period: Period,
): RuleResult<PeriodActionEffect> {
  if (!isPeriod(period)) return invalidPeriod(period);
  switch (action) {
    case 'produce':
      return produce(state, period);
    case 'sleep':
      return sleep(state);
    case 'idle':
      return idle(state);
    default:
      return refuse(
        'INVALID_ACTION',
        `action must be one of ${PERIOD_ACTIONS.join(', ')}, got ${JSON.stringify(action as unknown)}`,
      );
  }
}

function invalidPeriod(period: unknown): RuleRefusal {
  return refuse('INVALID_PERIOD', `period must be one of ${PERIODS.join(', ')}, got ${JSON.stringify(period)}`);
}

// ---------------------------------------------------------------------------------------
// Eating and hunger (they do not use the period's action)

export function eat(state: VillagerState, quantity = 1): RuleResult<AteEffect> {
  if (!isValidQuantity(quantity)) return invalidQuantity(quantity);
  const bread = state.items.bread;
  if (bread === 0) {
    return refuse('NOTHING_TO_EAT', `${state.name} has no bread to eat: ${WHERE_TO_GET.bread}`);
  }
  if (bread < quantity) {
    return refuse('NOT_ENOUGH_ITEMS', `${state.name} wants to eat ${quantity} bread but has ${bread}: eat ${bread} or buy more`);
  }
  // Refused rather than silently wasting bread on a full stomach.
  if (state.stamina >= STAMINA.max) {
    return refuse('STAMINA_FULL', `${state.name} already has full stamina (${STAMINA.max}): keep the bread for later`);
  }
  const fed = withStamina(state, state.stamina + quantity * STAMINA.breadRestore);
  const next = withItemDelta(fed, 'bread', -quantity);
  return succeed(next, { kind: 'ate', bread: quantity, staminaRestored: next.stamina - state.stamina });
}

export function endOfDay(state: VillagerState): RuleResult<HungerEffect> {
  const next = withStamina(state, state.stamina - STAMINA.hungerPerDay);
  return succeed(next, { kind: 'hunger', staminaLost: state.stamina - next.stamina });
}

// ---------------------------------------------------------------------------------------
// The merchant: a fixed-price counterparty that creates and destroys coins and items

export function buyFromMerchant(
  state: VillagerState,
  item: Item,
  quantity: number,
  prices: MerchantPrices = MERCHANT_PRICES,
): RuleResult<BoughtEffect> {
  if (!isItem(item)) return invalidItem(item);
  if (!isValidQuantity(quantity)) return invalidQuantity(quantity);
  const unitPrice = prices.sells[item];
  if (unitPrice === undefined) {
    return refuse('NOT_FOR_SALE', `the merchant does not sell ${item}; it sells ${listedItems(prices.sells)}`);
  }
  if (!isValidUnitPrice(unitPrice)) return invalidPrice(item, unitPrice);
  const cost = unitPrice * quantity;
  if (!Number.isSafeInteger(cost)) return refuse('LIMIT_EXCEEDED', `${quantity} ${item} would cost more coins than exist`);
  if (state.coins < cost) {
    return refuse(
      'NOT_ENOUGH_COINS',
      `${quantity} ${item} costs ${cost} coins (${unitPrice} each), ${state.name} has ${state.coins}: sell something or buy fewer`,
    );
  }
  if (state.items[item] > LIMITS.maxItemCount - quantity) {
    return refuse('LIMIT_EXCEEDED', `${state.name} cannot hold ${quantity} more ${item}`);
  }
  const next = withItemDelta({ ...copyState(state), coins: state.coins - cost }, item, quantity);
  return succeed(next, { kind: 'bought', item, quantity, unitPrice, coinsPaid: cost });
}

export function sellToMerchant(
  state: VillagerState,
  item: Item,
  quantity: number,
  prices: MerchantPrices = MERCHANT_PRICES,
): RuleResult<SoldEffect> {
  if (!isItem(item)) return invalidItem(item);
  if (!isValidQuantity(quantity)) return invalidQuantity(quantity);
  const unitPrice = prices.buys[item];
  if (unitPrice === undefined) {
    return refuse('NOT_BOUGHT', `the merchant does not buy ${item}; it buys ${listedItems(prices.buys)}`);
  }
  if (!isValidUnitPrice(unitPrice)) return invalidPrice(item, unitPrice);
  const held = state.items[item];
  if (held < quantity) {
    return refuse('NOT_ENOUGH_ITEMS', `${state.name} wants to sell ${quantity} ${item} but has ${held}: sell at most ${held}`);
  }
  const earned = unitPrice * quantity;
  if (!Number.isSafeInteger(earned) || state.coins > LIMITS.maxCoins - earned) {
    return refuse('LIMIT_EXCEEDED', `${state.name} cannot hold ${earned} more coins`);
  }
  const next = withItemDelta({ ...copyState(state), coins: state.coins + earned }, item, -quantity);
  return succeed(next, { kind: 'sold', item, quantity, unitPrice, coinsReceived: earned });
}

function isValidUnitPrice(price: number): boolean {
  return Number.isSafeInteger(price) && price >= 1;
}

function invalidPrice(item: Item, price: number): RuleRefusal {
  return refuse('INVALID_PRICE', `the merchant's price for ${item} must be a whole number of coins from 1, got ${price}`);
}

function invalidItem(item: unknown): RuleRefusal {
  return refuse('INVALID_ITEM', `item must be one of ${ITEMS.join(', ')}, got ${JSON.stringify(item)}`);
}

function listedItems(priceList: Readonly<Partial<Record<Item, number>>>): string {
  const listed = ITEMS.filter((item) => priceList[item] !== undefined);
  return listed.length > 0 ? listed.join(', ') : 'nothing';
}

// ---------------------------------------------------------------------------------------
// Time

export function periodIndex(period: Period): number {
  return PERIODS.indexOf(period);
}

export function isEndOfDay(period: Period): boolean {
  return periodIndex(period) === PERIODS.length - 1;
}

export function firstPeriod(): TownTime {
  return { day: TIME.firstDay, period: PERIODS[0] };
}

export function nextPeriod(time: TownTime): TownTime {
  const following = PERIODS[periodIndex(time.period) + 1];
  return following === undefined ? { day: time.day + 1, period: PERIODS[0] } : { day: time.day, period: following };
}

/** Total order on (day, period): negative if a is earlier, 0 if equal, positive if later. */
export function comparePeriods(a: TownTime, b: TownTime): -1 | 0 | 1 {
  if (a.day !== b.day) return a.day < b.day ? -1 : 1;
  const ai = periodIndex(a.period);
  const bi = periodIndex(b.period);
  return ai === bi ? 0 : ai < bi ? -1 : 1;
}

// ---------------------------------------------------------------------------------------
// Accounting

export interface Holdings {
  coins: number;
  items: Inventory;
}

/** Sum of coins and of each item over many villagers: what conservation checks compare. */
export function totalHoldings(states: readonly VillagerState[]): Holdings {
  const items = Object.fromEntries(ITEMS.map((item) => [item, 0])) as Inventory;
  let coins = 0;
  for (const state of states) {
    coins += state.coins;
    for (const item of ITEMS) items[item] += state.items[item];
  }
  return { coins, items };
}
