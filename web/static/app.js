// The gridsync app: pages over the node's JSON API (docs/API.md).
// Every text a peer could have written is put on the page as text
// (textContent), never as HTML. The page holds no rule of its own: the
// API checks every write as the command line does and says why not.

let session = null;
let schema = null;

// ---- small helpers ----

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function toast(text, bad) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = bad ? "toast error" : "toast";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 8000 : 3500);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error.text : "请求失败 (" + status + ")");
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (method !== "GET") {
    opts.headers["X-CSRF-Token"] = session.csrf;
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body || {});
  }
  const r = await fetch(path, opts);
  const j = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, j);
  return j;
}

function coll(name) {
  return schema.collections.find((c) => c.name === name);
}

function field(cname, fname) {
  return coll(cname).fields.find((f) => f.name === fname);
}

// The Chinese label of a value of a field.
function label(cname, fname, code) {
  const f = field(cname, fname);
  const v = f && f.values.find((x) => x.code === code);
  return v ? v.label : code;
}

function fieldLabel(cname, fname) {
  const f = field(cname, fname);
  return f ? f.label : fname;
}

function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate());
}

// A local time in a human form: 2026-12-01 13:34.
function localTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const p = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) +
    " " + p(d.getHours()) + ":" + p(d.getMinutes());
}

// The shown value of field f of record r: names for references, labels
// for codes.
function shown(r, f) {
  const v = r.fields[f];
  if (v === undefined || v === null) return "";
  if (r.names && r.names[f] !== undefined) {
    const n = r.names[f];
    return Array.isArray(n) ? n.filter(Boolean).join("、") : n || "(未同步的记录)";
  }
  if (Array.isArray(v)) return v.map((x) => label(r.collection, f, x)).join("、");
  return label(r.collection, f, String(v));
}

function input(id, attrs) {
  return h("input", Object.assign({ id, name: id }, attrs || {}));
}

function select(id, cname, fname, blank) {
  const f = field(cname, fname);
  return h("select", { id, name: id },
    blank ? h("option", { value: "" }, blank) : null,
    f.values.map((v) => h("option", { value: v.code }, v.label)));
}

function show(...kids) {
  const m = document.getElementById("main");
  m.replaceChildren(...kids.flat());
}

// ---- 概况 ----

async function pageHome() {
  const [st, open] = await Promise.all([
    api("GET", "/api/status"),
    api("GET", "/api/records/appeal?where=status=open&limit=1"),
  ]);
  const net = session.network;
  const cards = h("div", { class: "cards" },
    h("div", { class: "card" }, h("div", null, "居民与记录"),
      h("div", { class: "big" }, st.records), h("div", { class: "muted" }, "条记录")),
    h("div", { class: "card" }, h("div", null, "待受理的诉求"),
      h("div", { class: "big", id: "open-appeals" }, open.total),
      h("a", { href: "#/appeals" }, "去处理")),
    h("div", { class: "card" }, h("div", null, "时间银行透支"),
      h("div", { class: "big" }, st.overdrawn),
      h("div", { class: "muted" }, st.overdrawn ? "个账户需管理员处理" : "没有透支")),
    h("div", { class: "card" }, h("div", null, "同步"),
      h("div", null, st.behind_changes ? "还有 " + st.behind_changes + " 条记录没收到"
        : "与已知的节点一致"),
      h("div", { class: "muted" }, st.last_write ? "最近一次写入 " + localTime(st.last_write) : "还没有写入")));
  show(h("h1", null, "概况"),
    h("p", null, net ? "本机：" + session.node.name + "，" + roleName(net.role) +
      "，网络「" + net.name + "」" : "本机还没有加入网络"),
    st.warnings.map((w) => h("div", { class: "warn" }, w)),
    cards);
}

function roleName(role) {
  return { admin: "管理员", office: "社区办公室", leader: "楼栋长", reader: "只读" }[role] || role;
}

