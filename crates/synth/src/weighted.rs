//! Drawing from a frequency table.

use rand::Rng;

/// Picks an item with probability proportional to its weight. `table` must not be empty.
pub fn pick<'a, T, R: Rng>(rng: &mut R, table: &'a [(T, u32)]) -> &'a T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for (item, w) in table {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &table[table.len() - 1].0
}
