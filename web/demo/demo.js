/* Tailor demo shop: the page logic shared by every page of /demo.
 *
 * What it is: a small storefront over the bundled UCI Online Retail catalog
 * that uses Tailor the way a real shop would: tailor.js (loaded with the
 * PUBLIC key only) for tracking, widgets, search autocomplete and exit
 * intent, and Tailor's public read API (GET /v1/items/{id}, /v1/search,
 * /v1/browse, /v1/recommendations) standing in for the shop's own backend.
 * No framework, no build step, no external assets.
 *
 * Start-up order (every page):
 *   1. /demo/config.js (a plain <script> before this one) sets
 *      window.TAILOR_DEMO = {key, currency}; key null = not configured, we
 *      then show how to run the demo (`make run`) and stop.
 *   2. We build the header (search box with data-tailor-search, category
 *      menu, "act as customer" switch, cart count) and footer.
 *   3. The page's own init runs (it may fetch its product first so the
 *      page carries its product context, data-tailor-item/-price/-category,
 *      before tailor.js reads it; we wait at most TL_WAIT_MS for it).
 *   4. We inject <script async src="/tailor.js" data-key=KEY>. Commands
 *      pushed on window.tailor before it loads are replayed by tailor.js.
 *
 * tailor.js use: the command queue (window.tailor.push([...]) before it
 * loads; its API after), track() for cart changes and the purchase,
 * identify()/reset() for the login switch, consent() from the footer
 * switch, ids() for the shopper ids our own API calls pass, render() after
 * we change a widget's attributes, exitIntent() when the basket is not
 * empty, flush() before reading what the server knows. Views (product,
 * category, page) are tracked by tailor.js itself from data-tailor-item /
 * -price / -category / -title and data-tailor-page="category". The
 * shopper's country (home page picker) is the snippet tag's data-country,
 * which tailor.js sends with events and recommendation requests. Widgets
 * use our card template (template#demo-card); we then point their links at
 * product.html (the demo items' url is /products/SKU) and paint pictures.
 *
 * Shop-side state lives in localStorage (first party, like any shop):
 *   tl_demo_cart     [{id,title,price,currency,category,qty}]   at most CART_MAX lines
 *   tl_demo_viewed   [{id,category,t}] newest first              at most VIEWED_MAX
 *   tl_demo_items    {id: {id,title,price,currency,category}}    at most ITEMS_MAX (product
 *                    page fallback while GET /v1/items is unavailable)
 *   tl_demo_user     the customer id we act as (login switch)
 *   tl_demo_country  the country picked on the home page (ISO alpha-2, default GB)
 *   tl_demo_user_cat the category a logged-in customer's for_you leans to
 *                    (home banner until they view products here)
 *   tl_demo_consent  the footer's personalisation switch (false = off)
 *
 * Product visuals are generated (the data set has no images): hue from a
 * 32-bit FNV-1a hash of the category, hue = PALETTE[h % 10] + (hash(title) %
 * 17) - 8; an SVG line icon per category; a pattern (dots, stripes, checks)
 * and a fill colour from words of the title (RETROSPOT -> dots, RED -> red).
 * Items in recommendation answers carry no category, so we guess it from
 * the title with the keyword table of docs/import-formats.md (abridged):
 * only for the picture, never for anything the shopper relies on. */