// ---- 居民 ----

async function pageResidents(params) {
  const q = params.get("q") || "";
  const form = h("form", { class: "row no-print", role: "search",
    on: { submit: (e) => { e.preventDefault();
      location.hash = "#/residents?q=" + encodeURIComponent(document.getElementById("q").value.replace(/[\s-]/g, "")); } } },
    h("div", null, h("label", { for: "q" }, "找居民（姓名或电话）"),
      input("q", { value: q, type: "search", autocomplete: "off" })),
    h("div", null, h("button", { type: "submit" }, "查找")),
    h("div", null, h("a", { class: "button", href: "#/residents/new" }, "登记新居民")));
  const path = "/api/records/resident?limit=100" + (q ? "&q=" + encodeURIComponent(q) : "");
  const res = await api("GET", path);
  const rows = res.items.map((r) => h("tr", null,
    h("td", null, h("a", { href: "#/resident/" + r.id }, r.fields.name)),
    h("td", null, shown(r, "gender")),
    h("td", { class: "num" }, r.fields.birth_year ? new Date().getFullYear() - r.fields.birth_year + " 岁" : ""),
    h("td", null, shown(r, "household") || [r.fields.building, r.fields.unit, r.fields.room].filter(Boolean).join(" ")),
    h("td", null, r.fields.phone || ""),
    h("td", null, shown(r, "tags"))));
  show(h("h1", null, "居民"), form,
    h("p", { id: "count" }, q ? "找到 " + res.total + " 位" : "共 " + res.total + " 位居民" +
      (res.total > res.items.length ? "，显示前 " + res.items.length + " 位" : "")),
    h("table", null, h("thead", null, h("tr", null,
      ["姓名", "性别", "年龄", "住址", "电话", "标签"].map((t) => h("th", null, t)))),
      h("tbody", null, rows)));
}

function tagChecks(cname, have) {
  const f = field(cname, "tags");
  return h("fieldset", { class: "checks" }, h("legend", null, f.label),
    f.values.map((v) => h("label", null,
      h("input", { type: "checkbox", name: "tag", value: v.code, checked: have.includes(v.code) }),
      v.label)));
}

async function pageResidentForm(id) {
  const r = id ? await api("GET", "/api/records/resident/" + id) : null;
  const f = r ? r.fields : {};
  const form = h("form", { id: "resident-form", on: { submit: async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    const fields = {};
    for (const k of ["name", "gender", "birth_year", "phone", "building", "unit", "room", "note"]) {
      const v = (fd.get(k) || "").trim();
      if (v !== "") fields[k] = k === "phone" ? v.replace(/[\s-]/g, "") : v;
      else if (r && f[k] !== undefined) fields[k] = null;
    }
    fields.tags = fd.getAll("tag");
    const body = { fields };
    const scope = fd.get("scope");
    if (!r && scope) body.scope = scope;
    try {
      const out = r ? await api("PATCH", "/api/records/resident/" + id, body)
        : await api("POST", "/api/records/resident", body);
      toast(r ? "已保存" : "已登记");
      location.hash = "#/resident/" + out.id;
    } catch (err) { toast(err.message, true); }
  } } },
  h("div", { class: "row" },
    h("div", null, h("label", { for: "name" }, "姓名"), input("name", { value: f.name || "", required: true })),
    h("div", null, h("label", { for: "gender" }, "性别"), select("gender", "resident", "gender", "（不填）")),
    h("div", null, h("label", { for: "birth_year" }, "出生年份"),
      input("birth_year", { value: f.birth_year || "", inputmode: "numeric" })),
    h("div", null, h("label", { for: "phone" }, "电话"), input("phone", { value: f.phone || "", inputmode: "tel" }))),
  h("div", { class: "row" },
    h("div", null, h("label", { for: "building" }, "楼栋"), input("building", { value: f.building || "" })),
    h("div", null, h("label", { for: "unit" }, "单元"), input("unit", { value: f.unit || "" })),
    h("div", null, h("label", { for: "room" }, "房号"), input("room", { value: f.room || "" })),
    r ? null : h("div", null, h("label", { for: "scope" }, "所属网格"), scopeSelect())),
  tagChecks("resident", f.tags || []),
  h("label", { for: "note" }, "备注"), h("textarea", { id: "note", name: "note", rows: 2, cols: 50 }, f.note || ""),
  h("div", { class: "row" }, h("button", { type: "submit" }, r ? "保存" : "登记"),
    h("a", { href: r ? "#/resident/" + id : "#/residents" }, "取消")));
  show(h("h1", null, r ? "修改居民信息：" + f.name : "登记新居民"), form);
  if (f.gender) document.getElementById("gender").value = f.gender;
}

