import { expect } from 'chai';
import fc from 'fast-check';

import { LIMITS, MERCHANT_PRICES, PROFILE_LIMITS, RECIPES, STAMINA, TIME, VILLAGER_START } from '../src/town/constants.js';
import {
  ITEMS,
  OCCUPATIONS,
  PERIOD_ACTIONS,
  PERIODS,
  RULE_ERROR_CODES,
  applyPeriodAction,
  buyFromMerchant,
  comparePeriods,
  createVillager,
  eat,
  endOfDay,
  firstPeriod,
  idle,
  isEndOfDay,
  nextPeriod,
  periodIndex,
  produce,
  productionStaminaCost,
  recipeFor,
  sellToMerchant,
  sleep,
  totalHoldings,
  type Item,
  type MerchantPrices,
  type Occupation,
  type Period,
  type PeriodAction,
  type RuleEffect,
  type RuleErrorCode,
  type RuleResult,
  type RuleSuccess,
  type TownTime,
  type VillagerProfile,
  type VillagerState,
} from '../src/town/rules.js';

// ---------------------------------------------------------------------------------------
// Helpers

function profileOf(occupation: Occupation, overrides: Partial<VillagerProfile> = {}): VillagerProfile {
  return { name: `test_${occupation}`, occupation, gender: 'female', personality: 'steady', ...overrides };
}

function must<E extends RuleEffect>(result: RuleResult<E>): RuleSuccess<E> {
  if (!result.ok) throw new Error(`expected success, got ${result.code}: ${result.message}`);
  return result;
}

function villager(
  occupation: Occupation,
  overrides: Partial<Omit<VillagerState, 'items'>> & { items?: Partial<Record<Item, number>> } = {},
): VillagerState {
  const created = must(createVillager(profileOf(occupation))).state;
  return { ...created, ...overrides, items: { ...created.items, ...overrides.items } };
}

/** Runs a rule that must refuse, and checks it refused with `code` and left its input untouched. */
function expectRefusal(
  state: VillagerState,
  rule: (input: VillagerState) => RuleResult,
  code: RuleErrorCode,
): string {
  const before = structuredClone(state);
  const result = rule(state);
  if (result.ok) throw new Error(`expected ${code}, got success with effect ${JSON.stringify(result.effect)}`);
  expect(result.code).to.equal(code);
  expect(result.message).to.be.a('string').and.not.equal('');
  expect(state).to.deep.equal(before);
  return result.message;
}

/** Runs a rule that must succeed, and checks it returned a new state without touching its input. */
function expectApplied<E extends RuleEffect>(state: VillagerState, rule: (input: VillagerState) => RuleResult<E>): RuleSuccess<E> {
  const before = structuredClone(state);
  const result = must(rule(state));
  expect(state).to.deep.equal(before);
  expect(result.state).to.not.equal(state);
  expect(result.state.items).to.not.equal(state.items);
  return result;
}

function expectStaminaInBounds(state: VillagerState): void {
  expect(state.stamina).to.be.within(STAMINA.min, STAMINA.max);
}

// ---------------------------------------------------------------------------------------