(function () {
  "use strict";

  var CFG = window.TAILOR_DEMO || { key: null, currency: "GBP" };
  var KEY = CFG.key || null;
  var CURRENCY = CFG.currency || "GBP";
  var BASE = "/demo/";
  var TL_WAIT_MS = 1500;
  var CART_MAX = 100;
  var VIEWED_MAX = 30;
  var ITEMS_MAX = 400;
  var PER_PAGE = 24;

  var CUSTOMERS = [
    { id: "17850", note: "United Kingdom, loves hanging hearts" },
    { id: "12583", note: "France" },
    { id: "13047", note: "United Kingdom" },
    { id: "12748", note: "United Kingdom, most orders" },
    { id: "15311", note: "United Kingdom" },
  ];

  var COUNTRIES = [
    ["GB", "United Kingdom"],
    ["DE", "Germany"],
    ["FR", "France"],
    ["IE", "Ireland"],
    ["ES", "Spain"],
    ["NL", "Netherlands"],
    ["BE", "Belgium"],
    ["CH", "Switzerland"],
    ["PT", "Portugal"],
    ["AU", "Australia"],
    ["NO", "Norway"],
    ["IT", "Italy"],
  ];

  /* The shop's category tree (the demo import's categories). */
  var CATEGORIES = [
    { name: "Christmas", path: "Seasonal > Christmas" },
    { name: "Candles & Lights", path: "Home > Candles & Lights" },
    { name: "Decorations", path: "Home > Decorations" },
    { name: "Kitchen", path: "Kitchen" },
    { name: "Mugs & Cups", path: "Kitchen > Mugs & Cups", sub: true },
    { name: "Baking", path: "Kitchen > Baking", sub: true },
    { name: "Tableware", path: "Kitchen > Tableware", sub: true },
    { name: "Cookware", path: "Kitchen > Cookware", sub: true },
    { name: "Bags", path: "Bags" },
    { name: "Cards", path: "Stationery > Cards" },
    { name: "Gift Wrap", path: "Stationery > Gift Wrap" },
    { name: "Stationery", path: "Stationery" },
    { name: "Storage", path: "Home > Storage" },
    { name: "Textiles", path: "Home > Textiles" },
    { name: "Clocks & Frames", path: "Home > Clocks & Frames" },
    { name: "Signs & Wall Art", path: "Home > Signs & Wall Art" },
    { name: "Hooks & Hardware", path: "Home > Hooks & Hardware" },
    { name: "Home", path: "Home" },
    { name: "Party", path: "Party" },
    { name: "Toys & Games", path: "Toys & Games" },
    { name: "Jewellery", path: "Jewellery" },
    { name: "Accessories", path: "Accessories" },
    { name: "Garden & Outdoor", path: "Garden & Outdoor" },
    { name: "Bath & Beauty", path: "Bath & Beauty" },
    { name: "Craft & Sewing", path: "Craft & Sewing" },
    { name: "Easter", path: "Seasonal > Easter" },
    { name: "Halloween", path: "Seasonal > Halloween" },
    { name: "Gift Vouchers", path: "Gift Vouchers" },
    { name: "Other", path: "Other" },
  ];
  /* Shown in the header menu (the rest are reachable from the home tiles). */
  var MENU = [
    "Seasonal > Christmas",
    "Home > Candles & Lights",
    "Home > Decorations",
    "Kitchen",
    "Bags",
    "Stationery",
    "Home > Textiles",
    "Party",
    "Toys & Games",
    "Garden & Outdoor",
    "Jewellery",
  ];

  /* Keyword table of the demo import (docs/import-formats.md), abridged:
   * first matching rule wins; whole-word match on the upper-cased title
   * (plural S allowed); "_" joins the words of a phrase. */
  var GUESS = [
    ["Seasonal > Christmas", "CHRISTMAS XMAS ADVENT SANTA REINDEER SNOWFLAKE SNOWMAN NATIVITY"],
    ["Seasonal > Easter", "EASTER"],
    ["Seasonal > Halloween", "HALLOWEEN"],
    ["Gift Vouchers", "VOUCHER"],
    ["Home > Candles & Lights", "T-LIGHT CANDLE CANDLEHOLDER LANTERN LAMP LIGHTS LIGHT INCENSE"],
    ["Kitchen > Mugs & Cups", "MUG CUP BEAKER SAUCER TEACUP"],
    ["Bags", "BAG HANDBAG PURSE SHOPPER TOTE WALLET WASHBAG"],
    ["Stationery > Cards", "CARD CARDS GREETING POSTCARD"],
    ["Stationery > Gift Wrap", "WRAP WRAPPING RIBBON TISSUE_PAPER GIFT_TAG"],
    ["Stationery", "NOTEBOOK PEN PENCIL STICKER SKETCHBOOK PAD CALENDAR TAPE JOURNAL"],
    ["Jewellery", "NECKLACE EARRINGS BRACELET RING PENDANT BROOCH CHARM BEADS DIAMANTE"],
    ["Accessories", "HAIR SCARF UMBRELLA GLOVES HAT PARASOL WARMER"],
    ["Party", "PARTY BUNTING BALLOON BIRTHDAY NAPKINS CONFETTI"],
    ["Toys & Games", "TOY JIGSAW DOLL GAME PUZZLE PLAYHOUSE TEDDY CHILDRENS SPACEBOY BALL"],
    ["Home > Textiles", "CUSHION THROW BLANKET QUILT DOORMAT CURTAIN HOT_WATER_BOTTLE TOWEL APRON"],
    ["Kitchen > Baking", "CAKE CASES BAKING CUPCAKE COOKIE MOULD CAKESTAND ICING"],
    ["Kitchen > Cookware", "PAN FRYING KITCHEN PANTRY SCALES EGG"],
    ["Kitchen > Tableware", "PLATE BOWL CUTLERY JUG TEAPOT TEA COFFEE TRAY NAPKIN COASTER LUNCH PICNIC"],
    ["Home > Storage", "STORAGE BOX JAR BASKET DRAWER CABINET TIN CONTAINER HAMPER BOTTLE BIN"],
    ["Home > Clocks & Frames", "CLOCK FRAME PHOTO MIRROR PICTURE ALARM"],
    ["Home > Signs & Wall Art", "SIGN PLAQUE POSTER PRINT TILE LETTERS"],
    ["Garden & Outdoor", "GARDEN PLANT PLANTER WATERING BIRD FEEDER POT HERB"],
    ["Home > Hooks & Hardware", "HOOK HANGER KNOB DOORSTOP RACK DOOR"],
    ["Bath & Beauty", "SOAP BATHROOM BATH SPONGE COSMETIC LIP NAIL TISSUES"],
    ["Craft & Sewing", "CRAFT SEWING KNITTING FELTCRAFT BUTTON CROCHET"],
    ["Home > Decorations", "DECORATION GARLAND WREATH BELL ORNAMENT BAUBLE HANGING HEART BUTTERFLY MAGNETS FLOWER"],
  ];

  /* 24x24 line icons, one per category (stroke only). */
  var ICONS = {
    tree: "M12 3l5 7h-3l4 6H6l4-6H7z M12 16v4",
    egg: "M12 3c3.5 0 6 5.5 6 10a6 6 0 0 1-12 0c0-4.5 2.5-10 6-10z",
    pumpkin: "M12 7c-5 0-8 3-8 6.5S7 20 12 20s8-3 8-6.5S17 7 12 7z M12 7V4 M9 7.5c-1 3-1 9 0 12 M15 7.5c1 3 1 9 0 12",
    ticket: "M4 7h16v3a2 2 0 0 0 0 4v3H4v-3a2 2 0 0 0 0-4z M14 7v10",
    candle: "M9 11h6v9H9z M12 11V9 M12 3c1.5 2 2.5 3 2.5 4.2a2.5 2.5 0 0 1-5 0C9.5 6 10.5 5 12 3z",
    mug: "M5 8h11v7a4 4 0 0 1-4 4H9a4 4 0 0 1-4-4z M16 10h1.5a2.5 2.5 0 0 1 0 5H16",
    bag: "M5 8h14l-1 12H6z M9 8V6a3 3 0 0 1 6 0v2",
    card: "M3 6h18v12H3z M3 6l9 7 9-7",
    gift: "M4 10h16v10H4z M3 7h18v3H3z M12 7v13 M12 7c-1-3-5-3-4 0 M12 7c1-3 5-3 4 0",
    pencil: "M4 20l1-4L16 5l3 3L8 19z M14 7l3 3",
    gem: "M6 4h12l3 5-9 11L3 9z M3 9h18 M9 4L7 9l5 11 5-11-2-5",
    umbrella: "M3 12a9 9 0 0 1 18 0z M12 12v6a2 2 0 0 1-4 0",
    balloon: "M12 3a5 5 0 0 1 5 5.5c0 3.5-3 6.5-5 6.5s-5-3-5-6.5A5 5 0 0 1 12 3z M12 15l-1 1.5h2z M12 16.5c0 2-2 2-1 4.5",
    star: "M12 3l2.6 5.6 6 .7-4.5 4.1 1.2 6L12 16.4l-5.3 3 1.2-6-4.5-4.1 6-.7z",
    cushion: "M5 5c3 1 11 1 14 0-1 3-1 11 0 14-3-1-11-1-14 0 1-3 1-11 0-14z",
    cupcake: "M6 12h12l-2 8H8z M6 12a6 5 0 0 1 12 0 M12 4v3",
    pan: "M3 11h13v2a6.5 5 0 0 1-13 0z M16 12h5",
    teapot: "M6 10h10v5a4 4 0 0 1-4 4h-2a4 4 0 0 1-4-4z M16 11l4-2v4l-4 3 M11 7v3 M9 7h4",
    box: "M4 8l8-4 8 4v8l-8 4-8-4z M4 8l8 4 8-4 M12 12v8",
    clock: "M12 3a9 9 0 1 0 0 18 9 9 0 1 0 0-18z M12 7v5l3 2",
    frame: "M4 4h16v16H4z M7 7h10v10H7z M7 15l3-3 2 2 2-3 3 4",
    leaf: "M5 19C5 10 10 5 19 5c0 9-5 14-14 14z M5 19l8-8",
    hook: "M12 3v9a4 4 0 1 1-4 4 M10 3h4",
    drop: "M12 3c3 4 6 7.5 6 11a6 6 0 0 1-12 0c0-3.5 3-7 6-11z",
    scissors:
      "M6 4a2.5 2.5 0 1 0 0 5 2.5 2.5 0 1 0 0-5z M6 15a2.5 2.5 0 1 0 0 5 2.5 2.5 0 1 0 0-5z M8 8l12 9 M8 16l12-9",
    heart: "M12 20s-7-4.5-7-10a4 4 0 0 1 7-2.5A4 4 0 0 1 19 10c0 5.5-7 10-7 10z",
    sparkle: "M12 3l1.8 6.2L20 11l-6.2 1.8L12 19l-1.8-6.2L4 11l6.2-1.8z",
  };
  var CAT_ICON = {
    "Seasonal > Christmas": "tree",
    "Seasonal > Easter": "egg",
    "Seasonal > Halloween": "pumpkin",
    "Gift Vouchers": "ticket",
    "Home > Candles & Lights": "candle",
    "Kitchen > Mugs & Cups": "mug",
    Bags: "bag",
    "Stationery > Cards": "card",
    "Stationery > Gift Wrap": "gift",
    Stationery: "pencil",
    Jewellery: "gem",
    Accessories: "umbrella",
    Party: "balloon",
    "Toys & Games": "star",
    "Home > Textiles": "cushion",
    "Kitchen > Baking": "cupcake",
    "Kitchen > Cookware": "pan",
    "Kitchen > Tableware": "teapot",
    Kitchen: "teapot",
    "Home > Storage": "box",
    "Home > Clocks & Frames": "clock",
    "Home > Signs & Wall Art": "frame",
    "Garden & Outdoor": "leaf",
    "Home > Hooks & Hardware": "hook",
    "Bath & Beauty": "drop",
    "Craft & Sewing": "scissors",
    "Home > Decorations": "heart",
    Home: "heart",
    Seasonal: "tree",
    Other: "sparkle",
  };
  var PALETTE = [18, 32, 45, 95, 145, 168, 192, 212, 262, 335];
  var COLOURS = {
    RED: "#c2463a",
    PINK: "#e58fa8",
    BLUE: "#4272b0",
    GREEN: "#4f8a5b",
    IVORY: "#efe6d0",
    CREAM: "#f1e7cf",
    WHITE: "#fbfaf7",
    BLACK: "#2d2d2d",
    GOLD: "#c9a13b",
    SILVER: "#b9bec5",
    PURPLE: "#7e5aa6",
    LILAC: "#b79fd3",
    YELLOW: "#e6c04c",
    ORANGE: "#e08a3c",
    BROWN: "#7b5236",
    GREY: "#8e9198",
    GRAY: "#8e9198",
    TURQUOISE: "#3aa5a1",
    AQUA: "#5cc0c0",
    ZINC: "#a3a8ad",
  };

  /* ------------------------------------------------------------ utilities */

  function $(sel, root) {
    return (root || document).querySelector(sel);
  }
  function $all(sel, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(sel));
  }
  /* h("div.class#id", {attr: v, onclick: fn}, children...) */
  function h(tag, attrs) {
    var m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/i.exec(tag);
    var el = document.createElement(m ? m[1] : tag);
    if (m && m[2]) {
      m[2].replace(/([.#])([\w-]+)/g, function (_, k, v) {
        if (k === ".") el.classList.add(v);
        else el.id = v;
        return "";
      });
    }
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k.slice(0, 2) === "on" && typeof v === "function") el.addEventListener(k.slice(2), v);
        else if (k === "text") el.textContent = v;
        else if (k === "html") el.innerHTML = v;
        else el.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) c.forEach(function (x) { append(el, x); });
    else el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  function hash32(s) {
    var x = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) {
      x ^= s.charCodeAt(i);
      x = Math.imul(x, 0x01000193) >>> 0;
    }
    return x >>> 0;
  }
  function store(key, val) {
    try {
      if (val === undefined) return JSON.parse(localStorage.getItem(key) || "null");
      if (val === null) localStorage.removeItem(key);
      else localStorage.setItem(key, JSON.stringify(val));
    } catch (e) {
      /* storage disabled or full: the demo still works without memory */
    }
    return null;
  }
  var moneyFmt = {};
  function money(v, cur) {
    if (v === null || v === undefined || isNaN(v)) return "";
    cur = cur || CURRENCY;
    if (!moneyFmt[cur]) {
      try {
        moneyFmt[cur] = new Intl.NumberFormat("en-GB", { style: "currency", currency: cur });
      } catch (e) {
        moneyFmt[cur] = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP" });
      }
    }
    return moneyFmt[cur].format(v);
  }
  function qs(name) {
    return new URLSearchParams(location.search).get(name);
  }
  function productUrl(id) {
    return BASE + "product.html?id=" + encodeURIComponent(id);
  }
  function categoryUrl(path) {
    return BASE + "category.html?c=" + encodeURIComponent(path);
  }
  function catName(path) {
    if (!path) return "";
    for (var i = 0; i < CATEGORIES.length; i++) if (CATEGORIES[i].path === path) return CATEGORIES[i].name;
    var parts = String(path).split(">");
    return parts[parts.length - 1].trim();
  }
  function guessCategory(title) {
    var t = " " + String(title || "").toUpperCase().replace(/[^A-Z0-9-]+/g, " ") + " ";
    for (var i = 0; i < GUESS.length; i++) {
      var words = GUESS[i][1].split(" ");
      for (var j = 0; j < words.length; j++) {
        var w = words[j].replace(/_/g, " ");
        if (t.indexOf(" " + w + " ") >= 0 || t.indexOf(" " + w + "S ") >= 0) return GUESS[i][0];
      }
    }
    return "Other";
  }
  function shopperId() {
    return store("tl_demo_user") || null;
  }

  /* ------------------------------------------------------ generated visual */

  var SVGNS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs) {
    var el = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      el.setAttribute(k, attrs[k]);
    });
    return el;
  }
  var patternSeq = 0;

  /* Paint a product visual into `el` (a .thumb span) from title + category. */
  function paintThumb(el, title, category) {
    title = String(title || "");
    var cat = category || guessCategory(title);
    var top = String(cat).split(">")[0].trim();
    var icon = ICONS[CAT_ICON[cat] || CAT_ICON[top] || "sparkle"];
    var ht = hash32(title);
    var hue = PALETTE[hash32(cat) % PALETTE.length] + (ht % 17) - 8;
    el.style.setProperty("--h", String(hue));
    /* inside a link or next to the title the picture adds nothing for a
     * screen reader; standalone (.big) it is an image with a name */
    if (el.classList.contains("big")) {
      el.setAttribute("role", "img");
      el.setAttribute("aria-label", "Illustration of " + (title || "the product"));
    } else {
      el.setAttribute("aria-hidden", "true");
    }
    el.textContent = "";

    var up = " " + title.toUpperCase().replace(/[^A-Z]+/g, " ") + " ";
    var fill = null;
    Object.keys(COLOURS).some(function (w) {
      if (up.indexOf(" " + w + " ") >= 0) {
        fill = COLOURS[w];
        return true;
      }
      return false;
    });
    var ink = "hsl(" + hue + ",32%,26%)";
    var soft = "hsl(" + hue + ",45%,97%)";

    var svg = svgEl("svg", { viewBox: "0 0 100 100", "aria-hidden": "true", focusable: "false", preserveAspectRatio: "xMidYMid slice" });
    var id = "tlp" + ++patternSeq;
    var kind = /RETROSPOT|POLKADOT|POLKA|SPOTTY|DOTS|SPOTS/.test(up)
      ? "dots"
      : /STRIPE|STRIPES|STRIPEY/.test(up)
        ? "stripes"
        : /GINGHAM|CHECK|TARTAN/.test(up)
          ? "checks"
          : null;
    if (kind) {
      var defs = svgEl("defs");
      var pat = svgEl("pattern", { id: id, width: kind === "dots" ? 10 : 8, height: kind === "dots" ? 10 : 8, patternUnits: "userSpaceOnUse" });
      var pc = fill || ink;
      if (kind === "dots") pat.appendChild(svgEl("circle", { cx: 5, cy: 5, r: 1.6, fill: pc, "fill-opacity": 0.22 }));
      else if (kind === "stripes") pat.appendChild(svgEl("rect", { x: 0, y: 0, width: 4, height: 8, fill: pc, "fill-opacity": 0.14 }));
      else {
        pat.appendChild(svgEl("rect", { x: 0, y: 0, width: 4, height: 4, fill: pc, "fill-opacity": 0.14 }));
        pat.appendChild(svgEl("rect", { x: 4, y: 4, width: 4, height: 4, fill: pc, "fill-opacity": 0.14 }));
      }
      defs.appendChild(pat);
      svg.appendChild(defs);
      svg.appendChild(svgEl("rect", { x: 0, y: 0, width: 100, height: 100, fill: "url(#" + id + ")" }));
    } else {
      /* a soft disc behind the icon, offset by the title hash */
      svg.appendChild(svgEl("circle", { cx: 50 + ((ht >>> 5) % 21) - 10, cy: 50 + ((ht >>> 10) % 21) - 10, r: 34, fill: soft, "fill-opacity": 0.55 }));
    }
    var g = svgEl("g", { transform: "translate(29 29) scale(1.75)" });
    g.appendChild(
      svgEl("path", {
        d: icon,
        fill: fill || soft,
        "fill-opacity": fill ? 0.9 : 1,
        stroke: ink,
        "stroke-width": 1.1,
        "stroke-linecap": "round",
        "stroke-linejoin": "round",
      })
    );
    svg.appendChild(g);
    el.appendChild(svg);
    var words = title.replace(/[^A-Za-z0-9 ]+/g, " ").split(/\s+/).filter(function (w) {
      return w.length > 2 && !/^(THE|AND|SET|OF|WITH)$/i.test(w);
    });
    var initials = words.slice(0, 2).map(function (w) { return w[0].toUpperCase(); }).join("");
    if (initials) el.appendChild(h("span.initials", { "aria-hidden": "true", text: initials }));
    el.setAttribute("data-painted", "1");
    return el;
  }
  function thumb(item) {
    return paintThumb(h("span.thumb"), item.title, item.category);
  }

  /* A product card: the same markup as our widget template. */
  function card(item, extra) {
    return h(
      "a.card",
      { href: productUrl(item.id), "data-id": item.id, onclick: function () { rememberItem(item); } },
      thumb(item),
      h(
        "span.card-body",
        null,
        h("span.card-title", { text: item.title }),
        extra ? h("span.card-meta", { text: extra }) : null,
        h("span.card-price", { text: money(item.price, item.currency) })
      )
    );
  }

  /* ------------------------------------------------------- shop-side state */

  function rememberItem(item) {
    if (!item || !item.id) return;
    var all = store("tl_demo_items") || {};
    delete all[item.id];
    all[item.id] = { id: item.id, title: item.title, price: item.price, currency: item.currency, category: item.category || null };
    var keys = Object.keys(all);
    for (var i = 0; i < keys.length - ITEMS_MAX; i++) delete all[keys[i]];
    store("tl_demo_items", all);
  }
  function rememberItems(items) {
    var all = store("tl_demo_items") || {};
    (items || []).forEach(function (it) {
      if (!it || !it.id) return;
      delete all[it.id];
      all[it.id] = { id: it.id, title: it.title, price: it.price, currency: it.currency, category: it.category || (all[it.id] && all[it.id].category) || null };
    });
    var keys = Object.keys(all);
    for (var i = 0; i < keys.length - ITEMS_MAX; i++) delete all[keys[i]];
    store("tl_demo_items", all);
  }
  function knownItem(id) {
    var all = store("tl_demo_items") || {};
    return all[id] || null;
  }
  function cart() {
    return store("tl_demo_cart") || [];
  }
  function saveCart(lines) {
    store("tl_demo_cart", lines.slice(0, CART_MAX));
    updateCartCount();
  }
  function cartCount() {
    return cart().reduce(function (n, l) { return n + l.qty; }, 0);
  }
  function addToCart(item, qty) {
    var lines = cart();
    var line = lines.find(function (l) { return l.id === item.id; });
    if (line) line.qty += qty;
    else lines.push({ id: item.id, title: item.title, price: item.price, currency: item.currency || CURRENCY, category: item.category || null, qty: qty });
    saveCart(lines);
    tl("track", "add_to_cart", { item_id: item.id, quantity: qty, price: item.price });
    armExitIntent();
  }
  function setCartQty(id, qty) {
    var lines = cart();
    var line = lines.find(function (l) { return l.id === id; });
    if (!line) return;
    var delta = qty - line.qty;
    if (qty <= 0) {
      lines = lines.filter(function (l) { return l.id !== id; });
      tl("track", "remove_from_cart", { item_id: id, quantity: line.qty, price: line.price });
    } else if (delta > 0) {
      line.qty = qty;
      tl("track", "add_to_cart", { item_id: id, quantity: delta, price: line.price });
    } else if (delta < 0) {
      line.qty = qty;
      tl("track", "remove_from_cart", { item_id: id, quantity: -delta, price: line.price });
    }
    saveCart(lines);
    armExitIntent();
  }
  function noteViewed(item) {
    var v = (store("tl_demo_viewed") || []).filter(function (x) { return x.id !== item.id; });
    v.unshift({ id: item.id, category: item.category || guessCategory(item.title), t: Date.now() });
    store("tl_demo_viewed", v.slice(0, VIEWED_MAX));
  }
  /* The category the shopper looked at most (recent views weigh more). */
  function topViewedCategory() {
    var v = store("tl_demo_viewed") || [];
    var score = {};
    var best = null;
    v.forEach(function (x, i) {
      if (!x.category) return;
      score[x.category] = (score[x.category] || 0) + Math.pow(0.85, i);
      if (!best || score[x.category] > score[best]) best = x.category;
    });
    return best;
  }

  /* -------------------------------------------------------- tailor.js glue */

  window.tailor = window.tailor || [];
  function tl() {
    window.tailor.push(Array.prototype.slice.call(arguments));
  }
  /* The snippet tag, as a shop would paste it; data-country is the
   * shopper's country from our picker (tailor.js sends it with events and
   * recommendation requests). */
  var tailorLoaded = null;
  function injectTailor() {
    if (document.querySelector("script[data-demo-tailor]")) return;
    var s = document.createElement("script");
    s.async = true;
    s.src = "/tailor.js";
    s.setAttribute("data-key", KEY);
    s.setAttribute("data-country", country());
    s.setAttribute("data-currency", CURRENCY);
    s.setAttribute("data-product-url", BASE + "product.html?id={id}");
    s.setAttribute("data-demo-tailor", "");
    s.onload = s.onerror = function () {
      if (tailorLoaded) tailorLoaded();
    };
    document.head.appendChild(s);
  }
  /* Resolves once tailor.js ran (or failed to load, or after TL_WAIT_MS). */
  var whenTailorP = null;
  function whenTailor() {
    if (!whenTailorP) {
      whenTailorP = new Promise(function (res) {
        if (window.tailor && window.tailor._loaded) return res();
        tailorLoaded = res;
        setTimeout(res, TL_WAIT_MS * 2);
      });
    }
    return whenTailorP;
  }
  function country() {
    return store("tl_demo_country") || "GB";
  }
  function setCountry(c) {
    store("tl_demo_country", c);
    var s = document.querySelector("script[data-demo-tailor]");
    if (s) s.setAttribute("data-country", c);
  }
  /* Re-render a widget after we changed its attributes (tailor.render when
   * tailor.js has loaded; before that it will render it on load anyway). */
  function rerender(el) {
    if (window.tailor && typeof window.tailor.render === "function") window.tailor.render(el);
  }
  function widget(type, attrs) {
    var a = { "data-tailor-widget": type, "data-template": "demo-card", class: "widget" };
    Object.keys(attrs || {}).forEach(function (k) {
      a[k] = attrs[k];
    });
    var el = h("div", a);
    if (type === "trending") trendingFallback(el);
    return el;
  }
  /* Trending compares recent activity with a baseline; on a demo store
   * whose history ended in 2011, the first live clicks are all that is
   * "recent", so a trending answer can shrink to an item or two. Then the
   * row switches to best sellers (same filters) and says so. */
  var TRENDING_MIN = 3;
  function trendingFallback(el) {
    el.addEventListener("tailor:render", function (e) {
      var res = e.detail || {};
      if (el.getAttribute("data-tailor-widget") !== "trending" || (res.items || []).length >= TRENDING_MIN) return;
      el.setAttribute("data-tailor-widget", "popular");
      var t = el.getAttribute("data-title");
      if (t) el.setAttribute("data-title", t.replace(/^Trending/, "Popular"));
      el.setAttribute("data-demo-fallback", "popular");
      el.dispatchEvent(new CustomEvent("demo:fallback", { bubbles: true }));
      rerender(el);
    });
  }
  /* The anonymous id tailor.js gave this browser (null before it loaded or
   * without consent). */
  function anonymousId() {
    var t = window.tailor;
    if (t && typeof t.ids === "function") return t.ids().anonymous_id || null;
    return null;
  }

  /* Widget cards link to the item's url (/products/SKU in the demo data,
   * a page this shop does not have): point them at our product page,
   * keeping tailor.js's tl_rid, and paint the visuals. */
  function fixWidgets(root) {
    $all("[data-tailor-widget] a.card[data-id]:not([data-fixed])", root).forEach(function (a) {
      var rid = null;
      try {
        rid = new URL(a.getAttribute("href") || "", location.href).searchParams.get("tl_rid");
      } catch (e) {
        rid = null;
      }
      a.setAttribute("href", productUrl(a.getAttribute("data-id")) + (rid ? "&tl_rid=" + encodeURIComponent(rid) : ""));
      a.setAttribute("data-fixed", "");
    });
    $all("[data-tailor-widget] .thumb[data-demo-thumb]:not([data-painted])", root).forEach(function (el) {
      paintThumb(el, el.getAttribute("data-demo-thumb"), null);
    });
  }
  /* The same for tailor.js's own navigations (an autocomplete product goes
   * to item.url): where the browser has the Navigation API, a navigation
   * to /products/SKU becomes one to product.html?id=SKU. */
  function redirectItemUrls() {
    var nav = window.navigation;
    if (!nav || typeof nav.addEventListener !== "function") return;
    nav.addEventListener("navigate", function (e) {
      var u;
      try {
        u = new URL(e.destination.url);
      } catch (err) {
        return;
      }
      var m = /^\/products\/([^/]+)$/.exec(u.pathname);
      if (!m || u.origin !== location.origin || !e.cancelable) return;
      e.preventDefault();
      var rid = u.searchParams.get("tl_rid");
      location.href = productUrl(decodeURIComponent(m[1])) + (rid ? "&tl_rid=" + encodeURIComponent(rid) : "");
    });
  }
  function watchWidgets() {
    fixWidgets(document);
    var pending = false;
    new MutationObserver(function () {
      if (pending) return;
      pending = true;
      Promise.resolve().then(function () {
        pending = false;
        fixWidgets(document);
      });
    }).observe(document.body, { childList: true, subtree: true });
  }

  /* --------------------------------------------------------- API (public) */

  function api(path, params) {
    var u = new URL(path, location.origin);
    Object.keys(params || {}).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined && v !== "") u.searchParams.set(k, v);
    });
    return fetch(u.toString(), { headers: { Authorization: "Bearer " + KEY } }).then(function (r) {
      if (!r.ok) {
        var e = new Error(path + " answered " + r.status);
        e.status = r.status;
        throw e;
      }
      return r.json();
    });
  }
  function shopperParams() {
    var u = shopperId();
    if (u) return { user_id: u };
    var a = anonymousId();
    return a ? { anonymous_id: a } : {};
  }

  /* ---------------------------------------------------------- page chrome */

  function logoSvg() {
    var s = svgEl("svg", { width: 34, height: 34, viewBox: "0 0 34 34", "aria-hidden": "true" });
    s.appendChild(svgEl("rect", { x: 1, y: 1, width: 32, height: 32, rx: 10, fill: "#1d5c4d" }));
    s.appendChild(svgEl("path", { d: "M10 13h14l-1.2 11H11.2z M13.5 13v-1.5a3.5 3.5 0 0 1 7 0V13", fill: "none", stroke: "#fff", "stroke-width": 1.8, "stroke-linejoin": "round" }));
    return s;
  }

  function buildHeader(page) {
    var header = $("#site-header");
    if (!header) return;
    header.className = "site-header";
    var count = h("span.cart-count", { "aria-hidden": "true" }, "0");
    var cartLink = h(
      "a.cart-link",
      { href: BASE + "cart.html", "aria-current": page === "cart" ? "page" : null, id: "cart-link" },
      svgIcon("bag", 22),
      h("span.label-long", { text: "Basket" }),
      count,
      h("span.visually-hidden", { id: "cart-count-label" })
    );
    var form = h(
      "form.search-form",
      { role: "search", action: BASE + "search.html", method: "get" },
      h("label.visually-hidden", { for: "q", text: "Search products" }),
      h("input", {
        type: "search",
        id: "q",
        name: "q",
        placeholder: "Search mugs, lights, bags...",
        autocomplete: "off",
        "data-tailor-search": "",
        value: page === "search" ? qs("q") || "" : null,
      }),
      h("button.btn", { type: "submit" }, svgIcon("search", 18), h("span.visually-hidden", { text: "Search" }))
    );
    var current = location.pathname.indexOf("category.html") >= 0 ? qs("c") : null;
    var nav = h(
      "nav.cat-nav",
      { "aria-label": "Categories" },
      h(
        "div.wrap",
        null,
        h(
          "ul",
          null,
          MENU.map(function (p) {
            return h("li", null, h("a", { href: categoryUrl(p), "aria-current": current === p ? "page" : null, text: catName(p) }));
          })
        )
      )
    );
    header.appendChild(
      h(
        "div.wrap.header-row",
        null,
        h("a.logo", { href: BASE }, logoSvg(), h("span", null, "Tailor & Co.", h("small", { text: "Gifts and homeware" }))),
        form,
        h("div.tools", null, accountSwitch(), cartLink)
      )
    );
    header.appendChild(nav);
    updateCartCount();
  }

  function svgIcon(name, size) {
    var paths = {
      bag: ICONS.bag,
      search: "M10.5 4a6.5 6.5 0 1 0 0 13 6.5 6.5 0 1 0 0-13z M15.5 15.5L20 20",
      user: "M12 4a4 4 0 1 0 0 8 4 4 0 1 0 0-8z M4 20c1.5-4 4.5-6 8-6s6.5 2 8 6",
    };
    var s = svgEl("svg", { width: size, height: size, viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" });
    s.appendChild(svgEl("path", { d: paths[name] || ICONS[name], fill: "none", stroke: "currentColor", "stroke-width": 1.8, "stroke-linecap": "round", "stroke-linejoin": "round" }));
    return s;
  }

  function updateCartCount() {
    var n = cartCount();
    var el = $(".cart-count");
    if (!el) return;
    el.textContent = String(n);
    if (n) el.removeAttribute("data-zero");
    else el.setAttribute("data-zero", "");
    var lab = $("#cart-count-label");
    if (lab) lab.textContent = n === 1 ? "1 item" : n + " items";
  }

  /* "Act as customer": a popover with real customer ids of the data set. */
  function accountSwitch() {
    var user = shopperId();
    var panelId = "account-panel";
    var toggle = h(
      "button.account-toggle",
      { type: "button", "aria-expanded": "false", "aria-controls": panelId, id: "account-toggle" },
      svgIcon("user", 20),
      h("span", { id: "account-label" }, user ? h("span", null, h("span.label-long", { text: "Customer " }), user) : h("span", null, h("span.label-long", { text: "Act as customer" }), h("span.label-short", { text: "Log in" })))
    );
    var input = h("input", { type: "text", id: "customer-id", name: "customer", inputmode: "numeric", placeholder: "e.g. 14911", autocomplete: "off" });
    var panel = h(
      "div.account-panel",
      { id: panelId, hidden: true, role: "group", "aria-label": "Act as a customer" },
      h("p", null, user ? "You are browsing as customer " + user + "." : "Browse as a real customer of the data set to see their recommendations."),
      h(
        "ul",
        null,
        CUSTOMERS.map(function (c) {
          return h("li", null, h("button", { type: "button", "aria-pressed": user === c.id ? "true" : "false", title: c.note, "data-customer": c.id, onclick: function () { login(c.id); } }, c.id));
        })
      ),
      h(
        "form.account-form",
        {
          onsubmit: function (e) {
            e.preventDefault();
            var v = input.value.trim();
            if (v) login(v);
          },
        },
        h("div", null, h("label", { for: "customer-id", text: "Customer id" }), input),
        h("button.btn.btn-small", { type: "submit" }, "Log in")
      ),
      user ? h("button.btn.btn-ghost.btn-small", { type: "button", id: "logout", onclick: logout }, "Log out") : null
    );
    function close() {
      panel.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
    }
    toggle.addEventListener("click", function () {
      var open = panel.hidden;
      panel.hidden = !open;
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) (panel.querySelector("button") || input).focus();
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !panel.hidden) {
        close();
        toggle.focus();
      }
    });
    document.addEventListener("click", function (e) {
      if (!panel.hidden && !wrap.contains(e.target)) close();
    });
    var wrap = h("div.account", null, toggle, panel);
    return wrap;
  }
  /* Log in: tailor.identify links this browser's anonymous history to the
   * customer (POST /v1/identify); once it answered we reload so every
   * widget asks for the customer. Log out: tailor.reset forgets the ids
   * (the next page starts a new anonymous visitor). */
  function login(id) {
    store("tl_demo_user", id);
    store("tl_demo_user_cat", null);
    whenTailor().then(function () {
      var t = window.tailor;
      var p = t && typeof t.identify === "function" ? t.identify(id) : (tl("identify", id), null);
      var done = function () {
        location.reload();
      };
      var limit = new Promise(function (res) { setTimeout(res, TL_WAIT_MS); });
      Promise.resolve(p)
        .then(function () { return Promise.race([customerCategory(id), limit]); })
        .then(done, done);
    });
  }
  /* The category a returning customer's recommendations lean to (the
   * categories of their top for_you items, from GET /v1/items), remembered
   * for the home banner until they browse here themselves. */
  function customerCategory(id) {
    return api("/v1/recommendations", { type: "for_you", user_id: id, limit: 8 })
      .then(function (res) {
        return Promise.all(
          (res.items || []).map(function (it) {
            return api("/v1/items/" + encodeURIComponent(it.id)).catch(function () { return null; });
          })
        );
      })
      .then(function (items) {
        var n = {};
        var best = null;
        items.forEach(function (it) {
          if (!it || !it.category) return;
          n[it.category] = (n[it.category] || 0) + 1;
          if (!best || n[it.category] > n[best]) best = it.category;
        });
        if (best && n[best] >= 2) store("tl_demo_user_cat", best);
      })
      .catch(function () {});
  }
  function logout() {
    store("tl_demo_user", null);
    store("tl_demo_user_cat", null);
    whenTailor().then(function () {
      var t = window.tailor;
      var p = t && typeof t.flush === "function" ? t.flush() : null;
      Promise.resolve(p).then(function () {
        if (t && typeof t.reset === "function") t.reset();
        location.reload();
      });
    });
  }

  function buildFooter() {
    var f = $("#site-footer");
    if (!f) return;
    f.className = "site-footer";
    var consent = store("tl_demo_consent");
    var box = h("input", { type: "checkbox", id: "personalise", checked: consent === false ? null : true });
    box.addEventListener("change", function () {
      var on = box.checked;
      store("tl_demo_consent", on);
      tl("consent", { analytics: on, personalization: on });
      var u = shopperId();
      if (on && u) tl("identify", u);
      location.reload();
    });
    f.appendChild(
      h(
        "div.wrap",
        null,
        h(
          "div",
          null,
          h("p", null, h("strong", { text: "Tailor & Co." }), " is a demo shop for Tailor, a self-hosted personalisation engine: tailor.js tracks what you do here and fills the recommendation rows. Nothing here is for sale."),
          h(
            "p",
            null,
            "Catalog and orders: Online Retail data set (Chen, Sain and Guo, 2012), UCI Machine Learning Repository, ",
            h("a", { href: "https://creativecommons.org/licenses/by/4.0/", text: "CC BY 4.0" }),
            ". Product pictures are drawn from the product names."
          )
        ),
        h("div", null, h("p.privacy", null, box, h("label", { for: "personalise", text: "Personalise this shop for me (tracking and recommendations)" })))
      )
    );
  }

  function showSetup(main) {
    main.textContent = "";
    main.appendChild(
      h(
        "div.setup",
        { role: "status" },
        h("h1", { text: "The demo shop is almost ready" }),
        h("p", null, "This server was started without a public key for the demo, so the shop cannot talk to Tailor yet. From the repository, run:"),
        h("pre", null, h("code", { text: "make run" })),
        h("p", null, "It imports the bundled Online Retail store, trains the models, creates the keys and serves this page on ", h("a", { href: "http://127.0.0.1:8080/demo", text: "http://127.0.0.1:8080/demo" }), "."),
        h("p", null, "Or start the server yourself with a public key: ", h("code", { text: "tailor serve --db shop.db --demo-key tl_pk_..." }))
      )
    );
  }

  function notice(text, kind) {
    return h("p.notice" + (kind ? "." + kind : ""), { role: "status" }, text);
  }

  /* ----------------------------------------------------------------- home */

  function pageHome(main) {
    var user = shopperId();
    var viewed = topViewedCategory();
    var top = viewed || (user && store("tl_demo_user_cat")) || null;
    var ctry = country();
    var hue = PALETTE[hash32(top || "Seasonal > Christmas") % PALETTE.length];
    var hero;
    if (top) {
      hero = h(
        "section.hero",
        { "aria-labelledby": "hero-title", style: "--h:" + hue, "data-hero": "category", "data-category": top },
        h(
          "div",
          null,
          h("p.eyebrow", { text: user ? "Welcome back, customer " + user : "Picked for you" }),
          h("h1", { id: "hero-title", text: "More " + catName(top).toLowerCase() + " you might love" }),
          h("p", {
            text: viewed
              ? "You have been looking at " + catName(top).toLowerCase() + ". Here is what is new and popular there, chosen from what you viewed."
              : "Your past orders say you like " + catName(top).toLowerCase() + ". Here are a few we picked for you.",
          }),
          h("a.btn", { href: categoryUrl(top) }, "Shop " + catName(top))
        ),
        h("div.hero-picks", null, widget("for_you", { "data-category": top, "data-limit": "4", "data-title": "From " + catName(top) }))
      );
    } else {
      hero = h(
        "section.hero",
        { "aria-labelledby": "hero-title", style: "--h:" + hue, "data-hero": "default" },
        h(
          "div",
          null,
          h("p.eyebrow", { text: user ? "Welcome back, customer " + user : "Christmas is coming" }),
          h("h1", { id: "hero-title", text: "Little gifts, lovingly chosen" }),
          h("p", { text: "Lights, decorations and presents from a London gift shop. Browse a little and this page will learn what you like." }),
          h("a.btn", { href: categoryUrl("Seasonal > Christmas") }, "Shop Christmas")
        ),
        h("div.hero-picks", null, widget("trending", { "data-category": "Seasonal > Christmas", "data-limit": "4", "data-title": "Trending for Christmas" }))
      );
    }
    var countrySel = h(
      "select",
      { id: "country", name: "country" },
      COUNTRIES.map(function (c) {
        return h("option", { value: c[0], selected: c[0] === ctry ? true : null, text: c[1] });
      })
    );
    /* The trending row is added once "recommended for you" rendered, without
     * its items: a first-time visitor's for_you is trending too, and the
     * same row twice would look broken. */
    var trend = widget("trending", { "data-country": ctry, "data-limit": "6", id: "trending-country" });
    var trendSlot = h("div", { id: "trending-slot" });
    var fy = widget("for_you", { "data-limit": "6", id: "for-you" });
    var placed = false;
    function placeTrend(ids) {
      if (placed) return;
      placed = true;
      if (ids && ids.length) trend.setAttribute("data-exclude", ids.slice(0, 100).join(","));
      trendSlot.appendChild(trend);
    }
    fy.addEventListener("tailor:render", function (e) {
      var res = e.detail || {};
      var sub = $("#fy-note");
      if (sub && res.fallback === "trending") sub.textContent = "Trending picks while we get to know you";
      placeTrend((res.items || []).map(function (it) { return it.id; }));
    });
    setTimeout(placeTrend, 3000);
    function trendTitle() {
      var word = trend.getAttribute("data-tailor-widget") === "popular" ? "Popular in " : "Trending in ";
      $("#trending-title").textContent = word + countrySel.options[countrySel.selectedIndex].text;
    }
    trend.addEventListener("demo:fallback", function () {
      trendTitle();
      /* the best sellers row below would now repeat it */
      var best = $("#best-sellers");
      if (best) best.parentNode.removeChild(best);
    });
    countrySel.addEventListener("change", function () {
      setCountry(countrySel.value);
      trend.setAttribute("data-country", countrySel.value);
      trend.setAttribute("data-tailor-widget", "trending");
      trendTitle();
      rerender(trend);
    });
    var countryName = (COUNTRIES.find(function (c) { return c[0] === ctry; }) || COUNTRIES[0])[1];

    main.appendChild(
      h(
        "div.wrap",
        null,
        hero,
        h(
          "section.section",
          { "aria-labelledby": "fy-title" },
          h("div.section-head", null, h("h2", { id: "fy-title", text: "Recommended for you" }), h("p.card-meta", { id: "fy-note", text: user ? "Based on customer " + user + "'s orders and this visit" : "Based on what you browse here" })),
          fy
        ),
        h(
          "section.section",
          { "aria-labelledby": "trending-title" },
          h(
            "div.section-head",
            null,
            h("h2", { id: "trending-title", text: "Trending in " + countryName }),
            h("div.country-picker", null, h("label", { for: "country", text: "Country" }), countrySel)
          ),
          trendSlot
        ),
        h("div.section", null, widget("recently_viewed", { "data-limit": "6", "data-title": "Recently viewed" })),
        h(
          "section.section",
          { "aria-labelledby": "cats-title" },
          h("h2", { id: "cats-title", text: "Shop by category" }),
          h(
            "ul.tiles",
            null,
            CATEGORIES.filter(function (c) {
              return !c.sub && c.path !== "Other";
            }).map(function (c) {
              return h("li", null, h("a.tile", { href: categoryUrl(c.path) }, paintThumb(h("span.thumb"), c.name, c.path), c.name));
            })
          )
        ),
        h("div.section", { id: "best-sellers" }, widget("popular", { "data-limit": "6", "data-title": "Best sellers" }))
      )
    );
    return null;
  }

  /* ------------------------------------------------------ listing helpers */

  /* State in the URL: q, c (category page), category, brand, min_price,
   * max_price, sort, page. */
  function listState() {
    var p = new URLSearchParams(location.search);
    return {
      q: p.get("q") || "",
      c: p.get("c") || "",
      category: p.get("category") || "",
      brand: p.get("brand") || "",
      min_price: p.get("min_price") || "",
      max_price: p.get("max_price") || "",
      sort: p.get("sort") || "",
      page: Math.max(1, parseInt(p.get("page") || "1", 10) || 1),
    };
  }
  function setListState(st, render) {
    var p = new URLSearchParams();
    ["q", "c", "category", "brand", "min_price", "max_price", "sort"].forEach(function (k) {
      if (st[k]) p.set(k, st[k]);
    });
    if (st.page > 1) p.set("page", String(st.page));
    history.pushState(null, "", location.pathname + "?" + p.toString());
    render();
    var m = $("#main");
    if (m && m.getBoundingClientRect().top < 0) window.scrollTo(0, 0);
  }
  /* Price facet values are ranges such as "0-10", "10-25", "1000+". */
  function priceBounds(f) {
    var v = String(f.value);
    var m = /^(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)$/.exec(v);
    if (m) return [m[1], m[2]];
    m = /^(\d+(?:\.\d+)?)\+$/.exec(v);
    if (m) return [m[1], ""];
    return ["", ""];
  }
  function pounds(v) {
    var n = +v;
    return n === Math.round(n) ? money(n).replace(/\.00$/, "") : money(n);
  }
  function priceLabel(f) {
    var b = priceBounds(f);
    if (b[0] && b[1]) return +b[0] === 0 ? "Under " + pounds(b[1]) : pounds(b[0]) + " – " + pounds(b[1]);
    if (b[0]) return pounds(b[0]) + " and up";
    return String(f.value);
  }

  /* Filters panel from the answer's facets. */
  function filtersPanel(st, facets, opts, go) {
    var body = h("div");
    function radioGroup(name, legend, values, current, label) {
      if (!values || !values.length) return null;
      var id = "f-" + name;
      return h(
        "fieldset",
        null,
        h("legend", { text: legend }),
        h(
          "ul",
          null,
          [{ value: "", count: null, all: true }].concat(values).map(function (f, i) {
            var input = h("input", { type: "radio", name: id, id: id + "-" + i, value: f.value, checked: (current || "") === (f.value || "") ? true : null });
            input.addEventListener("change", function () {
              var next = Object.assign({}, st, { page: 1 });
              next[name] = f.value;
              go(next);
            });
            return h("li", null, h("label", { for: id + "-" + i }, input, h("span", { text: f.all ? "All" : label ? label(f) : f.value }), f.count !== null && f.count !== undefined ? h("span.count", { text: String(f.count) }) : null));
          })
        )
      );
    }
    var cats = ((facets && facets.category) || []).slice(0, 12);
    if (opts.categoryFacet !== false && cats.length) {
      body.appendChild(radioGroup("category", "Category", cats, st.category, opts.categoryLabel || function (f) { return String(f.value).replace(/ > /g, " › "); }));
    }
    var brands = (facets && facets.brand) || [];
    if (brands.length) body.appendChild(radioGroup("brand", "Brand", brands, st.brand));
    var prices = (facets && facets.price) || [];
    var pmin = h("input", { type: "number", min: "0", step: "0.01", id: "min-price", value: st.min_price || null, inputmode: "decimal" });
    var pmax = h("input", { type: "number", min: "0", step: "0.01", id: "max-price", value: st.max_price || null, inputmode: "decimal" });
    var pf = h(
      "fieldset",
      null,
      h("legend", { text: "Price" }),
      prices.length
        ? h(
            "ul",
            null,
            prices.map(function (f, i) {
              var b = priceBounds(f);
              var input = h("input", { type: "radio", name: "f-price", id: "f-price-" + i, checked: st.min_price === b[0] && st.max_price === b[1] && (b[0] || b[1]) ? true : null });
              input.addEventListener("change", function () {
                go(Object.assign({}, st, { min_price: b[0], max_price: b[1], page: 1 }));
              });
              return h("li", null, h("label", { for: "f-price-" + i }, input, h("span", { text: priceLabel(f) }), f.count != null ? h("span.count", { text: String(f.count) }) : null));
            })
          )
        : null,
      h(
        "form.price-range",
        {
          onsubmit: function (e) {
            e.preventDefault();
            go(Object.assign({}, st, { min_price: pmin.value, max_price: pmax.value, page: 1 }));
          },
        },
        h("label.visually-hidden", { for: "min-price", text: "Minimum price" }),
        pmin,
        h("span", { "aria-hidden": "true" }, "–"),
        h("label.visually-hidden", { for: "max-price", text: "Maximum price" }),
        pmax,
        h("button.btn.btn-ghost.btn-small", { type: "submit" }, "Go")
      )
    );
    body.appendChild(pf);
    if (st.category || st.brand || st.min_price || st.max_price) {
      body.appendChild(
        h("button.link-btn", { type: "button", onclick: function () { go(Object.assign({}, st, { category: "", brand: "", min_price: "", max_price: "", page: 1 })); } }, "Clear filters")
      );
    }
    var wide = window.matchMedia("(min-width: 900px)").matches;
    return h("aside.filters", { "aria-label": "Filters" }, h("details", { open: wide ? true : null }, h("summary", null, "Filters"), body));
  }

  function sortSelect(st, go) {
    var opts = [
      ["relevance", st.q ? "Relevance" : "Featured"],
      ["popular", "Most popular"],
      ["price_asc", "Price: low to high"],
      ["price_desc", "Price: high to low"],
      ["newest", "Newest"],
    ];
    var sel = h(
      "select",
      { id: "sort", name: "sort" },
      opts.map(function (o) {
        return h("option", { value: o[0], selected: (st.sort || "relevance") === o[0] ? true : null, text: o[1] });
      })
    );
    sel.addEventListener("change", function () {
      go(Object.assign({}, st, { sort: sel.value === "relevance" ? "" : sel.value, page: 1 }));
    });
    return h("div.sort", null, h("label", { for: "sort", text: "Sort by" }), sel);
  }

  function pager(st, total, perPage, go) {
    var pages = Math.max(1, Math.ceil(total / perPage));
    if (pages <= 1) return null;
    return h(
      "nav.pager",
      { "aria-label": "Pages" },
      h("button.btn.btn-ghost.btn-small", { type: "button", disabled: st.page <= 1 ? true : null, onclick: function () { go(Object.assign({}, st, { page: st.page - 1 })); } }, "Previous"),
      h("span", { "aria-current": "page", text: "Page " + st.page + " of " + pages }),
      h("button.btn.btn-ghost.btn-small", { type: "button", disabled: st.page >= pages ? true : null, onclick: function () { go(Object.assign({}, st, { page: st.page + 1 })); } }, "Next")
    );
  }

  function resultGrid(items) {
    rememberItems(items);
    return h(
      "ul.grid",
      { id: "results" },
      items.map(function (it) {
        return h("li", null, card(it));
      })
    );
  }

  /* Client-side stand-ins while /v1/search and /v1/browse are missing. */
  function clientSort(items, sort) {
    var a = items.slice();
    if (sort === "price_asc") a.sort(function (x, y) { return (x.price || 0) - (y.price || 0); });
    else if (sort === "price_desc") a.sort(function (x, y) { return (y.price || 0) - (x.price || 0); });
    return a;
  }
  function clientFilter(items, st) {
    var lo = parseFloat(st.min_price);
    var hi = parseFloat(st.max_price);
    return items.filter(function (it) {
      if (!isNaN(lo) && lo > 0 && !(it.price >= lo)) return false;
      if (!isNaN(hi) && hi > 0 && !(it.price <= hi)) return false;
      return true;
    });
  }
  function words(s) {
    return String(s || "")
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .filter(Boolean)
      .map(function (w) {
        return w.length > 3 ? w.replace(/(es|s)$/, "") : w;
      });
  }

  /* ------------------------------------------------------------- category */

  function pageCategory(main) {
    var path = qs("c") || "";
    var known = CATEGORIES.find(function (c) { return c.path === path; });
    if (!path) {
      location.replace(BASE);
      return null;
    }
    document.title = catName(path) + " · Tailor & Co.";
    main.setAttribute("data-tailor-page", "category");
    main.setAttribute("data-tailor-category", path);
    var parts = path.split(">").map(function (s) { return s.trim(); });
    var crumbs = h(
      "nav.crumbs",
      { "aria-label": "Breadcrumb" },
      h(
        "ol",
        null,
        h("li", null, h("a", { href: BASE, text: "Shop" })),
        parts.map(function (p, i) {
          var sub = parts.slice(0, i + 1).join(" > ");
          return h("li", null, i === parts.length - 1 ? h("span", { "aria-current": "page", text: p }) : h("a", { href: categoryUrl(sub), text: p }));
        })
      )
    );
    var head = h("div.page-head", null, h("h1", { text: known ? known.name : parts[parts.length - 1] }), h("p", { id: "result-count" }, " "));
    var area = h("div.listing");
    var wrap = h("div.wrap", null, crumbs, head, area, h("div.section", null, widget("trending", { "data-category": path, "data-limit": "6", "data-title": "Trending in " + (known ? known.name : path) })));
    main.appendChild(wrap);

    function render() {
      var st = listState();
      st.c = path;
      var go = function (next) {
        setListState(next, render);
      };
      var params = { category: st.category || path, brand: st.brand, min_price: st.min_price, max_price: st.max_price, sort: st.sort, page: st.page, per_page: PER_PAGE };
      Object.assign(params, shopperParams());
      return api("/v1/browse", params).then(
        function (res) {
          area.textContent = "";
          $("#result-count").textContent = res.total === 1 ? "1 product" : (res.total || 0) + " products";
          /* sub-categories of this page only */
          var facets = Object.assign({}, res.facets || {});
          facets.category = (facets.category || []).filter(function (f) { return f.value !== path && String(f.value).indexOf(path + " >") === 0; });
          area.appendChild(filtersPanel(st, facets, { categoryLabel: function (f) { return catName(f.value); } }, go));
          var col = h("div", null, h("div.toolbar", null, h("p", { text: pageInfo(res) }), sortSelect(st, go)));
          col.appendChild(res.items && res.items.length ? resultGrid(res.items) : h("div.empty", null, h("p", null, h("strong", { text: "Nothing here with these filters." })), h("p", { text: "Try removing a filter." })));
          append(col, pager(st, res.total || 0, res.per_page || PER_PAGE, go));
          area.appendChild(col);
        },
        function (err) {
          if (err.status !== 404 && err.status !== 405) throw err;
          return categoryFallback(st, path, area, go);
        }
      ).catch(function (err) {
        area.textContent = "";
        area.appendChild(notice("Sorry, the products could not be loaded (" + err.message + ")."));
      });
    }
    window.addEventListener("popstate", render);
    whenTailor().then(render);
    return null;
  }
  function pageInfo(res) {
    var total = res.total || 0;
    if (!total) return "No products";
    var per = res.per_page || PER_PAGE;
    var page = res.page || 1;
    var from = (page - 1) * per + 1;
    var to = Math.min(total, from + (res.items ? res.items.length : 0) - 1);
    return "Showing " + from + "–" + to + " of " + total;
  }
  function categoryFallback(st, path, area, go) {
    return api("/v1/recommendations", Object.assign({ type: "popular", category: path, limit: 48 }, {})).then(function (res) {
      var items = clientSort(clientFilter(res.items || [], st), st.sort);
      items.forEach(function (it) {
        /* recommendation items carry no category: the page's, or a sub-category guessed for the picture */
        var g = guessCategory(it.title);
        it.category = it.category || (g.indexOf(path) === 0 ? g : path);
      });
      area.textContent = "";
      $("#result-count").textContent = items.length + " popular products";
      area.appendChild(filtersPanel(st, {}, { categoryFacet: false }, go));
      var col = h(
        "div",
        null,
        h("p.notice.info", { role: "status", "data-fallback": "popular" }, "Browsing is not available on this server yet (GET /v1/browse), so this page shows the 48 most popular products of the category."),
        h("div.toolbar", null, h("p", { text: items.length ? "Showing " + items.length + " products" : "No products" }), sortSelect(st, go))
      );
      col.appendChild(items.length ? resultGrid(items) : h("div.empty", null, h("p", null, h("strong", { text: "No products found." }))));
      area.appendChild(col);
    });
  }

  /* --------------------------------------------------------------- search */

  function pageSearch(main) {
    var area = h("div.listing");
    var head = h("div.page-head", { id: "search-head" });
    var after = h("div", { id: "search-after" });
    main.appendChild(h("div.wrap", null, head, area, after, h("div.section", null, widget("session", { "data-limit": "6", "data-title": "Inspired by your visit", id: "session" }))));

    function render() {
      var st = listState();
      var go = function (next) {
        setListState(next, render);
      };
      head.textContent = "";
      after.textContent = "";
      var input = $("#q");
      if (input && document.activeElement !== input) input.value = st.q;
      if (!st.q) {
        document.title = "Search · Tailor & Co.";
        head.appendChild(h("h1", { text: "Search" }));
        head.appendChild(h("p", { text: "Type what you are looking for in the search box above." }));
        area.textContent = "";
        after.appendChild(widget("popular", { "data-limit": "6", "data-title": "Popular right now" }));
        return;
      }
      document.title = "“" + st.q + "” · Tailor & Co.";
      head.appendChild(h("h1", null, "Results for “", st.q, "”"));
      var params = { q: st.q, category: st.category, brand: st.brand, min_price: st.min_price, max_price: st.max_price, sort: st.sort, page: st.page, per_page: PER_PAGE };
      Object.assign(params, shopperParams());
      return api("/v1/search", params).then(
        function (res) {
          area.textContent = "";
          if (res.mode === "relaxed" && res.total) {
            head.appendChild(h("p", { id: "relaxed" }, "No product has all of your words; these have some of them."));
          }
          if (res.corrected_query && res.corrected_query.toLowerCase() !== String(res.query || st.q).toLowerCase()) {
            head.appendChild(
              h(
                "p.did-you-mean",
                { id: "did-you-mean" },
                "Did you mean ",
                h(
                  "a",
                  {
                    href: BASE + "search.html?q=" + encodeURIComponent(res.corrected_query),
                    onclick: function () {
                      tl("track", "search", { query: res.corrected_query });
                    },
                  },
                  h("strong", { text: res.corrected_query })
                ),
                res.mode === "corrected" ? "? The results below are for it." : "?"
              )
            );
          }
          if (!res.total) {
            area.appendChild(zeroResults(st.q));
            if (st.category || st.brand || st.min_price || st.max_price) area.insertBefore(filtersPanel(st, res.facets || {}, {}, go), area.firstChild);
            return;
          }
          area.appendChild(filtersPanel(st, res.facets || {}, {}, go));
          var col = h("div", null, h("div.toolbar", null, h("p", { id: "result-count", text: pageInfo(res) }), sortSelect(st, go)));
          col.appendChild(resultGrid(res.items || []));
          append(col, pager(st, res.total || 0, res.per_page || PER_PAGE, go));
          area.appendChild(col);
        },
        function (err) {
          if (err.status !== 404 && err.status !== 405) throw err;
          return searchFallback(st, area, go);
        }
      ).catch(function (err) {
        area.textContent = "";
        area.appendChild(notice("Sorry, the search failed (" + err.message + ")."));
      });
    }
    window.addEventListener("popstate", render);
    whenTailor().then(render);
    return null;
  }
  function zeroResults(q) {
    return h(
      "div",
      { style: "grid-column: 1 / -1" },
      h(
        "div.empty",
        { id: "zero-results" },
        h("p", null, h("strong", null, "No products match “", q, "”.")),
        h("p", { text: "Check the spelling, use fewer words, or try a more general term such as “mug” or “lights”." })
      ),
      h("div.section", null, widget("popular", { "data-limit": "6", "data-title": "Popular right now" }))
    );
  }
  function searchFallback(st, area, go) {
    return api("/v1/recommendations", { type: "popular", category: st.category, limit: 100 }).then(function (res) {
      var qw = words(st.q);
      var items = (res.items || []).filter(function (it) {
        var tw = words(it.title);
        return qw.every(function (w) {
          return tw.some(function (t) { return t.indexOf(w) === 0; });
        });
      });
      items = clientSort(clientFilter(items, st), st.sort);
      area.textContent = "";
      var note = h("p.notice.info", { role: "status", "data-fallback": "popular" }, "Full search is not available on this server yet (GET /v1/search), so these are the matching products among the 100 most popular.");
      if (!items.length) {
        area.appendChild(h("div", { style: "grid-column: 1 / -1" }, note, zeroResults(st.q)));
        return;
      }
      area.appendChild(filtersPanel(st, {}, { categoryFacet: false }, go));
      var col = h("div", null, note, h("div.toolbar", null, h("p", { id: "result-count", text: "Showing " + items.length + " products" }), sortSelect(st, go)));
      col.appendChild(resultGrid(items));
      area.appendChild(col);
    });
  }

  /* -------------------------------------------------------------- product */

  function pageProduct(main) {
    var id = qs("id");
    var box = h("div.wrap");
    main.appendChild(box);
    if (!id) {
      notFound(box, "");
      return null;
    }
    main.setAttribute("data-tailor-item", id);
    return api("/v1/items/" + encodeURIComponent(id)).then(
      function (item) {
        renderProduct(main, box, item, false);
      },
      function (err) {
        var cached = knownItem(id);
        if (err.status === 404 && !cached) {
          main.removeAttribute("data-tailor-item");
          notFound(box, id);
          return;
        }
        if (cached && (err.status === 403 || err.status === 404 || err.status === 401 || err.status === 405)) {
          renderProduct(main, box, Object.assign({ available: true }, cached), true);
          return;
        }
        if (err.status === 404) {
          main.removeAttribute("data-tailor-item");
          notFound(box, id);
          return;
        }
        box.appendChild(notice("Sorry, this product could not be loaded (" + err.message + ")."));
      }
    );
  }
  function notFound(box, id) {
    document.title = "Not found · Tailor & Co.";
    box.appendChild(
      h(
        "div.page-head",
        null,
        h("h1", { text: "We could not find that product" }),
        h("p", null, id ? "There is no product “" + id + "” in this shop, or it is no longer on sale. " : "", h("a", { href: BASE, text: "Back to the shop" }))
      )
    );
    box.appendChild(h("div.section", null, widget("popular", { "data-limit": "6", "data-title": "Popular right now" })));
  }
  function renderProduct(main, box, item, fromCache) {
    item.category = item.category || guessCategory(item.title);
    rememberItem(item);
    noteViewed(item);
    document.title = item.title + " · Tailor & Co.";
    if (item.price !== null && item.price !== undefined) main.setAttribute("data-tailor-price", String(item.price));
    if (item.category) main.setAttribute("data-tailor-category", item.category);
    main.setAttribute("data-tailor-title", item.title);
    if (item.currency) main.setAttribute("data-tailor-currency", item.currency);
    var parts = String(item.category).split(">").map(function (s) { return s.trim(); });
    var available = item.available !== false;
    var qty = h("input", { type: "number", id: "qty", name: "qty", min: "1", max: "999", value: "1", inputmode: "numeric" });
    var added = h("p.added", { id: "added", role: "status", "aria-live": "polite" });
    var btn = h(
      "button.btn",
      {
        type: "button",
        id: "add-to-cart",
        disabled: available ? null : true,
        onclick: function () {
          var n = Math.max(1, Math.min(999, parseInt(qty.value, 10) || 1));
          addToCart(item, n);
          added.textContent = "";
          added.appendChild(h("span", null, "Added " + n + " to your basket. ", h("a", { href: BASE + "cart.html", text: "View basket" })));
          var bt = $("#bought-together");
          if (bt) setTimeout(function () { rerender(bt); }, 1200);
        },
      },
      svgIcon("bag", 18),
      "Add to basket"
    );
    box.appendChild(
      h(
        "nav.crumbs",
        { "aria-label": "Breadcrumb" },
        h(
          "ol",
          null,
          h("li", null, h("a", { href: BASE, text: "Shop" })),
          parts.map(function (p, i) {
            return h("li", null, h("a", { href: categoryUrl(parts.slice(0, i + 1).join(" > ")), text: p }));
          }),
          h("li", null, h("span", { "aria-current": "page", text: item.title }))
        )
      )
    );
    box.appendChild(
      h(
        "article.product",
        { "aria-labelledby": "product-title", "data-id": item.id },
        h("div", null, paintThumb(h("span.thumb.big"), item.title, item.category)),
        h(
          "div",
          null,
          h("h1", { id: "product-title", text: item.title }),
          h("p.price", { id: "price", text: money(item.price, item.currency) }),
          h("p.meta", null, "Item " + item.id + " · ", h("a", { href: categoryUrl(item.category), text: catName(item.category) }), item.brand ? " · " + item.brand : ""),
          fromCache ? notice("Product details come from this browser's memory: GET /v1/items is not open to public keys on this server yet.", "info") : null,
          h("p", null, h("span.stock" + (available ? "" : ".out"), { text: available ? "In stock, ships tomorrow" : "Sold out" })),
          h("div.buy", null, h("div.qty", null, h("label", { for: "qty", text: "Quantity" }), qty), btn),
          added,
          h("ul.perks", null, h("li", { text: "Free UK delivery on orders over £30" }), h("li", { text: "Gift wrapping available at checkout" }), h("li", { text: "30 days to change your mind" }))
        )
      )
    );
    box.appendChild(h("div.section", null, widget("bought_together", { "data-item": item.id, "data-limit": "4", "data-title": "Frequently bought together", id: "bought-together" })));
    box.appendChild(h("div.section", null, widget("also_viewed", { "data-item": item.id, "data-limit": "6", "data-title": "Shoppers also viewed", id: "also-viewed" })));
    box.appendChild(h("div.section", null, widget("similar", { "data-item": item.id, "data-limit": "6", "data-title": "You may also like", id: "similar" })));
  }

  /* ----------------------------------------------------------------- cart */

  function pageCart(main) {
    var box = h("div.wrap");
    main.appendChild(box);
    var cartWidget = widget("cart", { "data-limit": "6", "data-title": "Complete your basket", id: "cart-widget" });
    /* "customers who bought X also bought" for the newest basket line; it
     * becomes a widget once the cart row rendered, leaving out the basket
     * and that row's items so the two rows do not repeat each other */
    var alsoBought = h("div.widget", { id: "also-bought", "data-limit": "6", "data-template": "demo-card" });
    function showAlsoBought(rowIds) {
      var lines = cart();
      if (!lines.length) return;
      var last = lines[lines.length - 1];
      var ex = lines.map(function (l) { return l.id; }).concat(rowIds || []);
      alsoBought.setAttribute("data-item", last.id);
      alsoBought.setAttribute("data-title", "Customers who bought " + last.title + " also bought");
      alsoBought.setAttribute("data-exclude", ex.slice(0, 100).join(","));
      alsoBought.setAttribute("data-tailor-widget", "also_bought");
      rerender(alsoBought);
    }
    cartWidget.addEventListener("tailor:render", function (e) {
      showAlsoBought(((e.detail || {}).items || []).map(function (it) { return it.id; }));
    });
    function render(thanks) {
      box.textContent = "";
      box.appendChild(h("div.page-head", null, h("h1", { text: "Your basket" })));
      if (thanks) box.appendChild(thanks);
      var lines = cart();
      if (!lines.length) {
        if (!thanks) box.appendChild(h("div.empty", { id: "cart-empty" }, h("p", null, h("strong", { text: "Your basket is empty." })), h("p", null, h("a", { href: BASE, text: "Find something lovely" }))));
        box.appendChild(h("div.section", null, widget("for_you", { "data-limit": "6", "data-title": "Recommended for you" })));
        return;
      }
      var sub = lines.reduce(function (s, l) { return s + l.qty * (l.price || 0); }, 0);
      var ship = sub >= 30 ? 0 : 3.95;
      var list = h(
        "ul.cart-lines",
        { id: "cart-lines" },
        lines.map(function (l) {
          var qid = "qty-" + hash32(l.id).toString(36);
          var input = h("input", { type: "number", id: qid, min: "0", max: "999", value: String(l.qty), inputmode: "numeric" });
          input.addEventListener("change", function () {
            var n = parseInt(input.value, 10);
            setCartQty(l.id, isNaN(n) ? l.qty : Math.max(0, Math.min(999, n)));
            render();
            refreshWidget();
          });
          function step(d) {
            setCartQty(l.id, l.qty + d);
            render();
            refreshWidget();
            var again = document.getElementById(qid);
            if (again) again.focus();
          }
          return h(
            "li.cart-line",
            { "data-id": l.id },
            paintThumb(h("span.thumb"), l.title, l.category),
            h("div.info", null, h("a", { href: productUrl(l.id), text: l.title }), h("div.unit", { text: money(l.price, l.currency) + " each" })),
            h("div.line-total", { text: money(l.qty * (l.price || 0), l.currency) }),
            h(
              "div.ctrl",
              null,
              h("label.visually-hidden", { for: qid, text: "Quantity of " + l.title }),
              h(
                "div.stepper",
                null,
                h("button", { type: "button", "aria-label": "One less " + l.title, onclick: function () { step(-1); } }, "−"),
                input,
                h("button", { type: "button", "aria-label": "One more " + l.title, onclick: function () { step(1); } }, "+")
              ),
              h(
                "button.link-btn",
                {
                  type: "button",
                  "data-remove": l.id,
                  onclick: function () {
                    setCartQty(l.id, 0);
                    render();
                    refreshWidget();
                  },
                },
                "Remove",
                h("span.visually-hidden", { text: " " + l.title })
              )
            )
          );
        })
      );
      var summary = h(
        "aside.summary",
        { "aria-labelledby": "summary-title" },
        h("h2", { id: "summary-title", text: "Order summary" }),
        h(
          "dl",
          null,
          h("dt", { text: "Items" }),
          h("dd", { id: "cart-items", text: String(cartCount()) }),
          h("dt", { text: "Subtotal" }),
          h("dd", { id: "cart-subtotal", text: money(sub) }),
          h("dt", { text: "Delivery" }),
          h("dd", { text: ship ? money(ship) : "Free" }),
          h("dt.total", { text: "Total" }),
          h("dd.total", { id: "cart-total", text: money(sub + ship) })
        ),
        h("button.btn", { type: "button", id: "checkout", onclick: checkout }, "Place order"),
        h("p.fine", { text: ship ? "Add " + money(30 - sub) + " more for free delivery." : "Your order ships free." }),
        h("p.fine", { text: "This is a demo: no payment is taken; the order is sent to Tailor as a purchase." })
      );
      box.appendChild(h("div.cart", null, list, summary));
      box.appendChild(h("div.section", null, cartWidget));
      box.appendChild(h("div.section", null, alsoBought));
    }
    function refreshWidget() {
      /* tailor.js batches events for about a second: ask again after it sent them */
      var t = window.tailor;
      if (t && typeof t.flush === "function") Promise.resolve(t.flush()).then(function () { rerender(cartWidget); });
      else setTimeout(function () { rerender(cartWidget); }, 1500);
    }
    function checkout() {
      var lines = cart();
      if (!lines.length) return;
      var orderId = "demo-" + Date.now().toString(36) + "-" + Math.floor(Math.random() * 1e6).toString(36);
      var items = lines.map(function (l) {
        return { item_id: l.id, quantity: l.qty, price: l.price || 0 };
      });
      var total = lines.reduce(function (s, l) { return s + l.qty * (l.price || 0); }, 0);
      tl("track", "checkout_start", { items: items });
      tl("track", "purchase", { order_id: orderId, event_id: "order-" + orderId, items: items });
      saveCart([]);
      render(
        h(
          "div.thanks",
          { role: "status", id: "thanks" },
          h("h2", { text: "Thank you for your order!" }),
          h("p", null, "Order ", h("strong", { text: orderId }), " · " + money(total) + ". Tailor has recorded the purchase, so your recommendations already know about it."),
          h("a.btn", { href: BASE }, "Continue shopping")
        )
      );
      if (window.tailor && typeof window.tailor.flush === "function") window.tailor.flush();
    }
    render(null);
    return null;
  }

  /* Exit intent: remind a leaving shopper of a full basket (once per
   * session, tailor.js decides when: pointer leaving at the top on desktop,
   * back button or 30 s idle on phones). */
  function armExitIntent() {
    var lines = cart();
    if (!lines.length) return;
    tl("exitIntent", {
      title: "Your basket is waiting",
      message: "We have kept your basket for you. Order today and delivery is on us.",
      offer: "Free delivery with code FREEDELIVERY",
      cta: "Go to my basket",
      url: BASE + "cart.html",
      cartItems: lines.map(function (l) {
        return { item_id: l.id, title: l.title, price: l.price, currency: l.currency, quantity: l.qty };
      }),
    });
  }

  /* ----------------------------------------------------------------- boot */

  function cardTemplate() {
    if (document.getElementById("demo-card")) return;
    var t = document.createElement("template");
    t.id = "demo-card";
    t.innerHTML =
      '<a class="card" href="{{url}}" data-id="{{id}}"><span class="thumb" data-demo-thumb="{{title}}"></span>' +
      '<span class="card-body"><span class="card-title">{{title}}</span>' +
      '<span class="card-price">{{price}}</span></span></a>';
    document.body.appendChild(t);
  }

  var PAGES = { home: pageHome, category: pageCategory, search: pageSearch, product: pageProduct, cart: pageCart };

  function boot() {
    var page = document.body.getAttribute("data-page") || "home";
    buildHeader(page);
    buildFooter();
    var main = $("#main");
    if (!KEY) {
      showSetup(main);
      return;
    }
    cardTemplate();
    var ready = null;
    try {
      ready = (PAGES[page] || pageHome)(main);
    } catch (e) {
      main.appendChild(notice("Sorry, this page failed to load: " + e.message));
    }
    watchWidgets();
    redirectItemUrls();
    armExitIntent();
    whenTailor().then(function () {
      /* keep tailor.js's customer id in step with our login (e.g. after its storage was cleared) */
      var u = shopperId();
      var t = window.tailor;
      if (u && t && typeof t.ids === "function" && t.ids().user_id !== u && store("tl_demo_consent") !== false) t.identify(u);
    });
    var timeout = new Promise(function (res) { setTimeout(res, TL_WAIT_MS); });
    Promise.race([Promise.resolve(ready).catch(function () {}), timeout]).then(injectTailor);
  }

  /* exported for tests and the curious */
  window.TailorDemo = { cart: cart, paintThumb: paintThumb, guessCategory: guessCategory, topViewedCategory: topViewedCategory, anonymousId: anonymousId };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