function scopeSelect() {
  const scopes = session.network ? session.network.scopes.filter(Boolean) : [];
  if (scopes.length === 0) return input("scope", { placeholder: "如 gongrencun/qinghejv/g01" });
  return h("select", { id: "scope", name: "scope" }, scopes.map((s) => h("option", { value: s }, s)));
}

async function pageResident(id) {
  const r = await api("GET", "/api/records/resident/" + id);
  const rows = ["gender", "birth_year", "phone", "household", "building", "unit", "room", "tags", "note"]
    .filter((k) => r.fields[k] !== undefined && r.fields[k] !== null && String(r.fields[k]) !== "")
    .map((k) => h("tr", null, h("th", null, fieldLabel("resident", k)), h("td", null, shown(r, k))));
  show(h("h1", null, r.fields.name, r.deleted ? "（已迁出）" : ""),
    h("table", null, h("tbody", null, rows)),
    h("p", { class: "muted" }, "最近修改 " + localTime(r.updated)),
    h("div", { class: "row no-print" },
      h("a", { class: "button", href: "#/resident/" + id + "/edit" }, "修改"),
      r.deleted ? null : h("button", { class: "plain", on: { click: async () => {
        if (!confirm("确定 " + r.fields.name + " 已迁出吗？记录会保留，可以恢复。")) return;
        try { await api("DELETE", "/api/records/resident/" + id); toast("已登记迁出"); route(); }
        catch (err) { toast(err.message, true); }
      } } }, "迁出"),
      h("a", { href: "#/residents" }, "返回居民列表")));
}

// ---- 诉求与微心愿 ----

async function pageAppeals() {
  const c = coll("appeal");
  const res = await api("GET", "/api/records/appeal?limit=500");
  const by = {};
  for (const s of field("appeal", "status").values) by[s.code] = [];
  for (const a of res.items) (by[a.fields.status] || (by[a.fields.status] = [])).push(a);
  const columns = Object.entries(by).map(([st, items]) => h("section", { class: "column", "data-status": st },
    h("h2", null, label("appeal", "status", st), "（", items.length, "）"),
    items.slice(0, 30).map((a) => appealItem(c, a))));
  show(h("h1", null, "诉求与微心愿"),
    h("details", { class: "no-print" }, h("summary", null, "登记新诉求"), appealForm()),
    h("div", { class: "board" }, columns));
}

// The verbs allowed from the appeal's status (the schema's moves): only
// those are offered; the API refuses any other.
function appealItem(c, a) {
  const allowed = c.moves.filter((m) => m.from === a.fields.status).map((m) => m.to);
  const verbs = c.verbs.filter((v) => allowed.includes(v.to));
  return h("div", { class: "item", "data-id": a.id },
    h("div", null, h("strong", null, label("appeal", "category", a.fields.category)), "：", a.fields.description),
    h("div", { class: "muted" }, shown(a, "resident"), " ", a.fields.opened || "",
      a.fields.assignee ? "，承办：" + shown(a, "assignee") : ""),
    h("div", { class: "actions no-print" }, verbs.map((v) => h("button", {
      class: "plain", "data-verb": v.name, on: { click: () => doVerb(a, v) } }, verbName(v.name)))));
}