describe('town rules', () => {
  describe('the constants table', () => {
    it('has the recipes of the town', () => {
      expect(RECIPES.farmer).to.deep.equal({ input: { item: 'seed', quantity: 1 }, output: { item: 'wheat', quantity: 5 }, stamina: 20 });
      expect(RECIPES.chef).to.deep.equal({ input: { item: 'wheat', quantity: 3 }, output: { item: 'bread', quantity: 2 }, stamina: 15 });
      expect(RECIPES.carpenter).to.deep.equal({ input: { item: 'wood', quantity: 10 }, output: { item: 'house', quantity: 1 }, stamina: 30 });
    });

    it('bounds stamina to 0..100 and starts villagers inside the bounds', () => {
      expect(STAMINA.min).to.equal(0);
      expect(STAMINA.max).to.equal(100);
      expect(VILLAGER_START.stamina).to.be.within(STAMINA.min, STAMINA.max);
      expect(STAMINA.hungerPerDay).to.equal(10);
      expect(STAMINA.eveningWorkSurcharge).to.equal(20);
    });

    it('has the merchant sell seed, wood, temp_room, wheat and bread, and buy wheat, bread and house', () => {
      expect(Object.keys(MERCHANT_PRICES.sells).sort()).to.deep.equal(['bread', 'seed', 'temp_room', 'wheat', 'wood']);
      expect(Object.keys(MERCHANT_PRICES.buys).sort()).to.deep.equal(['bread', 'house', 'wheat']);
    });

    it('prices everything in positive whole coins', () => {
      for (const price of [...Object.values(MERCHANT_PRICES.sells), ...Object.values(MERCHANT_PRICES.buys)]) {
        expect(Number.isSafeInteger(price) && price >= 1, `price ${price}`).to.equal(true);
      }
    });

    it('never lets a villager profit from buying from the merchant and selling straight back', () => {
      for (const item of ITEMS) {
        const sells = MERCHANT_PRICES.sells[item as keyof typeof MERCHANT_PRICES.sells];
        const buys = MERCHANT_PRICES.buys[item as keyof typeof MERCHANT_PRICES.buys];
        if (sells !== undefined && buys !== undefined) expect(sells, item).to.be.greaterThan(buys);
      }
    });

    it('makes every recipe profitable with inputs bought from the merchant and outputs sold to it', () => {
      for (const occupation of OCCUPATIONS) {
        const { input, output } = recipeFor(occupation);
        const inputCost = unitSellPrice(input.item) * input.quantity;
        const outputValue = unitBuyPrice(output.item) * output.quantity;
        expect(outputValue, occupation).to.be.greaterThan(inputCost);
      }
    });

    it('leaves every lone villager working twice a day with a positive daily balance after food and a temp_room', () => {
      for (const occupation of OCCUPATIONS) {
        expect(dailyBalanceOfLoneWorker(occupation), occupation).to.be.greaterThan(0);
      }
    });

    it('keeps orders small enough that no order can overflow the coin guard', () => {
      const dearest = Math.max(...Object.values(MERCHANT_PRICES.sells), ...Object.values(MERCHANT_PRICES.buys));
      expect(dearest * LIMITS.maxOrderQuantity).to.be.lessThan(LIMITS.maxCoins);
      expect(LIMITS.maxCoins).to.equal(Number.MAX_SAFE_INTEGER);
    });
  });

  describe('createVillager', () => {
    it('gives a valid profile the starting coins, stamina and empty inventory', () => {
      const profile = profileOf('farmer', { name: 'Alice' });
      const before = structuredClone(profile);
      const result = must(createVillager(profile));
      expect(profile).to.deep.equal(before);
      expect(result.effect).to.deep.equal({ kind: 'created' });
      expect(result.state).to.deep.equal({
        name: 'Alice',
        occupation: 'farmer',
        gender: 'female',
        personality: 'steady',
        stamina: VILLAGER_START.stamina,
        coins: VILLAGER_START.coins,
        items: { seed: 0, wheat: 0, bread: 0, wood: 0, house: 0, temp_room: 0 },
      });
    });

    it('accepts every occupation, names of letters, digits, _ and -, and free-text gender', () => {
      for (const occupation of OCCUPATIONS) must(createVillager(profileOf(occupation)));
      for (const name of ['a', 'Bob_2', 'x-y', 'Zoë', '小明', 'n'.repeat(PROFILE_LIMITS.nameMaxLength)]) {
        expect(must(createVillager(profileOf('chef', { name }))).state.name).to.equal(name);
      }
      expect(must(createVillager(profileOf('chef', { gender: 'non-binary' }))).state.gender).to.equal('non-binary');
      expect(must(createVillager(profileOf('chef', { personality: '' }))).state.personality).to.equal('');
    });

    it('keeps only the profile fields and trims gender and personality', () => {
      const noisy = { ...profileOf('carpenter', { gender: '  male ', personality: ' calm  ' }), coins: 1e9 } as VillagerProfile;
      const state = must(createVillager(noisy)).state;
      expect(state.coins).to.equal(VILLAGER_START.coins);
      expect(state.gender).to.equal('male');
      expect(state.personality).to.equal('calm');
    });

    const invalidProfiles: Array<[string, unknown]> = [
      ['an empty name', { name: '' }],
      ['a name too long', { name: 'n'.repeat(PROFILE_LIMITS.nameMaxLength + 1) }],
      ['a name with a space', { name: 'Al ice' }],
      ['a name with punctuation', { name: 'alice!' }],
      ['a name that is not a string', { name: 42 }],
      ['an unknown occupation', { occupation: 'merchant' }],
      ['an empty gender', { gender: '' }],
      ['a blank gender', { gender: '   ' }],
      ['a gender too long', { gender: 'g'.repeat(PROFILE_LIMITS.genderMaxLength + 1) }],
      ['a gender with a control character', { gender: 'fe\u0000male' }],
      ['a personality too long', { personality: 'p'.repeat(PROFILE_LIMITS.personalityMaxLength + 1) }],
      ['a personality that is not a string', { personality: undefined }],
    ];
    for (const [what, override] of invalidProfiles) {
      it(`refuses ${what}`, () => {
        const profile = { ...profileOf('farmer'), ...(override as object) } as VillagerProfile;
        const before = structuredClone(profile);
        const result = createVillager(profile);
        expect(result.ok).to.equal(false);
        if (!result.ok) {
          expect(result.code).to.equal('INVALID_PROFILE');
          expect(result.message).to.not.equal('');
        }
        expect(profile).to.deep.equal(before);
      });
    }

    it('refuses something that is not a profile at all', () => {
      const result = createVillager(null as unknown as VillagerProfile);
      expect(result.ok).to.equal(false);
      if (!result.ok) expect(result.code).to.equal('INVALID_PROFILE');
    });
  });

  describe('produce', () => {
    it('turns a farmer\'s 1 seed into 5 wheat for 20 stamina', () => {
      const farmer = villager('farmer', { items: { seed: 2 } });
      const { state, effect } = expectApplied(farmer, (s) => produce(s, 'morning'));
      expect(state.items.seed).to.equal(1);
      expect(state.items.wheat).to.equal(5);
      expect(state.stamina).to.equal(80);
      expect(state.coins).to.equal(farmer.coins);
      expect(effect).to.deep.equal({
        kind: 'produced',
        consumed: { item: 'seed', quantity: 1 },
        produced: { item: 'wheat', quantity: 5 },
        staminaSpent: 20,
        eveningSurcharge: 0,
      });
    });

    it('turns a chef\'s 3 wheat into 2 bread for 15 stamina', () => {
      const { state } = expectApplied(villager('chef', { items: { wheat: 3 } }), (s) => produce(s, 'noon'));
      expect(state.items).to.include({ wheat: 0, bread: 2 });
      expect(state.stamina).to.equal(85);
    });

    it('turns a carpenter\'s 10 wood into 1 house for 30 stamina', () => {
      const { state } = expectApplied(villager('carpenter', { items: { wood: 10 } }), (s) => produce(s, 'morning'));
      expect(state.items).to.include({ wood: 0, house: 1 });
      expect(state.stamina).to.equal(70);
    });

    it('costs 20 more stamina in the evening', () => {
      for (const occupation of OCCUPATIONS) {
        const { input } = recipeFor(occupation);
        const worker = villager(occupation, { items: { [input.item]: input.quantity } });
        const { state, effect } = expectApplied(worker, (s) => produce(s, 'evening'));
        const expectedCost = RECIPES[occupation].stamina + STAMINA.eveningWorkSurcharge;
        expect(state.stamina, occupation).to.equal(STAMINA.max - expectedCost);
        expect(effect.staminaSpent).to.equal(expectedCost);
        expect(effect.eveningSurcharge).to.equal(STAMINA.eveningWorkSurcharge);
        expect(productionStaminaCost(occupation, 'evening')).to.equal(expectedCost);
        expect(productionStaminaCost(occupation, 'morning')).to.equal(RECIPES[occupation].stamina);
      }
    });

    it('may spend the last point of stamina', () => {
      const { state } = expectApplied(villager('farmer', { stamina: 20, items: { seed: 1 } }), (s) => produce(s, 'noon'));
      expect(state.stamina).to.equal(0);
    });

    it('refuses without inputs and says what to buy', () => {
      const message = expectRefusal(villager('farmer'), (s) => produce(s, 'morning'), 'MISSING_INPUTS');
      expect(message).to.equal('farmer needs 1 seed to produce, has 0: buy seed from the merchant');
      const chefMessage = expectRefusal(villager('chef', { items: { wheat: 2 } }), (s) => produce(s, 'morning'), 'MISSING_INPUTS');
      expect(chefMessage).to.contain('needs 3 wheat').and.contain('has 2').and.contain('buy wheat');
      expectRefusal(villager('carpenter', { items: { wood: 9 } }), (s) => produce(s, 'morning'), 'MISSING_INPUTS');
    });

    it('refuses without enough stamina and says how to get it', () => {
      const message = expectRefusal(villager('farmer', { stamina: 19, items: { seed: 1 } }), (s) => produce(s, 'morning'), 'NOT_ENOUGH_STAMINA');
      expect(message).to.contain('needs 20 stamina').and.contain('has 19').and.contain('eat bread');
    });

    it('refuses in the evening what it allows at noon because of the surcharge', () => {
      const tired = villager('farmer', { stamina: 30, items: { seed: 1 } });
      must(produce(tired, 'noon'));
      const message = expectRefusal(tired, (s) => produce(s, 'evening'), 'NOT_ENOUGH_STAMINA');
      expect(message).to.contain('needs 40 stamina').and.contain('evening surcharge');
    });

    it('refuses an unknown period', () => {
      expectRefusal(villager('farmer', { items: { seed: 1 } }), (s) => produce(s, 'midnight' as Period), 'INVALID_PERIOD');
    });

    it('refuses to grow a pile beyond the item guard', () => {
      const hoarder = villager('farmer', { items: { seed: 1, wheat: LIMITS.maxItemCount - 4 } });
      expectRefusal(hoarder, (s) => produce(s, 'morning'), 'LIMIT_EXCEEDED');
    });
  });

  describe('sleep', () => {
    it('uses up one temp_room and restores stamina', () => {
      const { state, effect } = expectApplied(villager('chef', { stamina: 30, items: { temp_room: 2 } }), sleep);
      expect(state.stamina).to.equal(30 + STAMINA.sleepRestore);
      expect(state.items.temp_room).to.equal(1);
      expect(effect).to.deep.equal({ kind: 'slept', bed: 'temp_room', staminaRestored: STAMINA.sleepRestore });
    });

    it('sleeps in a house without using it up, keeping temp_rooms for later', () => {
      const { state, effect } = expectApplied(villager('chef', { stamina: 30, items: { house: 1, temp_room: 1 } }), sleep);
      expect(state.items).to.include({ house: 1, temp_room: 1 });
      expect(effect.bed).to.equal('house');
    });

    it('caps stamina at 100 and reports only what was gained', () => {
      const { state, effect } = expectApplied(villager('chef', { stamina: 90, items: { house: 1 } }), sleep);
      expect(state.stamina).to.equal(STAMINA.max);
      expect(effect.staminaRestored).to.equal(10);
    });

    it('refuses without a house or a temp_room and says where to get one', () => {
      const message = expectRefusal(villager('chef', { stamina: 10 }), sleep, 'NO_BED');
      expect(message).to.contain('temp_room').and.contain('merchant');
    });
  });

  describe('idle', () => {
    it('changes nothing but returns a new state', () => {
      const resting = villager('carpenter', { stamina: 55, items: { wood: 3 } });
      const { state, effect } = expectApplied(resting, idle);
      expect(state).to.deep.equal(resting);
      expect(effect).to.deep.equal({ kind: 'idled' });
    });
  });

  describe('applyPeriodAction', () => {
    it('dispatches produce, sleep and idle', () => {
      const ready = villager('farmer', { stamina: 50, items: { seed: 1, temp_room: 1 } });
      expect(must(applyPeriodAction(ready, 'produce', 'morning')).effect.kind).to.equal('produced');
      expect(must(applyPeriodAction(ready, 'sleep', 'evening')).effect.kind).to.equal('slept');
      expect(must(applyPeriodAction(ready, 'idle', 'noon')).effect.kind).to.equal('idled');
      expect(must(applyPeriodAction(ready, 'produce', 'evening')).state).to.deep.equal(must(produce(ready, 'evening')).state);
    });

    it('passes refusals through and refuses unknown actions and periods', () => {
      expectRefusal(villager('farmer'), (s) => applyPeriodAction(s, 'produce', 'morning'), 'MISSING_INPUTS');
      expectRefusal(villager('farmer'), (s) => applyPeriodAction(s, 'sleep', 'evening'), 'NO_BED');
      expectRefusal(villager('farmer'), (s) => applyPeriodAction(s, 'dance' as PeriodAction, 'noon'), 'INVALID_ACTION');
      expectRefusal(villager('farmer'), (s) => applyPeriodAction(s, 'idle', 'dusk' as Period), 'INVALID_PERIOD');
    });
  });

  describe('eat', () => {
    it('eats one bread by default and restores stamina', () => {
      const { state, effect } = expectApplied(villager('farmer', { stamina: 40, items: { bread: 2 } }), (s) => eat(s));
      expect(state.stamina).to.equal(40 + STAMINA.breadRestore);
      expect(state.items.bread).to.equal(1);
      expect(effect).to.deep.equal({ kind: 'ate', bread: 1, staminaRestored: STAMINA.breadRestore });
    });

    it('eats several bread at once, capped at 100', () => {
      const { state, effect } = expectApplied(villager('farmer', { stamina: 70, items: { bread: 3 } }), (s) => eat(s, 2));
      expect(state.stamina).to.equal(STAMINA.max);
      expect(state.items.bread).to.equal(1);
      expect(effect.staminaRestored).to.equal(30);
    });

    it('refuses without bread and says where to get some', () => {
      const message = expectRefusal(villager('farmer', { stamina: 10 }), (s) => eat(s), 'NOTHING_TO_EAT');
      expect(message).to.contain('bread').and.contain('merchant');
    });

    it('refuses to eat more bread than held', () => {
      expectRefusal(villager('farmer', { stamina: 10, items: { bread: 1 } }), (s) => eat(s, 2), 'NOT_ENOUGH_ITEMS');
    });

    it('refuses to waste bread at full stamina', () => {
      expectRefusal(villager('farmer', { items: { bread: 1 } }), (s) => eat(s), 'STAMINA_FULL');
    });

    it('refuses quantities that are not whole numbers from 1 to the order limit', () => {
      for (const quantity of [0, -1, 1.5, Number.NaN, Infinity, LIMITS.maxOrderQuantity + 1]) {
        expectRefusal(villager('farmer', { stamina: 10, items: { bread: 5 } }), (s) => eat(s, quantity), 'INVALID_QUANTITY');
      }
    });
  });

  describe('endOfDay', () => {
    it('takes 10 stamina for hunger', () => {
      const { state, effect } = expectApplied(villager('chef', { stamina: 55 }), endOfDay);
      expect(state.stamina).to.equal(45);
      expect(effect).to.deep.equal({ kind: 'hunger', staminaLost: STAMINA.hungerPerDay });
    });

    it('never takes stamina below 0', () => {
      const { state, effect } = expectApplied(villager('chef', { stamina: 4 }), endOfDay);
      expect(state.stamina).to.equal(0);
      expect(effect.staminaLost).to.equal(4);
      expect(must(endOfDay(state)).state.stamina).to.equal(0);
    });
  });

  describe('buyFromMerchant', () => {
    it('charges quantity times the unit price and hands over the items', () => {
      const { state, effect } = expectApplied(villager('farmer'), (s) => buyFromMerchant(s, 'seed', 7, MERCHANT_PRICES));
      expect(state.coins).to.equal(VILLAGER_START.coins - 7 * MERCHANT_PRICES.sells.seed);
      expect(state.items.seed).to.equal(7);
      expect(effect).to.deep.equal({ kind: 'bought', item: 'seed', quantity: 7, unitPrice: MERCHANT_PRICES.sells.seed, coinsPaid: 21 });
    });

    it('sells every item on its list, and may spend the last coin', () => {
      for (const item of ITEMS) {
        const price = MERCHANT_PRICES.sells[item as keyof typeof MERCHANT_PRICES.sells];
        if (price === undefined) continue;
        const { state } = expectApplied(villager('chef', { coins: price * 3 }), (s) => buyFromMerchant(s, item, 3));
        expect(state.coins, item).to.equal(0);
        expect(state.items[item], item).to.equal(3);
      }
    });

    it('uses the prices it is given', () => {
      const prices: MerchantPrices = { sells: { seed: 7 }, buys: {} };
      expect(must(buyFromMerchant(villager('farmer'), 'seed', 2, prices)).effect.coinsPaid).to.equal(14);
      expectRefusal(villager('farmer'), (s) => buyFromMerchant(s, 'wood', 1, prices), 'NOT_FOR_SALE');
    });

    it('refuses items the merchant does not sell and lists what it does', () => {
      const message = expectRefusal(villager('farmer'), (s) => buyFromMerchant(s, 'house', 1), 'NOT_FOR_SALE');
      expect(message).to.contain('does not sell house').and.contain('seed');
    });

    it('refuses without enough coins and says the cost', () => {
      const message = expectRefusal(villager('carpenter', { coins: 49 }), (s) => buyFromMerchant(s, 'wood', 10), 'NOT_ENOUGH_COINS');
      expect(message).to.contain('costs 50 coins').and.contain('has 49');
    });

    it('refuses invalid quantities, items and prices', () => {
      for (const quantity of [0, -3, 2.5, Number.NaN, LIMITS.maxOrderQuantity + 1]) {
        expectRefusal(villager('farmer'), (s) => buyFromMerchant(s, 'seed', quantity), 'INVALID_QUANTITY');
      }
      expectRefusal(villager('farmer'), (s) => buyFromMerchant(s, 'gold' as Item, 1), 'INVALID_ITEM');
      for (const price of [0, -1, 1.5, Number.NaN]) {
        expectRefusal(villager('farmer'), (s) => buyFromMerchant(s, 'seed', 1, { sells: { seed: price }, buys: {} }), 'INVALID_PRICE');
      }
    });

    it('allows the largest order when the villager can pay for it', () => {
      const rich = villager('farmer', { coins: LIMITS.maxOrderQuantity * MERCHANT_PRICES.sells.seed });
      expect(must(buyFromMerchant(rich, 'seed', LIMITS.maxOrderQuantity)).state.items.seed).to.equal(LIMITS.maxOrderQuantity);
    });

    it('refuses orders whose cost or pile would pass the guards', () => {
      const hugePrice: MerchantPrices = { sells: { seed: Number.MAX_SAFE_INTEGER }, buys: {} };
      expectRefusal(villager('farmer', { coins: LIMITS.maxCoins }), (s) => buyFromMerchant(s, 'seed', 2, hugePrice), 'LIMIT_EXCEEDED');
      expectRefusal(villager('farmer', { items: { seed: LIMITS.maxItemCount } }), (s) => buyFromMerchant(s, 'seed', 1), 'LIMIT_EXCEEDED');
    });
  });

  describe('sellToMerchant', () => {
    it('pays quantity times the unit price and takes the items', () => {
      const { state, effect } = expectApplied(villager('farmer', { items: { wheat: 12 } }), (s) => sellToMerchant(s, 'wheat', 10, MERCHANT_PRICES));
      expect(state.coins).to.equal(VILLAGER_START.coins + 10 * MERCHANT_PRICES.buys.wheat);
      expect(state.items.wheat).to.equal(2);
      expect(effect).to.deep.equal({ kind: 'sold', item: 'wheat', quantity: 10, unitPrice: MERCHANT_PRICES.buys.wheat, coinsReceived: 40 });
    });

    it('buys bread and houses', () => {
      const { state } = expectApplied(villager('carpenter', { items: { house: 2, bread: 1 } }), (s) => sellToMerchant(s, 'house', 2));
      expect(state.coins).to.equal(VILLAGER_START.coins + 2 * MERCHANT_PRICES.buys.house);
      expect(must(sellToMerchant(state, 'bread', 1)).state.coins).to.equal(state.coins + MERCHANT_PRICES.buys.bread);
    });

    it('refuses items the merchant does not buy and lists what it does', () => {
      const message = expectRefusal(villager('farmer', { items: { seed: 5 } }), (s) => sellToMerchant(s, 'seed', 1), 'NOT_BOUGHT');
      expect(message).to.contain('does not buy seed').and.contain('wheat');
      expectRefusal(villager('farmer', { items: { temp_room: 1 } }), (s) => sellToMerchant(s, 'temp_room', 1), 'NOT_BOUGHT');
    });

    it('refuses to sell more than held', () => {
      const message = expectRefusal(villager('farmer', { items: { wheat: 3 } }), (s) => sellToMerchant(s, 'wheat', 4), 'NOT_ENOUGH_ITEMS');
      expect(message).to.contain('has 3');
    });

    it('refuses invalid quantities, items and prices', () => {
      for (const quantity of [0, -1, 0.5, Infinity, LIMITS.maxOrderQuantity + 1]) {
        expectRefusal(villager('farmer', { items: { wheat: 5000 } }), (s) => sellToMerchant(s, 'wheat', quantity), 'INVALID_QUANTITY');
      }
      expectRefusal(villager('farmer'), (s) => sellToMerchant(s, 'gold' as Item, 1), 'INVALID_ITEM');
      expectRefusal(villager('farmer', { items: { wheat: 1 } }), (s) => sellToMerchant(s, 'wheat', 1, { sells: {}, buys: { wheat: -4 } }), 'INVALID_PRICE');
    });

    it('refuses a sale that would pass the coin guard', () => {
      const rich = villager('farmer', { coins: LIMITS.maxCoins - 3, items: { wheat: 1 } });
      expectRefusal(rich, (s) => sellToMerchant(s, 'wheat', 1), 'LIMIT_EXCEEDED');
    });
  });

  describe('time', () => {
    it('walks morning, noon, evening, then the next morning', () => {
      const walked: TownTime[] = [firstPeriod()];
      for (let step = 0; step < 4; step++) walked.push(nextPeriod(walked[walked.length - 1]!));
      expect(walked).to.deep.equal([
        { day: TIME.firstDay, period: 'morning' },
        { day: TIME.firstDay, period: 'noon' },
        { day: TIME.firstDay, period: 'evening' },
        { day: TIME.firstDay + 1, period: 'morning' },
        { day: TIME.firstDay + 1, period: 'noon' },
      ]);
    });

    it('does not mutate the time it is given', () => {
      const now: TownTime = { day: 3, period: 'evening' };
      nextPeriod(now);
      expect(now).to.deep.equal({ day: 3, period: 'evening' });
    });

    it('indexes periods within a day and marks evening as the end of it', () => {
      expect(PERIODS.map(periodIndex)).to.deep.equal([0, 1, 2]);
      expect(PERIODS.map(isEndOfDay)).to.deep.equal([false, false, true]);
    });

    it('orders (day, period) by day first, then by period', () => {
      expect(comparePeriods({ day: 1, period: 'evening' }, { day: 2, period: 'morning' })).to.equal(-1);
      expect(comparePeriods({ day: 2, period: 'morning' }, { day: 1, period: 'evening' })).to.equal(1);
      expect(comparePeriods({ day: 5, period: 'noon' }, { day: 5, period: 'morning' })).to.equal(1);
      expect(comparePeriods({ day: 5, period: 'noon' }, { day: 5, period: 'noon' })).to.equal(0);
    });

    it('agrees with the order in which nextPeriod walks', () => {
      const townTime = fc.record({ day: fc.integer({ min: 0, max: 10_000 }), period: fc.constantFrom(...PERIODS) });
      fc.assert(
        fc.property(townTime, townTime, (a, b) => {
          expect(comparePeriods(nextPeriod(a), a)).to.equal(1);
          expect(comparePeriods(a, b)).to.equal(-comparePeriods(b, a) || 0);
          expect(comparePeriods(a, b)).to.equal(Math.sign(absoluteIndex(a) - absoluteIndex(b)) || 0);
        }),
      );
    });
  });

  describe('totalHoldings', () => {
    it('sums coins and every item over villagers', () => {
      const a = villager('farmer', { coins: 5, items: { seed: 2, wheat: 1 } });
      const b = villager('chef', { coins: 7, items: { wheat: 3, bread: 4, temp_room: 1 } });
      expect(totalHoldings([a, b])).to.deep.equal({
        coins: 12,
        items: { seed: 2, wheat: 4, bread: 4, wood: 0, house: 0, temp_room: 1 },
      });
    });

    it('is zero for nobody', () => {
      expect(totalHoldings([])).to.deep.equal({ coins: 0, items: { seed: 0, wheat: 0, bread: 0, wood: 0, house: 0, temp_room: 0 } });
    });

    it('changes by exactly what the merchant paid or received', () => {
      const farmer = villager('farmer', { items: { wheat: 5 } });
      const sold = must(sellToMerchant(farmer, 'wheat', 5));
      const before = totalHoldings([farmer]);
      const after = totalHoldings([sold.state]);
      expect(after.coins - before.coins).to.equal(sold.effect.coinsReceived);
      expect(before.items.wheat - after.items.wheat).to.equal(5);
    });
  });

  describe('any sequence of actions', () => {
    it('keeps stamina in 0..100, counts whole and non-negative, and refusals harmless', () => {
      fc.assert(
        fc.property(fc.constantFrom(...OCCUPATIONS), fc.array(anyAction, { maxLength: 60 }), (occupation, actions) => {
          let state = villager(occupation);
          for (const action of actions) {
            const before = structuredClone(state);
            const result = runAction(state, action);
            expect(state).to.deep.equal(before);
            if (result.ok) state = result.state;
            else expect(RULE_ERROR_CODES).to.include(result.code);
            expectStaminaInBounds(state);
            expect(Number.isSafeInteger(state.coins) && state.coins >= 0).to.equal(true);
            for (const item of ITEMS) expect(Number.isSafeInteger(state.items[item]) && state.items[item] >= 0).to.equal(true);
          }
        }),
        { numRuns: 300 },
      );
    });
  });

  describe('sustainability', () => {
    const days = 30;
    for (const occupation of OCCUPATIONS) {
      it(`a lone ${occupation} trading only with the merchant lives ${days} days and gets richer`, () => {
        const diary = liveAlone(occupation, days);
        for (const page of diary) {
          expect(page.stamina, `stamina on day ${page.day}`).to.be.greaterThan(0);
          expect(page.coins, `coins on day ${page.day}`).to.be.greaterThan(0);
        }
        const first = diary[0]!;
        const middle = diary[Math.floor(days / 2)]!;
        const last = diary[days - 1]!;
        expect(last.coins).to.be.greaterThan(middle.coins);
        expect(middle.coins).to.be.greaterThan(first.coins);
        expect(last.coins).to.be.greaterThan(VILLAGER_START.coins);
      });
    }

    it('a lone carpenter ends up sleeping in its own house', () => {
      const diary = liveAlone('carpenter', days);
      expect(diary[days - 1]!.houses).to.equal(1);
    });
  });
});

