// fseval report: the sample browser. Draws one page of samples at a time from the JSON block
// written by fseval/reports/html/payload.py (its docstring describes the layout).
(() => {
  "use strict";
  const D = JSON.parse(document.getElementById("fseval-data").textContent);
  const PAGE = 20;
  const IMAGE = "<image>";
  const [TASK, SHOTS, SEED, ID, GROUPS, TARGET, RUNS] = [0, 1, 2, 3, 4, 5, 6];
  const [CHUNKS, MEDIA, GENERATION, PREDICTION, SCORE, ERROR, RANKING, MODEL_PROMPT] = [0, 1, 2, 3, 4, 5, 6, 7];
  const state = { task: "", shots: "", seed: "", group: "", outcome: "", judge: "0", query: "", page: 0 };
  const searchText = new Map();

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function outcome(entry) {
    if (!entry) return "missing";
    if (entry[ERROR]) return "failed";
    const score = entry[SCORE];
    if (score === null || score === undefined) return "unscored";
    return score >= 0.9999 ? "correct" : score <= 0 ? "wrong" : "partial";
  }

  function distinct(values) {
    return [...new Set(values)].sort((a, b) => (typeof a === "number" ? a - b : String(a).localeCompare(String(b))));
  }

  function select(name, label, options) {
    const node = el("select", { name });
    for (const [value, text] of options) node.append(el("option", { value: String(value), text }));
    node.value = state[name];
    node.addEventListener("change", () => { state[name] = node.value; state.page = 0; draw(); });
    return el("label", {}, label, node);
  }

  function filters() {
    const form = document.getElementById("filters");
    const all = [["", "all"]];
    form.append(select("task", "task", all.concat(D.tasks.map((t, i) => [i, t]))));
    form.append(select("shots", "shots", all.concat(distinct(D.items.map((x) => x[SHOTS])).map((s) => [s, s]))));
    form.append(select("seed", "trial (seed)", all.concat(distinct(D.items.map((x) => x[SEED])).map((s) => [s, s]))));
    form.append(select("group", "group", all.concat(D.groups.map((g, i) => [i, g]))));
    const outcomes = ["correct", "wrong", "partial", "failed"].map((o) => [o, o]);
    if (D.runs.length > 1) {
      outcomes.push(["differ", "runs differ"]);
      form.append(select("judge", "judged by", D.runs.map((r, i) => [i, r])));
    }
    form.append(select("outcome", "outcome", all.concat(outcomes)));
    const search = el("input", { type: "search", name: "query", placeholder: "id, question, answer, target…" });
    search.addEventListener("input", () => { state.query = search.value.trim().toLowerCase(); state.page = 0; draw(); });
    form.append(el("label", {}, "search", search));
    form.addEventListener("submit", (event) => event.preventDefault());
  }

  function haystack(index) {
    if (!searchText.has(index)) {
      const item = D.items[index];
      const parts = [String(item[ID]), JSON.stringify(D.targets[item[TARGET]])];
      for (const entry of item[RUNS]) {
        if (!entry) continue;
        const last = entry[CHUNKS][entry[CHUNKS].length - 1];
        parts.push(last === undefined ? "" : D.chunks[last], entry[GENERATION] || "", entry[PREDICTION] || "", entry[ERROR] || "");
      }
      searchText.set(index, parts.join("\n").toLowerCase());
    }
    return searchText.get(index);
  }

  function matches(item, index) {
    if (state.task !== "" && item[TASK] !== Number(state.task)) return false;
    if (state.shots !== "" && item[SHOTS] !== Number(state.shots)) return false;
    if (state.seed !== "" && item[SEED] !== Number(state.seed)) return false;
    if (state.group !== "" && !item[GROUPS].includes(Number(state.group))) return false;
    if (state.outcome === "differ") {
      if (new Set(item[RUNS].map((entry) => (entry ? entry[SCORE] : null))).size < 2) return false;
    } else if (state.outcome !== "" && outcome(item[RUNS][Number(state.judge)]) !== state.outcome) return false;
    return state.query === "" || haystack(index).includes(state.query);
  }

  function thumbnail(mediaIndex) {
    const [name, number, why] = D.media[mediaIndex];
    const short = name.split("/").pop();
    if (number >= 0) return el("img", { src: D.thumbnails[number], alt: short, title: name, loading: "lazy" });
    return el("span", { class: "missing", title: `${name}: ${why}`, text: short });
  }

  function promptView(entry) {
    const view = el("div", { class: "prompt" });
    let media = 0;
    entry[CHUNKS].forEach((chunkIndex, position) => {
      const query = position === entry[CHUNKS].length - 1;
      const box = el("div", { class: query ? "chunk query" : "chunk", title: query ? "query" : `demo ${position + 1}` });
      D.chunks[chunkIndex].split(IMAGE).forEach((text, i) => {
        if (i > 0) box.append(media < entry[MEDIA].length ? thumbnail(entry[MEDIA][media++]) : IMAGE);
        if (text) box.append(text);
      });
      view.append(box);
    });
    return view;
  }

  function targetsView(targets) {
    const view = el("div", { class: "targets" });
    for (const [key, value] of Object.entries(targets)) {
      let text;
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
        const counts = new Map();
        for (const v of value) counts.set(v, (counts.get(v) || 0) + 1);
        text = [...counts].map(([v, n]) => (n > 1 ? `${v} ×${n}` : v)).join(" · ");
      } else text = typeof value === "string" ? value : JSON.stringify(value);
      view.append(el("div", {}, el("b", { text: `${key}: ` }), text));
    }
    return view;
  }

  function samePrompt(entries) {
    const present = entries.filter(Boolean);
    const key = (entry) => `${entry[CHUNKS].join(",")}|${entry[MEDIA].join(",")}`;
    return present.length > 1 && present.every((entry) => key(entry) === key(present[0])) ? present[0] : null;
  }

  function runView(entry, runIndex, shared) {
    const verdict = outcome(entry);
    const view = el("div", { class: `run ${{ correct: "ok", wrong: "wrong", partial: "part", failed: "wrong" }[verdict] || ""}` });
    if (D.runs.length > 1) view.append(el("h3", { text: D.runs[runIndex] }));
    if (!entry) return view.append(el("p", { class: "note", text: "not in this run" })), view;
    if (!shared) view.append(promptView(entry));
    if (entry[ERROR]) view.append(el("p", { class: "error", text: `failed: ${entry[ERROR]}` }));
    else {
      const score = entry[SCORE] === null ? "–" : (100 * entry[SCORE]).toFixed(1);
      view.append(el("div", { class: "answer" }, el("span", { class: "score", text: `${score} ` }), "prediction: ",
        el("b", { text: JSON.stringify(entry[PREDICTION]) }),
        entry[GENERATION] !== entry[PREDICTION] ? ` (generated ${JSON.stringify(entry[GENERATION])})` : ""));
    }
    if (entry[RANKING].length) {
      const ranking = entry[RANKING].map(([label, score]) => `${label} (${Number(score).toFixed(3)})`).join(" · ");
      view.append(el("div", { class: "note", text: `top candidates: ${ranking}` }));
    }
    if (!shared) view.append(exactPrompt(entry));
    if (entry[MODEL_PROMPT]) {
      view.append(el("details", {}, el("summary", { text: "as the model's tokenizer received it" }), el("pre", { text: entry[MODEL_PROMPT] })));
    }
    return view;
  }

  function exactPrompt(entry) {
    const exact = entry[CHUNKS].map((c) => D.chunks[c]).join("");
    return el("details", {}, el("summary", { text: "exact prompt" }), el("pre", { text: exact }));
  }

  function sampleView(item) {
    const head = el("div", { class: "head" },
      el("span", { class: "id", text: `${D.tasks[item[TASK]]} · ${item[ID]}` }),
      el("span", { class: "tag", text: `${item[SHOTS]} shots` }),
      el("span", { class: "tag", text: `seed ${item[SEED]}` }),
      ...item[GROUPS].map((g) => el("span", { class: "tag", text: D.groups[g] })));
    const shared = samePrompt(item[RUNS]);  // one prompt for all runs: shown once, above their answers
    const runs = el("div", { class: "runs" }, ...item[RUNS].map((entry, i) => runView(entry, i, shared !== null)));
    const prompt = shared ? [promptView(shared), exactPrompt(shared)] : [];
    return el("article", { class: "sample", "data-id": String(item[ID]) }, head, targetsView(D.targets[item[TARGET]]), ...prompt, runs);
  }

  function draw() {
    const chosen = [];
    D.items.forEach((item, index) => { if (matches(item, index)) chosen.push(index); });
    const pages = Math.max(1, Math.ceil(chosen.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const first = state.page * PAGE;
    const shown = chosen.slice(first, first + PAGE);
    document.getElementById("count").textContent = chosen.length
      ? `${chosen.length} of ${D.items.length} samples; showing ${first + 1}–${first + shown.length}`
      : `no sample of ${D.items.length} matches`;
    document.getElementById("samples").replaceChildren(...shown.map((index) => sampleView(D.items[index])));
    const previous = el("button", { type: "button", text: "← previous" });
    const next = el("button", { type: "button", text: "next →" });
    previous.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
    previous.addEventListener("click", () => { state.page -= 1; draw(); });
    next.addEventListener("click", () => { state.page += 1; draw(); });
    document.getElementById("pager").replaceChildren(previous, el("span", { text: `page ${state.page + 1} of ${pages}` }), next);
  }

  filters();
  draw();
})();
