// Vault Dashboard page script: draws the charts, runs the LTV range buttons and the option-chain
// table. Data comes from <script type="application/json"> blocks and same-site JSON files; text is
// only ever placed with textContent, so a name in the data can never become markup.
"use strict";

(function () {
  const rangedViews = [];
  const range = {param: null, days: null};  // the range chosen before a chart finished drawing applies to it too

  function readJson(id) {
    const block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : null;
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function press(buttons, pressed) {
    for (const button of buttons) button.setAttribute("aria-pressed", String(button === pressed));
  }

  // --- Charts: every <script class="chart-spec"> is a Vega-Lite spec for the div it names. ---
  async function embedCharts() {
    if (typeof window.vegaEmbed !== "function") return;
    for (const spec of document.querySelectorAll("script.chart-spec")) {
      const result = await window.vegaEmbed(document.getElementById(spec.dataset.chart), JSON.parse(spec.textContent),
                                            // ast: Vega interprets chart expressions instead of
                                            // compiling them with new Function(), so the CSP needs no 'unsafe-eval'
                                            {actions: false, renderer: "svg", ast: true});
      if (!spec.hasAttribute("data-ranged")) continue;
      rangedViews.push(result.view);
      if (range.days !== null) await result.view.signal(range.param, range.days).runAsync();
    }
  }

  // --- LTV history: a button sets the ranged charts' day-count signal and says what it shows. ---
  function setUpRangeButtons() {
    const group = document.querySelector("[data-range-buttons]");
    if (!group) return;
    const buttons = group.querySelectorAll("button[data-range-days]");
    const summary = document.getElementById(group.dataset.rangeSummary);
    for (const button of buttons) {
      button.addEventListener("click", async () => {
        press(buttons, button);
        summary.textContent = button.dataset.summary;
        range.param = group.dataset.rangeParam;
        range.days = Number(button.dataset.rangeDays);
        await Promise.all(rangedViews.map((view) => view.signal(range.param, range.days).runAsync()));
      });
    }
  }

  // --- Option chain: the first expiry is inline, the others are fetched when a filter needs them. ---
  function setUpChain() {
    const table = document.getElementById("chain-table");
    const data = readJson("chain-data");
    if (!table || !data || !data.first) return;
    const filters = document.querySelector("[data-chain-filters]");
    const windowButtons = filters.querySelectorAll("button[data-chain-window]");
    const rightSelect = filters.querySelector("select[data-chain-right]");
    const bandSelect = filters.querySelector("select[data-chain-band]");
    const status = document.getElementById("chain-status");
    const serveHint = document.getElementById("chain-serve-hint");
    const columns = table.tHead.rows[0].cells.length;
    const loaded = new Map([[data.first.expiry, data.first.rows]]);
    let chosenWindow = windowButtons[0].dataset.chainWindow;
    let latestRender = 0;  // a slower, earlier render must not overwrite a later one

    function expiriesInWindow() {
      if (chosenWindow === "next") return data.expiries.slice(0, 1);
      if (chosenWindow === "all") return data.expiries;
      return data.expiries.filter((listed) => listed.days <= Number(chosenWindow));
    }

    async function load(listed) {
      const response = await fetch(listed.href);
      if (!response.ok) throw new Error(`${listed.href}: HTTP ${response.status}`);
      loaded.set(listed.expiry, (await response.json()).rows);
    }

    function showServeHint() {
      if (location.protocol === "file:") {
        const folder = decodeURIComponent(location.pathname.replace(/\/[^/]*$/, ""));
        for (const slot of serveHint.querySelectorAll("[data-site-folder]")) slot.textContent = folder;
      }
      serveHint.hidden = false;
    }

    async function render() {
      const token = ++latestRender;
      const wanted = expiriesInWindow();
      const missing = wanted.filter((listed) => !loaded.has(listed.expiry));
      if (missing.length) {
        status.textContent = `Loading ${missing.length} more expir${missing.length === 1 ? "y" : "ies"}…`;
        const results = await Promise.allSettled(missing.map(load));
        if (results.some((result) => result.status === "rejected")) showServeHint();
        if (token !== latestRender) return;
      }
      const right = rightSelect.value;
      const band = bandSelect.value === "all" ? Infinity : Number(bandSelect.value);
      for (const group of Array.from(table.tBodies)) group.remove();
      let shown = 0;
      let shownExpiries = 0;
      for (const listed of wanted.filter((listed) => loaded.has(listed.expiry))) {
        const rows = loaded.get(listed.expiry).filter(
          (row) => (right === "all" || row.right === right) && Math.abs(row.moneyness - 1) <= band + 1e-9);
        const body = table.createTBody();
        const heading = body.insertRow();
        heading.className = "expiry-row";
        const cell = element("th", `${listed.expiry} · ${listed.days} days · ${rows.length} of ${listed.contracts} contracts`);
        cell.scope = "colgroup";
        cell.colSpan = columns;
        heading.append(cell);
        for (const row of rows) {
          const line = body.insertRow();
          line.className = "contract-row";
          row.cells.forEach((text, i) => line.append(element(i === 0 ? "th" : "td", text, i === 0 ? "contract" : undefined)));
          line.cells[0].scope = "row";
        }
        shown += rows.length;
        shownExpiries += 1;
      }
      const unavailable = wanted.length - shownExpiries;
      status.textContent = `Showing ${shown} contracts in ${shownExpiries} expir${shownExpiries === 1 ? "y" : "ies"}` +
        (unavailable ? ` (${unavailable} more could not be loaded).` : ".");
    }

    for (const button of windowButtons) {
      button.addEventListener("click", () => {
        press(windowButtons, button);
        chosenWindow = button.dataset.chainWindow;
        render();
      });
    }
    rightSelect.addEventListener("change", render);
    bandSelect.addEventListener("change", render);
    render();
  }

  setUpRangeButtons();
  setUpChain();
  embedCharts();
})();