function verbName(v) {
  return { accept: "受理", assign: "交办", resolve: "办结", close: "关闭", reopen: "重新打开",
    claim: "认领", done: "完成" }[v] || v;
}

async function doVerb(a, v) {
  const body = {};
  if (v.name === "assign") {
    const to = prompt("交给哪个共建单位或志愿队？（写名称）");
    if (!to) return;
    body.to = to;
  }
  if (v.name === "close") {
    const fb = prompt("居民评价：满意 或 不满意", "满意");
    if (fb === null) return;
    body.fields = { feedback: fb.trim() === "不满意" ? "unsatisfied" : "satisfied" };
  }
  try {
    await api("POST", "/api/records/appeal/" + a.id + "/verbs/" + v.name, body);
    toast("已" + verbName(v.name));
    route();
  } catch (err) { toast(err.message, true); }
}

function appealForm() {
  return h("form", { id: "appeal-form", on: { submit: async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    const fields = { category: fd.get("category"), description: fd.get("description").trim() };
    if (fd.get("resident").trim()) fields.resident = fd.get("resident").trim();
    const body = { fields };
    if (fd.get("scope")) body.scope = fd.get("scope");
    try {
      await api("POST", "/api/records/appeal", body);
      toast("已登记");
      route();
    } catch (err) { toast(err.message, true); }
  } } },
  h("div", { class: "row" },
    h("div", null, h("label", { for: "category" }, "类别"), select("category", "appeal", "category")),
    h("div", null, h("label", { for: "resident" }, "居民（姓名）"), input("resident")),
    h("div", null, h("label", { for: "scope" }, "所属网格"), scopeSelect())),
  h("label", { for: "description" }, "诉求内容"),
  h("textarea", { id: "description", name: "description", rows: 2, cols: 50, required: true }),
  h("div", null, h("button", { type: "submit" }, "登记")));
}

// ---- 时间银行 ----

async function pageTimebank() {
  const form = h("form", { id: "timebank-form", on: { submit: async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    const kind = e.submitter && e.submitter.value === "spend" ? "spend" : "deposit";
    const body = { person: fd.get("person").trim(), hours: fd.get("hours").trim(), fields: {} };
    if (fd.get("service")) body.fields.service = fd.get("service");
    if (fd.get("note").trim()) body.fields.note = fd.get("note").trim();
    try {
      await api("POST", "/api/timebank/" + kind, body);
      toast(kind === "spend" ? "已支取" : "已存入");
      route();
    } catch (err) {
      document.getElementById("tb-error").textContent = err.message;
      toast(err.message, true);
    }
  } } },
  h("div", { class: "row" },
    h("div", null, h("label", { for: "person" }, "志愿者（姓名）"), input("person", { required: true })),
    h("div", null, h("label", { for: "hours" }, "时长（小时）"), input("hours", { required: true, inputmode: "decimal" })),
    h("div", null, h("label", { for: "service" }, "服务"), select("service", "timebank", "service", "（不填）"))),
  h("label", { for: "note" }, "备注（服务了谁、做了什么）"), input("note", { size: 40 }),
  h("div", { class: "row" }, h("button", { type: "submit", value: "deposit" }, "存入工时"),
    h("button", { type: "submit", value: "spend", class: "plain" }, "支取工时")),
  h("p", { id: "tb-error", class: "error", role: "alert" }));
  const res = await api("GET", "/api/records/timebank?limit=30");
  const rows = res.items.reverse().map((t) => h("tr", null,
    h("td", null, t.fields.date), h("td", null, shown(t, "person")),
    h("td", null, label("timebank", "kind", t.fields.kind)),
    h("td", { class: "num" }, t.fields.hours), h("td", null, shown(t, "service")),
    h("td", null, t.fields.note || "")));
  show(h("h1", null, "时间银行"), form, h("h2", null, "最近的记录"),
    h("table", null, h("thead", null, h("tr", null, ["日期", "志愿者", "类型", "小时", "服务", "备注"]
      .map((x) => h("th", null, x)))), h("tbody", null, rows)));
}

