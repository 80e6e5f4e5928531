// Why the pool keeps operations in flight in an IdTable and not in a Map (hsm/id-table.ts): churned through a Map
// that lives in the old generation, operations that are long finished still survive young-generation collections
// and are promoted; through the table, they are not. Measured as old-space growth across young collections only.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { IdTable } from '../../hsm/id-table.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'major' | 'minor' }) => void;
const oldSpaceUsed = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;

const OPS = 200_000;
const IN_FLIGHT = 8;

interface Item {
  id: number;
  payload: number[];
}

/** Old-space growth, in bytes, from OPS operations passing through `hold`/`release`, 8 at a time. */
function churn(hold: (item: Item) => void, release: (id: number) => void, make: (id: number) => Item): number {
  gc({ type: 'major' });
  gc({ type: 'major' }); // the container is in the old generation now, as a long-lived pool's is
  const before = oldSpaceUsed();
  for (let id = 1; id <= OPS; id++) {
    hold(make(id));
    if (id > IN_FLIGHT) release(id - IN_FLIGHT);
  }
  for (let id = OPS - IN_FLIGHT + 1; id <= OPS; id++) release(id);
  gc({ type: 'minor' });
  gc({ type: 'minor' });
  return oldSpaceUsed() - before;
}

// Separate allocation sites for each case: V8 decides per site whether to allocate straight into the old
// generation, so a site whose objects were promoted in one case would distort the other.
const makeForTable = (id: number): Item => ({ id, payload: new Array<number>(100).fill(id) });
const makeForMap = (id: number): Item => ({ id, payload: new Array<number>(100).fill(id) });

describe('operations in flight and the young generation', () => {
  it('an IdTable promotes nothing of the operations that passed through it', () => {
    const table = new IdTable<Item>();
    const grown = churn((i) => table.set(i), (id) => void table.take(id), makeForTable);
    expect(table.size).toBe(0);
    expect(grown).toBeLessThan(256 * 1024);
  });

  it('a Map does (the measurement above can tell)', () => {
    const map = new Map<number, Item>();
    // How much a Map keeps depends on where its rehashes fall between collections: the most of three rounds.
    const grown = Math.max(...[1, 2, 3].map(() => churn((i) => void map.set(i.id, i), (id) => void map.delete(id), makeForMap)));
    expect(map.size).toBe(0);
    expect(grown).toBeGreaterThan(512 * 1024);
  });
});
