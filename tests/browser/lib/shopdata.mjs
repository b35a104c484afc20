// Synthetic shop for the snippet tests: 30 candles and decorations, and a
// deterministic event history (orders and viewing sessions) so that every
// recommendation type has something to answer once the models are trained.
//
// Groups: P1 is usually bought with P2 and P3 (bought_together / cart),
// viewed in sessions with P5 and P6 (also_viewed); customers who buy P1 also
// buy P7 in later orders (also_bought). P10..P14 are bought a lot in the
// last days (popular / trending).

/** Catalog items; url and image point at the shop (shopBase). */
export function shopItems(shopBase) {
  const items = [];
  for (let i = 1; i <= 30; i++) {
    items.push({
      id: `P${i}`,
      title: i === 1 ? 'Vanilla candle' : i === 2 ? 'Beeswax candle' : `Candle & holder <${i}>`,
      price: Math.round((2 + i * 1.25) * 100) / 100,
      currency: 'EUR',
      category: i % 3 === 0 ? 'Home > Decor' : 'Home > Candles',
      brand: i % 2 ? 'Lumen' : 'Wick & Co',
      url: `${shopBase}/product.html?sku=P${i}`,
      image_url: `${shopBase}/img.svg`,
    });
  }
  return items;
}

/** Event history: 60 customers, orders and view sessions over the last 20 days. */
export function shopEvents(now = Date.now()) {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const price = (id) => Math.round((2 + Number(id.slice(1)) * 1.25) * 100) / 100;
  const ev = [];
  let n = 0;
  for (let u = 1; u <= 60; u++) {
    const user = `hist-${u}`;
    const day = (d) => Math.floor(now - d * 86400000 - rnd() * 3600000);
    const order = (ids, d) => {
      n++;
      ev.push({type: 'purchase', user_id: user, order_id: `o${n}`, event_id: `hist-o${n}`, timestamp: day(d),
        items: ids.map((id) => ({item_id: id, quantity: 1, price: price(id)}))});
    };
    const session = (ids, d) => {
      const t = day(d);
      ids.forEach((id, k) => {
        n++;
        ev.push({type: 'product_view', user_id: user, item_id: id, session_id: `${user}-s${d}`, event_id: `hist-v${n}`,
          timestamp: t + k * 30000, dwell_ms: 20000});
      });
    };
    if (u % 3 === 0) order(['P1', 'P2', 'P3'], 10 + (u % 7));
    else if (u % 3 === 1) order(['P1', 'P2'], 12 + (u % 5));
    else order(['P1', 'P3', `P${15 + (u % 10)}`], 9 + (u % 4));
    if (u % 2 === 0) order(['P7', `P${16 + (u % 8)}`], 5 + (u % 3));
    session(['P1', 'P5', 'P6'], 4 + (u % 6));
    session([`P${15 + (u % 12)}`, `P${16 + (u % 12)}`, 'P9'], 6 + (u % 9));
    order([`P${10 + (u % 5)}`], 1 + rnd());
    order([`P${10 + ((u + 2) % 5)}`, `P${20 + (u % 10)}`], 2 + rnd());
  }
  return ev;
}
