// Every number of the town's game, in one place. rules.ts reads only from here, and
// docs/rules-table.md mirrors this file for the README.
//
// The numbers were picked so that a lone villager of any occupation, buying its inputs,
// its food and a temp_room every night from the merchant, still ends each day with more
// coins than it started with (see "sustainability" in test/town-rules.test.ts):
//   farmer    2 harvests/day: +2*(5*4 - 3) = +34, food ~0.5 bread = -9, room -10  => ~ +15/day
//   chef      2 bakes/day:    +2*(2*14 - 3*6) = +20, no food needed, room -10     => ~ +10/day
//   carpenter 2 houses/day:   +2*(80 - 10*5) = +60, food ~1.5 bread = -27, room -10 => ~ +23/day

import type { Item, MerchantPrices, Occupation, Recipe } from './rules.js';

export const STAMINA = {
  min: 0,
  max: 100,
  // Sleep covers one day of hunger plus a chef's two bakes, so bakers never need food;
  // farmers and carpenters work harder and must buy some bread, which keeps chefs in business.
  sleepRestore: 40,
  hungerPerDay: 10,
  breadRestore: 20,
  // Working in the evening means working instead of resting.
  eveningWorkSurcharge: 20,
} as const;

export const VILLAGER_START = {
  // Enough for a carpenter's first 10 wood (50) plus a few nights of temp_room.
  coins: 100,
  stamina: STAMINA.max,
  items: { seed: 0, wheat: 0, bread: 0, wood: 0, house: 0, temp_room: 0 },
} as const satisfies { coins: number; stamina: number; items: Record<Item, number> };

export const RECIPES = {
  farmer: { input: { item: 'seed', quantity: 1 }, output: { item: 'wheat', quantity: 5 }, stamina: 20 },
  chef: { input: { item: 'wheat', quantity: 3 }, output: { item: 'bread', quantity: 2 }, stamina: 15 },
  carpenter: { input: { item: 'wood', quantity: 10 }, output: { item: 'house', quantity: 1 }, stamina: 30 },
} as const satisfies Record<Occupation, Recipe>;

export const MERCHANT_PRICES = {
  // What a villager pays the merchant, per unit.
  sells: {
    seed: 3,
    wood: 5,
    // One night's bed for the houseless; cheap enough to pay every night, dear enough
    // that a house (80+) pays for itself in about two weeks.
    temp_room: 10,
    // Marked up over the merchant's buying price so that selling back is never a profit,
    // yet a chef with no farmer around can still bake at a profit (3*6 = 18 < 2*14 = 28).
    wheat: 6,
    bread: 18,
  },
  // What the merchant pays a villager, per unit. Always below its selling price.
  buys: {
    wheat: 4,
    bread: 14,
    house: 80,
  },
} as const satisfies MerchantPrices;

export const LIMITS = {
  // Bounds one order so that quantity * price can never approach the coin guard.
  maxOrderQuantity: 1000,
  // Beyond this, integer arithmetic on coins and counts stops being exact.
  maxCoins: Number.MAX_SAFE_INTEGER,
  maxItemCount: Number.MAX_SAFE_INTEGER,
} as const;

export const PROFILE_LIMITS = {
  nameMaxLength: 32,
  genderMaxLength: 32,
  personalityMaxLength: 200,
} as const;

export const TIME = {
  firstDay: 1,
} as const;