// ---------------------------------------------------------------------------------------
// Economics and simulation helpers

function unitSellPrice(item: Item): number {
  const price = (MERCHANT_PRICES.sells as Partial<Record<Item, number>>)[item];
  if (price === undefined) throw new Error(`merchant does not sell ${item}`);
  return price;
}

function unitBuyPrice(item: Item): number {
  const price = (MERCHANT_PRICES.buys as Partial<Record<Item, number>>)[item];
  if (price === undefined) throw new Error(`merchant does not buy ${item}`);
  return price;
}

/** Coins per day, in the long run, of working morning and noon and sleeping in a temp_room. */
function dailyBalanceOfLoneWorker(occupation: Occupation): number {
  const { input, output, stamina } = recipeFor(occupation);
  const productionsPerDay = 2;
  const profitPerProduction = unitBuyPrice(output.item) * output.quantity - unitSellPrice(input.item) * input.quantity;
  const staminaDeficit = Math.max(0, productionsPerDay * stamina + STAMINA.hungerPerDay - STAMINA.sleepRestore);
  const breadPerDay = staminaDeficit / STAMINA.breadRestore;
  return productionsPerDay * profitPerProduction - breadPerDay * unitSellPrice('bread') - unitSellPrice('temp_room');
}

interface DiaryPage {
  day: number;
  coins: number;
  stamina: number;
  houses: number;
}

