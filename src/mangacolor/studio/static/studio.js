// mangacolor studio: the page in the browser. Plain JavaScript, no build step, nothing fetched from
// elsewhere. Every edit is saved at once (PUT .../hints) and followed by a debounced preview; a
// preview older than the newest edit is dropped. window.studio exposes the state (tests read it).
"use strict";
(() => {
  const DEBOUNCE_MS = 120;
  const RECENT_KEPT = 10;
  const HEX = /^#?([0-9a-fA-F]{6})$/;
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const S = window.studio = {
    page: 0, pages: [], marks: [], histories: {}, tool: "dot", color: "#d9a066", size: 7,
    width: 0, height: 0, scale: 1, hidden: false, layerHints: false, takesHints: true,
    editSeq: 0, shownSeq: -1, shownPage: -1, requestSeq: 0, editTime: 0, lastLatencyMs: null,
    previewTimer: null, previewsInFlight: 0, savesInFlight: 0, saveChain: Promise.resolve(),
    recent: JSON.parse(localStorage.getItem("mangacolor-recent") || "[]"), palette: [],
    lastSave: null, chapter: null, errors: 0,
    // This tab's id: the server drops a waiting preview of this tab's when a newer one arrives.
    client: Math.random().toString(36).slice(2, 12),
  };

  // ---- talking to the server ------------------------------------------------------------------
  async function api(path, options = {}) {
    const headers = Object.assign({ "X-Studio-Token": token }, options.headers || {});
    const init = Object.assign({}, options, { headers });
    if (options.json !== undefined) {
      init.body = JSON.stringify(options.json);
      headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init);
    if (!response.ok) {
      let text = `${response.status} ${response.statusText}`;
      try { text = (await response.json()).error || text; } catch (_) { /* not JSON */ }
      throw new Error(text);
    }
    return response;
  }
  const apiJson = async (path, options) => (await api(path, options)).json();
  const tokenQuery = () => `token=${encodeURIComponent(token)}`;

  function say(text, ok = false) {
    const box = $("message");
    box.textContent = text;
    box.className = ok ? "ok" : "";
    if (!ok && text) S.errors += 1;
  }
  function status() {
    const page = S.pages[S.page];
    const parts = [page ? `page ${S.page + 1}/${S.pages.length}: ${page.name}`
      : "no pages: drop some on the window",
      `${S.marks.length} hint${S.marks.length === 1 ? "" : "s"}`];
    if (S.lastLatencyMs !== null) parts.push(`preview ${Math.round(S.lastLatencyMs)} ms`);
    if (!S.takesHints) parts.push("this model takes no hints: automatic colouring only");
    $("status").textContent = parts.join(" · ");
  }

  // ---- pages ---------------------------------------------------------------------------------
  async function loadState() {
    const state = await apiJson("/api/state");
    S.pages = state.pages;
    S.takesHints = state.model.hints;
    S.palette = state.palette;
    if (state.palette_error) say(state.palette_error);
    const list = $("page-list");
    list.innerHTML = "";
    for (const page of S.pages) list.add(new Option(`${page.index + 1}. ${page.name}`, page.index));
    const compose = $("compose");
    if (!compose.options.length) {
      for (const mode of state.compose_modes) {
        const option = new Option(mode, mode);
        const fullColorOnly = mode === "ink" || mode === "predicted";
        option.disabled = state.model.predicts !== "lab" && fullColorOnly;
        compose.add(option);
      }
      compose.value = state.compose;
      $("chroma").value = state.chroma;
      $("chroma-value").textContent = state.chroma;
    }
    $("chapter").disabled = !state.chapter;
    renderPalette();
    renderRecent();
    return state;
  }

  async function showPage(index) {
    if (index < 0 || index >= S.pages.length) return;
    S.page = index;
    $("page-list").value = index;
    const blob = await (await api(`/api/pages/${index}/image`)).blob();
    const bitmap = await createImageBitmap(blob);
    const hints = await apiJson(`/api/pages/${index}/hints`);
    if (S.page !== index) return;  // another page was asked for meanwhile
    S.width = bitmap.width; S.height = bitmap.height;
    // The whole page in view: as wide as the room allows, and no taller than the room.
    const area = $("stage-area");
    const fitted = (area.clientHeight - 50) * S.width / S.height;
    const room = Math.max(200, Math.min(area.clientWidth - 24, fitted));
    const shown = Math.min(S.width, Math.round(room));
    S.scale = shown / S.width;
    const h = Math.round(S.height * S.scale);
    for (const id of ["page-canvas", "result-canvas", "hint-canvas"]) {
      const canvas = $(id);
      canvas.width = shown; canvas.height = h;
      canvas.style.width = `${shown}px`; canvas.style.height = `${h}px`;
    }
    $("stage").style.width = `${shown}px`; $("stage").style.height = `${h}px`;
    $("page-canvas").getContext("2d").drawImage(bitmap, 0, 0, shown, h);
    $("result-canvas").getContext("2d").clearRect(0, 0, shown, h);
    S.marks = hints.hints;
    S.layerHints = hints.layer;
    if (hints.error) say(hints.error);
    else if (hints.layer) {
      say("this page's hints are a painted layer (.png): shown in the preview, not editable here");
    }
    else say("");
    S.shownSeq = -1; S.shownPage = -1;
    drawHints();
    status();
    S.editTime = performance.now();
    schedulePreview(0);
  }
  const history = () => (S.histories[S.page] = S.histories[S.page] || { undo: [], redo: [] });

  // ---- hints: drawing, editing, saving ----------------------------------------------------------
  function drawHints(extra) {
    const canvas = $("hint-canvas");
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (S.hidden) return;
    const marks = extra ? S.marks.concat([extra]) : S.marks;
    for (const mark of marks) {
      const side = Math.max(3, mark.size * S.scale);
      if (mark.points) {
        ctx.lineCap = "square"; ctx.lineJoin = "round";
        ctx.strokeStyle = "#000"; ctx.lineWidth = side + 2;
        tracePath(ctx, mark.points); ctx.stroke();
        ctx.strokeStyle = mark.color; ctx.lineWidth = side;
        tracePath(ctx, mark.points); ctx.stroke();
      } else {
        const x = mark.x * S.scale - side / 2, y = mark.y * S.scale - side / 2;
        ctx.fillStyle = mark.color; ctx.fillRect(x, y, side, side);
        ctx.strokeStyle = "#fff"; ctx.lineWidth = 1;
        ctx.strokeRect(x - 0.5, y - 0.5, side + 1, side + 1);
        ctx.strokeStyle = "#000"; ctx.strokeRect(x - 1.5, y - 1.5, side + 3, side + 3);
      }
    }
  }
  function tracePath(ctx, points) {
    ctx.beginPath();
    points.forEach(([x, y], i) => {
      if (i) ctx.lineTo(x * S.scale, y * S.scale);
      else ctx.moveTo(x * S.scale, y * S.scale);
    });
    if (points.length === 1) ctx.lineTo(points[0][0] * S.scale + 0.01, points[0][1] * S.scale);
  }

  function editable() {
    if (S.layerHints) {
      say("this page's hints are a painted layer (.png); move it away to edit here");
      return false;
    }
    return true;
  }
  function commit(marks) {
    const h = history();
    h.undo.push(S.marks); h.redo = [];
    S.marks = marks;
    edited();
  }
  function edited() {
    drawHints();
    saveHints();
    S.editSeq += 1;
    S.editTime = performance.now();
    status();
    schedulePreview();
  }
  function saveHints() {
    const page = S.page, body = { version: 1, hints: S.marks };
    S.savesInFlight += 1;
    // Chained, so the file always ends as the newest edit even when requests would overtake
    // each other.
    const put = () => apiJson(`/api/pages/${page}/hints`, { method: "PUT", json: body });
    S.saveChain = S.saveChain.then(put)
      .then(() => {}, (error) => say(`hints not saved: ${error.message}`))
      .finally(() => { S.savesInFlight -= 1; });
  }
  function undo() {
    const h = history();
    if (!h.undo.length || !editable()) return;
    h.redo.push(S.marks); S.marks = h.undo.pop(); edited();
  }
  function redo() {
    const h = history();
    if (!h.redo.length || !editable()) return;
    h.undo.push(S.marks); S.marks = h.redo.pop(); edited();
  }

  // ---- the preview ------------------------------------------------------------------------------
  function schedulePreview(delay = DEBOUNCE_MS) {
    clearTimeout(S.previewTimer);
    S.previewTimer = setTimeout(() => { S.previewTimer = null; runPreview(); }, delay);
  }
  let previewAbort = null;
  async function runPreview() {
    if (!S.pages.length) return;
    const seq = ++S.requestSeq, editSeq = S.editSeq, page = S.page, started = S.editTime;
    if (previewAbort) previewAbort.abort();
    const abort = previewAbort = new AbortController();
    const ratio = window.devicePixelRatio || 1;
    const width = Math.min(S.width, Math.round($("result-canvas").width * ratio));
    const body = { compose: $("compose").value, chroma: Number($("chroma").value), width, seq,
      client: S.client };
    if (!S.layerHints) body.hints = S.marks;
    S.previewsInFlight += 1;
    try {
      const response = await api(`/api/pages/${page}/preview`,
        { method: "POST", json: body, signal: abort.signal });
      // stale: dropped
      if (response.status === 204 || seq !== S.requestSeq || page !== S.page) return;
      const warning = response.headers.get("X-Studio-Warning");
      const bitmap = await createImageBitmap(await response.blob());
      if (seq !== S.requestSeq || page !== S.page) return;
      const canvas = $("result-canvas");
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      S.shownSeq = editSeq; S.shownPage = page;
      S.lastLatencyMs = performance.now() - started;
      if (warning) say(warning);
      status();
    } catch (error) {
      if (error.name !== "AbortError") say(`preview: ${error.message}`);
    } finally {
      S.previewsInFlight -= 1;
    }
  }
  // Whether everything asked for is done: saved, and the preview shows the newest edit.
  S.idle = () => S.previewTimer === null && S.previewsInFlight === 0 && S.savesInFlight === 0
    && S.shownSeq === S.editSeq && S.shownPage === S.page;

  function applySplit() {
    const split = Number($("split").value);
    $("result-canvas").style.clipPath = `inset(0 0 0 ${split}%)`;
    $("divider").style.left = `${split}%`;
    $("divider").hidden = split === 0;
  }

  // ---- pointer tools ------------------------------------------------------------------------
  const toPage = (event) => [Math.round(event.offsetX / S.scale),
    Math.round(event.offsetY / S.scale)];
  function hits(mark, [x, y]) {
    const reach = mark.size / 2 + 3 / S.scale;
    if (!mark.points) return Math.abs(mark.x - x) <= reach && Math.abs(mark.y - y) <= reach;
    for (let i = 0; i < mark.points.length; i++) {
      const a = mark.points[i], b = mark.points[Math.min(i + 1, mark.points.length - 1)];
      if (segmentDistance([x, y], a, b) <= reach) return true;
    }
    return false;
  }
  function segmentDistance(p, a, b) {
    const dx = b[0] - a[0], dy = b[1] - a[1], length = dx * dx + dy * dy;
    const along = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length;
    const t = length ? Math.max(0, Math.min(1, along)) : 0;
    return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
  }
  let gesture = null;
  function pointerDown(event) {
    if (!S.pages.length) return;
    const p = toPage(event);
    if (S.tool === "eyedropper") {
      pickFrom($("result-canvas"), event.offsetX, event.offsetY, $("page-canvas"));
      return;
    }
    if (!editable()) return;
    $("hint-canvas").setPointerCapture(event.pointerId);
    if (S.tool === "dot") {
      let index = -1;
      for (let i = S.marks.length - 1; i >= 0; i--) {
        if (!S.marks[i].points && hits(S.marks[i], p)) { index = i; break; }
      }
      gesture = index >= 0 ? { kind: "move", index, from: p, before: S.marks, moved: false }
        : { kind: "dot", at: p };
    } else if (S.tool === "stroke") {
      gesture = { kind: "stroke", points: [p] };
    } else if (S.tool === "eraser") {
      gesture = { kind: "erase", before: S.marks };
      erase(p);
    }
  }
  function pointerMove(event) {
    if (!gesture) return;
    const p = toPage(event);
    if (gesture.kind === "move") {
      const mark = gesture.before[gesture.index];
      const moved = Object.assign({}, mark,
        { x: mark.x + p[0] - gesture.from[0], y: mark.y + p[1] - gesture.from[1] });
      moved.x = Math.max(0, Math.min(S.width - 1, moved.x));
      moved.y = Math.max(0, Math.min(S.height - 1, moved.y));
      gesture.moved = moved.x !== mark.x || moved.y !== mark.y;
      S.marks = gesture.before.map((m, i) => (i === gesture.index ? moved : m));
      drawHints();
    } else if (gesture.kind === "stroke") {
      const last = gesture.points[gesture.points.length - 1];
      const far = Math.hypot(p[0] - last[0], p[1] - last[1]) >= Math.max(1, S.size / 3);
      if (far) gesture.points.push(clampPoint(p));
      drawHints({ points: gesture.points, color: S.color, size: S.size });
    } else if (gesture.kind === "erase") {
      erase(p);
    }
  }
  function pointerUp(event) {
    if (!gesture) return;
    const done = gesture; gesture = null;
    if (done.kind === "dot") {
      const [x, y] = clampPoint(done.at);
      commit(S.marks.concat([{ x, y, color: S.color, size: S.size }]));
      remember(S.color);
    } else if (done.kind === "move") {
      if (done.moved) { const after = S.marks; S.marks = done.before; commit(after); }
    } else if (done.kind === "stroke") {
      const points = done.points.map(clampPoint);
      commit(S.marks.concat([{ points, color: S.color, size: S.size }]));
      remember(S.color);
    } else if (done.kind === "erase") {
      if (S.marks.length !== done.before.length) {
        const after = S.marks; S.marks = done.before; commit(after);
      }
    }
  }
  const clampPoint = ([x, y]) => [Math.max(0, Math.min(S.width - 1, x)),
    Math.max(0, Math.min(S.height - 1, y))];
  function erase(p) {
    const kept = S.marks.filter((mark) => !hits(mark, p));
    if (kept.length !== S.marks.length) { S.marks = kept; drawHints(); }
  }
  function setTool(tool) {
    S.tool = tool;
    for (const button of document.querySelectorAll(".tool")) {
      button.classList.toggle("active", button.dataset.tool === tool);
    }
  }

  // ---- colours: picker, hex, recent, eyedropper, palette ------------------------------------
  function setColor(value) {
    const match = HEX.exec(String(value).trim());
    if (!match) { say(`${value} is not a colour: type #rrggbb, e.g. #d9a066`); return false; }
    S.color = `#${match[1].toLowerCase()}`;
    $("color").value = S.color; $("hex").value = S.color;
    return true;
  }
  function remember(color) {
    S.recent = [color].concat(S.recent.filter((c) => c !== color)).slice(0, RECENT_KEPT);
    localStorage.setItem("mangacolor-recent", JSON.stringify(S.recent));
    renderRecent();
  }
  function swatch(color, title, onClick) {
    const button = document.createElement("button");
    button.className = "swatch"; button.style.background = color; button.title = title;
    button.dataset.color = color;
    button.addEventListener("click", onClick);
    return button;
  }
  function renderRecent() {
    const box = $("recent");
    box.innerHTML = "";
    for (const color of S.recent) box.appendChild(swatch(color, color, () => setColor(color)));
  }
  function pickFrom(canvas, x, y, fallback) {
    const source = S.shownSeq >= 0 || !fallback ? canvas : fallback;
    const [r, g, b] = source.getContext("2d").getImageData(Math.floor(x), Math.floor(y), 1, 1).data;
    setColor(`#${[r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("")}`);
    say(`took ${S.color}`, true);
  }
  function renderPalette() {
    const list = $("palette");
    list.innerHTML = "";
    S.palette.forEach((entry, i) => {
      const item = document.createElement("li");
      item.appendChild(swatch(entry.color, entry.color, () => setColor(entry.color)));
      const name = document.createElement("span");
      name.className = "name"; name.textContent = entry.name; name.title = `use ${entry.color}`;
      name.addEventListener("click", () => setColor(entry.color));
      const remove = document.createElement("button");
      remove.textContent = "×"; remove.title = "Remove from the palette";
      remove.addEventListener("click", () => savePalette(S.palette.filter((_, j) => j !== i)));
      item.append(name, remove);
      list.appendChild(item);
    });
  }
  async function savePalette(colors) {
    try {
      S.palette = (await apiJson("/api/palette", { method: "PUT", json: { colors } })).colors;
      renderPalette();
    } catch (error) { say(`palette not saved: ${error.message}`); }
  }

  // ---- uploads, reference, saving, the chapter ----------------------------------------------
  async function upload(files) {
    let last = null;
    for (const file of files) {
      const form = new FormData();
      form.append("file", file, file.name);
      try {
        last = await apiJson("/api/upload", { method: "POST", body: form });
        say(`added ${last.name}`, true);
      } catch (error) { say(`${file.name}: ${error.message}`); }
    }
    if (last) { await loadState(); await showPage(last.index); }
  }
  async function openReference(file) {
    const bitmap = await createImageBitmap(file);
    const canvas = $("reference-canvas");
    const scale = Math.min(1, 600 / bitmap.width);
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  }
  async function save(kind) {
    if (!S.pages.length) return;
    try {
      const body = { compose: $("compose").value, chroma: Number($("chroma").value) };
      if (!S.layerHints) body.hints = S.marks;
      S.lastSave = await apiJson(`/api/pages/${S.page}/save`, { method: "POST", json: body });
      const note = kind === "layer"
        ? ` (Multiply over the page gives it within ${S.lastSave.layer_error} levels)` : "";
      say(`saved ${S.lastSave[kind]} under the output folder${note}`, true);
      const link = document.createElement("a");
      link.href = `/api/pages/${S.page}/saved/${kind}?${tokenQuery()}`;
      link.download = S.lastSave[kind].split("/").pop();
      document.body.appendChild(link); link.click(); link.remove();
    } catch (error) { say(`not saved: ${error.message}`); }
  }
  async function colourChapter() {
    try {
      const body = { compose: $("compose").value, chroma: Number($("chroma").value) };
      S.chapter = await apiJson("/api/chapter", { method: "POST", json: body });
    } catch (error) { say(`chapter: ${error.message}`); return; }
    const bar = $("chapter-progress");
    bar.hidden = false;
    const poll = async () => {
      S.chapter = await apiJson("/api/chapter");
      bar.max = Math.max(1, S.chapter.total); bar.value = S.chapter.done;
      if (S.chapter.running) {
        say(`colouring the chapter: ${S.chapter.done}/${S.chapter.total} pages`, true);
        setTimeout(poll, 400);
        return;
      }
      if (S.chapter.error) say(`chapter: ${S.chapter.error}`);
      else say(S.chapter.summary, true);
    };
    poll();
  }

  // ---- wiring -------------------------------------------------------------------------------
  function wire() {
    const canvas = $("hint-canvas");
    canvas.addEventListener("pointerdown", pointerDown);
    canvas.addEventListener("pointermove", pointerMove);
    canvas.addEventListener("pointerup", pointerUp);
    canvas.addEventListener("pointercancel", pointerUp);
    for (const button of document.querySelectorAll(".tool")) {
      button.addEventListener("click", () => setTool(button.dataset.tool));
    }
    $("prev").addEventListener("click", () => showPage(S.page - 1));
    $("next").addEventListener("click", () => showPage(S.page + 1));
    $("page-list").addEventListener("change", (e) => showPage(Number(e.target.value)));
    $("upload").addEventListener("change", (e) => {
      upload([...e.target.files]); e.target.value = "";
    });
    $("size").addEventListener("input", (e) => {
      S.size = Number(e.target.value); $("size-value").textContent = S.size;
    });
    $("color").addEventListener("input", (e) => setColor(e.target.value));
    // An emptied field is a user about to type, not a wrong colour: nothing to say yet.
    const typed = (e) => (e.target.value.trim() ? setColor(e.target.value) : null);
    $("hex").addEventListener("change", typed);
    $("hex").addEventListener("keydown", (e) => { if (e.key === "Enter") typed(e); });
    $("undo").addEventListener("click", undo);
    $("redo").addEventListener("click", redo);
    $("clear").addEventListener("click", () => { if (S.marks.length && editable()) commit([]); });
    $("hide").addEventListener("change", (e) => { S.hidden = e.target.checked; drawHints(); });
    $("compose").addEventListener("change", () => {
      S.editSeq += 1; S.editTime = performance.now(); schedulePreview(0);
    });
    $("chroma").addEventListener("input", (e) => {
      $("chroma-value").textContent = e.target.value;
      S.editSeq += 1; S.editTime = performance.now(); schedulePreview();
    });
    $("split").addEventListener("input", applySplit);
    $("save-page").addEventListener("click", () => save("page"));
    $("save-layer").addEventListener("click", () => save("layer"));
    $("chapter").addEventListener("click", colourChapter);
    $("palette-add").addEventListener("click", () => {
      const name = $("palette-name").value.trim();
      if (!name) { say("give the colour a name first (e.g. hero's hair)"); return; }
      savePalette(S.palette.concat([{ name, color: S.color }]));
      $("palette-name").value = "";
    });
    $("reference-file").addEventListener("change", (e) => {
      if (e.target.files[0]) openReference(e.target.files[0]);
    });
    $("reference-canvas").addEventListener("click",
      (e) => pickFrom($("reference-canvas"), e.offsetX, e.offsetY));
    window.addEventListener("dragover", (e) => {
      e.preventDefault(); $("drop-hint").hidden = false;
    });
    window.addEventListener("dragleave", () => { $("drop-hint").hidden = true; });
    window.addEventListener("drop", (e) => {
      e.preventDefault(); $("drop-hint").hidden = true; upload([...e.dataTransfer.files]);
    });
    document.addEventListener("keydown", keyboard);
  }
  function keyboard(event) {
    const target = event.target;
    if (target.tagName === "SELECT" || target.tagName === "TEXTAREA"
        || (target.tagName === "INPUT"
            && !["checkbox", "color", "button"].includes(target.type))) return;
    const key = event.key.toLowerCase(), ctrl = event.ctrlKey || event.metaKey;
    const actions = {
      z: () => (ctrl ? (event.shiftKey ? redo() : undo()) : null),
      y: () => (ctrl ? redo() : null),
      d: () => (!ctrl ? setTool("dot") : null), s: () => (!ctrl ? setTool("stroke") : null),
      e: () => (!ctrl ? setTool("eraser") : null), i: () => (!ctrl ? setTool("eyedropper") : null),
      h: () => {
        if (ctrl) return;
        $("hide").checked = !$("hide").checked; S.hidden = $("hide").checked; drawHints();
      },
      arrowleft: () => showPage(S.page - 1), pageup: () => showPage(S.page - 1),
      arrowright: () => showPage(S.page + 1), pagedown: () => showPage(S.page + 1),
    };
    if (actions[key] && !(ctrl && !["z", "y"].includes(key))) {
      event.preventDefault(); actions[key]();
    }
  }

  async function start() {
    wire();
    setTool("dot");
    setColor(S.color);
    applySplit();
    try {
      await loadState();
      if (S.pages.length) await showPage(0);
      else status();
    } catch (error) { say(error.message); }
  }
  start();
})();
