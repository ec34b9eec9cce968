/**
 * The web chat's sessions and model line, a part of its script (webchat-script.ts inlines it
 * inside its closure, where `request`, `offers`, `same`, `short`, `qualified`, `session`,
 * `sessionSel`, `modelEl`, `simEl`, `text`, `note`, `setBusy` and `showHistory` are defined): the
 * session picker filled from sessions.list (the current session always in it), switching to a
 * session (its history, then the list and the model again), and the model that answers in it
 * (its own, the gateway's, else the AI server's default) with the SIMULATOR badge from health.
 */
export const WEBCHAT_SESSIONS_SCRIPT = `  // The session list (sessions.list when offered; the current session is always in it).
  async function showSessions() {
    let list = null;
    if (offers("sessions.list")) list = await request("sessions.list", {}).catch(() => null);
    const rows = (list && list.sessions) || [];
    if (!rows.some((s) => same(s.key, session))) rows.unshift({ key: session });
    sessionSel.textContent = "";
    for (const s of rows) {
      const o = document.createElement("option");
      o.value = short(s.key);
      o.textContent = s.label || s.displayName || s.derivedTitle || short(s.key);
      sessionSel.append(o);
    }
    sessionSel.value = short(session);
    return list;
  }

  // What answers in this session: its own model, the gateway's, else the AI server's default.
  async function showModel(list) {
    const row = list && (list.sessions || []).find((s) => same(s.key, session));
    let model = row ? qualified(row.model, row.modelProvider) : "";
    if (!model && list && list.defaults) model = qualified(list.defaults.model, list.defaults.modelProvider);
    if (!model && offers("status")) {
      const st = await request("status", {}).catch(() => null);
      model = (st && st.model) || "";
    }
    let simulator = false;
    if (offers("health")) {
      const h = await request("health", {}).catch(() => null);
      simulator = !!(h && h.ai && h.ai.simulator === true);
      if (!model && h && h.ai && h.ai.defaultModel) model = h.ai.defaultModel;
    }
    modelEl.textContent = "model: " + (model || "AI server default");
    simEl.hidden = !simulator;
  }

  async function switchTo(key) {
    session = short(key);
    setBusy(null);
    try {
      await showHistory();
      await showModel(await showSessions());
    } catch (e) {
      note("could not load session " + session + ": " + e.message);
    }
    text.focus();
  }

`;