/**
 * A deterministic, sensible policy: work morning and noon (eating bought bread first when
 * too tired, buying exactly the inputs needed), sell the output (a carpenter keeps its first
 * house), and sleep every evening (buying a temp_room while homeless).
 */
function liveAlone(occupation: Occupation, days: number): DiaryPage[] {
  let state = villager(occupation);
  const diary: DiaryPage[] = [];
  for (let day = TIME.firstDay; day < TIME.firstDay + days; day++) {
    for (const period of PERIODS) {
      state = isEndOfDay(period) ? sleepTonight(state) : work(state, period);
    }
    state = must(endOfDay(state)).state;
    diary.push({ day, coins: state.coins, stamina: state.stamina, houses: state.items.house });
  }
  return diary;
}

function work(state: VillagerState, period: Period): VillagerState {
  const { input, output } = recipeFor(state.occupation);
  let next = state;
  while (next.stamina < productionStaminaCost(next.occupation, period)) {
    if (next.items.bread === 0) next = must(buyFromMerchant(next, 'bread', 1)).state;
    next = must(eat(next)).state;
  }
  const missing = input.quantity - next.items[input.item];
  if (missing > 0) next = must(buyFromMerchant(next, input.item, missing)).state;
  next = must(produce(next, period)).state;
  const keep = output.item === 'house' ? 1 : 0;
  const surplus = next.items[output.item] - keep;
  return surplus > 0 ? must(sellToMerchant(next, output.item, surplus)).state : next;
}