// ---- 报表 ----

async function pageReport() {
  const rep = await api("GET", "/api/report");
  const t = rep.total;
  const figures = [["诉求", t.appeals.opened], ["办结", t.appeals.resolved],
    ["走访", t.visits], ["调解纠纷", t.disputes_mediated], ["发现隐患", t.hazards_found],
    ["议事会", t.meetings], ["代办跑腿", t.errands_done], ["志愿工时", t.volunteer_hours]];
  const max = Math.max(1, ...rep.grids.map((g) => g.appeals.opened));
  show(h("h1", null, "报表"),
    h("div", { class: "cards" }, figures.map(([k, v]) => h("div", { class: "card" },
      h("div", null, k), h("div", { class: "big" }, v)))),
    h("h2", null, "各网格"),
    h("table", { id: "report-grids" }, h("thead", null, h("tr", null,
      ["网格", "诉求", "办结", "走访", "隐患", "工时", ""].map((x) => h("th", null, x)))),
      h("tbody", null, rep.grids.map((g) => h("tr", null,
        h("td", null, g.grid.split("/").pop()), h("td", { class: "num" }, g.appeals.opened),
        h("td", { class: "num" }, g.appeals.resolved), h("td", { class: "num" }, g.visits),
        h("td", { class: "num" }, g.hazards_found), h("td", { class: "num" }, g.volunteer_hours),
        h("td", null, h("span", { class: "bar", style: null, "data-w": Math.round(100 * g.appeals.opened / max) })))))),
    h("button", { class: "no-print", on: { click: () => window.print() } }, "打印"));
  for (const b of document.querySelectorAll(".bar")) b.style.width = b.dataset.w * 2 + "px";
}

// ---- routing ----

const pages = [
  [/^#?\/?$/, "home", () => pageHome()],
  [/^#\/residents(\?.*)?$/, "residents", (m) => pageResidents(new URLSearchParams((m[1] || "").slice(1)))],
  [/^#\/residents\/new$/, "residents", () => pageResidentForm(null)],
  [/^#\/resident\/([0-9A-Z]{26})$/, "residents", (m) => pageResident(m[1])],
  [/^#\/resident\/([0-9A-Z]{26})\/edit$/, "residents", (m) => pageResidentForm(m[1])],
  [/^#\/appeals$/, "appeals", () => pageAppeals()],
  [/^#\/timebank$/, "timebank", () => pageTimebank()],
  [/^#\/report$/, "report", () => pageReport()],
];

async function route() {
  const hash = location.hash || "#/";
  for (const [re, tab, fn] of pages) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll(".tabs a"))
      if (a.dataset.page === tab) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    try { await fn(m); }
    catch (err) { show(h("h1", null, "出错了"), h("p", { class: "error" }, err.message)); }
    return;
  }
  show(h("h1", null, "没有这个页面"), h("a", { href: "#/" }, "回到概况"));
}

// Live: the node says when its records changed (a sync, another window):
// the page is read again, unless the person is typing in a form.
function live() {
  const ev = new EventSource("/api/events");
  const el = document.getElementById("live");
  ev.addEventListener("open", () => { el.textContent = "● 已连接本机节点"; });
  ev.addEventListener("error", () => { el.textContent = "○ 与本机节点的连接断了，正在重连"; });
  ev.addEventListener("change", () => {
    const a = document.activeElement;
    if (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT")) return;
    route();
  });
}

async function start() {
  session = await (await fetch("/api/session")).json();
  schema = await api("GET", "/api/schema");
  document.getElementById("who").textContent = session.node.name;
  window.addEventListener("hashchange", route);
  await route();
  live();
}

start();