function sleepTonight(state: VillagerState): VillagerState {
  const needsRoom = state.items.house === 0 && state.items.temp_room === 0;
  const ready = needsRoom ? must(buyFromMerchant(state, 'temp_room', 1)).state : state;
  return must(sleep(ready)).state;
}

// ---------------------------------------------------------------------------------------
// Random actions for the property test

type AnyAction =
  | { kind: 'period'; action: PeriodAction; period: Period }
  | { kind: 'eat'; quantity: number }
  | { kind: 'endOfDay' }
  | { kind: 'buy'; item: Item; quantity: number }
  | { kind: 'sell'; item: Item; quantity: number };

const anyQuantity = fc.oneof(fc.integer({ min: 1, max: 15 }), fc.integer({ min: -2, max: 1200 }), fc.double());

const anyAction: fc.Arbitrary<AnyAction> = fc.oneof(
  fc.record({ kind: fc.constant('period' as const), action: fc.constantFrom(...PERIOD_ACTIONS), period: fc.constantFrom(...PERIODS) }),
  fc.record({ kind: fc.constant('eat' as const), quantity: anyQuantity }),
  fc.record({ kind: fc.constant('endOfDay' as const) }),
  fc.record({ kind: fc.constant('buy' as const), item: fc.constantFrom(...ITEMS), quantity: anyQuantity }),
  fc.record({ kind: fc.constant('sell' as const), item: fc.constantFrom(...ITEMS), quantity: anyQuantity }),
);

function runAction(state: VillagerState, action: AnyAction): RuleResult {
  switch (action.kind) {
    case 'period':
      return applyPeriodAction(state, action.action, action.period);
    case 'eat':
      return eat(state, action.quantity);
    case 'endOfDay':
      return endOfDay(state);
    case 'buy':
      return buyFromMerchant(state, action.item, action.quantity);
    case 'sell':
      return sellToMerchant(state, action.item, action.quantity);
  }
}

function absoluteIndex(time: TownTime): number {
  return time.day * PERIODS.length + periodIndex(time.period);
}
