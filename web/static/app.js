// The gridsync app: pages over the node's JSON API (docs/API.md).
// Every text a peer could have written is put on the page as text
// (textContent), never as HTML. The page holds no rule of its own: the
// API checks every write as the command line does and says why not.

let session = null;
let schema = null;
// scope path -> the grid's name (grid records live at their grid's scope)
let grids = new Map();

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

// ---- the password (when the node has one: docs/API.md) ----
// A 401 from the API: a login form over the page, then the call again.
// One form for every call waiting on it.
let loggingIn = null;
function login() {
  if (loggingIn) return loggingIn;
  loggingIn = new Promise((done) => {
    const pw = h("input", { type: "password", id: "login-password", autocomplete: "current-password", required: true });
    const msg = h("p", { class: "error", role: "alert" });
    const button = h("button", { type: "submit" }, "登录");
    const form = h("form", { class: "login-form" },
      h("h1", null, "请输入密码"),
      h("label", { for: "login-password" }, "密码"), pw, button, msg);
    const box = h("div", { class: "login" }, form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      msg.textContent = "";
      button.disabled = true;
      try {
        const r = await fetch("/api/login", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ password: pw.value }),
        });
        if (r.ok) {
          box.remove();
          loggingIn = null;
          session = null; // asked again: the token comes with the session
          done();
          return;
        }
        msg.textContent = r.status === 429 ? "密码错误次数太多，请稍等几秒再试"
          : r.status === 403 ? "密码不对，请再试一次" : "登录失败 (" + r.status + ")";
      } catch (err) {
        msg.textContent = "连不上本机节点：" + err.message;
      } finally {
        button.disabled = false;
      }
      pw.select();
    });
    document.body.append(box);
    pw.focus();
  });
  return loggingIn;
}

async function getSession() {
  for (;;) {
    const r = await fetch("/api/session");
    if (r.status === 401) { await login(); continue; }
    const j = await r.json().catch(() => null);
    if (!r.ok) throw new ApiError(r.status, j);
    return j;
  }
}

async function api(method, path, body) {
  for (;;) {
    if (!session) session = await getSession();
    const opts = { method, headers: {} };
    if (method !== "GET") {
      opts.headers["X-CSRF-Token"] = session.csrf;
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body || {});
    }
    const r = await fetch(path, opts);
    const j = await r.json().catch(() => null);
    if (r.status === 401) {
      await login();
      live(); // the stream was refused too: open it again
      continue;
    }
    if (!r.ok) throw new ApiError(r.status, j);
    return j;
  }
}

async function logout() {
  await api("POST", "/api/logout", {});
  location.reload();
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
  if (softDraw && busy()) return; // the next change draws it
  const m = document.getElementById("main");
  m.replaceChildren(...kids.flat(2).filter((k) => k !== null && k !== undefined && k !== false));
}

// The name of the grid a scope is in, never the path itself.
function gridName(scope) {
  if (!scope) return "全部网格";
  for (let s = scope; s; s = s.includes("/") ? s.slice(0, s.lastIndexOf("/")) : "") {
    if (grids.has(s)) return grids.get(s);
  }
  return scope.split("/").length <= 2 ? "社区直属（不属于网格）" : "未登记的网格";
}

// The grids this node may write to, as [scope, name] pairs.
function writableGrids() {
  const mine = session.network ? session.network.scopes : [];
  const ok = (s) => mine.some((m) => m === "" || s === m || s.startsWith(m + "/"));
  return [...grids.entries()].filter(([s]) => ok(s));
}

// blank: the first choice leaves the grid to the record referred to
function scopeSelect(id, chosen, blank) {
  const list = writableGrids();
  if (list.length === 0) return h("p", { class: "warn" }, "本机还不能登记：没有可写的网格。");
  return h("select", { id: id || "scope", name: "scope" },
    blank ? h("option", { value: "" }, blank) : null,
    list.map(([s, n]) => h("option", { value: s, selected: s === chosen }, n)));
}

function age(by) {
  return by ? new Date().getFullYear() - by : null;
}

// A reference typed as a name may match several records: the person picks
// one (shown by name and details, never by id) and its COLL/ID is kept.
async function pickCandidate(err, box, what) {
  const c = err.body && err.body.error && err.body.error.candidates;
  if (!c) return null;
  const recs = await Promise.all(c.slice(0, 12).map((x) =>
    api("GET", "/api/records/" + x.collection + "/" + x.id).catch(() => null)));
  return new Promise((resolve) => {
    box.replaceChildren(h("p", { class: "warn" }, "有 " + c.length + " 位" + what + "都叫「" +
      c[0].name + "」，请选是哪一位："),
      h("div", { class: "choices" }, recs.filter(Boolean).map((r) => h("button", {
        type: "button", class: "plain choice", on: { click: () => {
          box.replaceChildren(); resolve(r.collection + "/" + r.id); } } },
        r.fields.name + "　" + detail(r))),
        h("button", { type: "button", class: "plain", on: { click: () => {
          box.replaceChildren(); resolve(null); } } }, "都不是，取消")));
  });
}

// What tells two records of one name apart, in words.
function detail(r) {
  const f = r.fields;
  if (r.collection === "resident") {
    return [r.names && r.names.household || [f.building, f.unit && f.unit + "单元", f.room].filter(Boolean).join(""),
      f.birth_year ? age(f.birth_year) + "岁" : "", f.phone ? "电话尾号" + f.phone.slice(-4) : ""]
      .filter(Boolean).join("，");
  }
  return gridName(r.scope);
}

// ---- 概况 ----

async function pageHome() {
  const [st, open, reopened, resolved] = await Promise.all([
    api("GET", "/api/status"),
    api("GET", "/api/records/appeal?where=status=open&limit=1"),
    api("GET", "/api/records/appeal?where=status=reopened&limit=1"),
    api("GET", "/api/records/appeal?where=status=resolved&limit=1"),
  ]);
  const net = session.network;
  const cards = h("div", { class: "cards" },
    h("a", { class: "card link", href: "#/appeals" }, h("div", null, "待受理的诉求"),
      h("div", { class: "big", id: "open-appeals" }, open.total + reopened.total),
      h("div", { class: "muted" }, reopened.total ? "其中 " + reopened.total + " 件重新打开" : "去处理")),
    h("a", { class: "card link", href: "#/appeals" }, h("div", null, "已办结待回访"),
      h("div", { class: "big" }, resolved.total), h("div", { class: "muted" }, "问居民满意不满意")),
    h("a", { class: "card link", href: "#/timebank" }, h("div", null, "时间银行透支"),
      h("div", { class: "big" }, st.overdrawn),
      h("div", { class: "muted" }, st.overdrawn ? "个账户需管理员处理" : "没有透支")),
    h("div", { class: "card" }, h("div", null, "同步"),
      h("div", { class: "sync" }, st.behind_changes ? "还有 " + st.behind_changes + " 条记录没收到"
        : "与已知的节点一致"),
      h("div", { class: "muted" }, st.last_write ? "最近一次写入 " + localTime(st.last_write) : "还没有写入")));
  show(h("h1", null, "概况"),
    h("p", null, net ? "本机：" + session.node.name + "，" + roleName(net.role) +
      "，网络「" + net.name + "」，共 " + st.records + " 条记录" : "本机还没有加入网络"),
    st.warnings.map((w) => h("div", { class: "warn" }, w)),
    cards,
    h("h2", null, "常用"),
    h("div", { class: "row" },
      h("a", { class: "button", href: "#/residents/new" }, "登记新居民"),
      h("a", { class: "button", href: "#/appeals" }, "登记诉求"),
      h("a", { class: "button", href: "#/timebank" }, "记志愿工时")));
}

function roleName(role) {
  return { admin: "管理员", office: "社区办公室", leader: "楼栋长", reader: "只读" }[role] || role;
}

// ---- 居民 ----

let buildingsCache = null;
async function buildings() {
  if (!buildingsCache) {
    const res = await api("GET", "/api/records/building?limit=500");
    buildingsCache = res.items.sort((a, b) =>
      a.fields.name.localeCompare(b.fields.name, "zh-CN", { numeric: true }));
  }
  return buildingsCache;
}

function residentRow(r) {
  const a = age(r.fields.birth_year);
  return h("tr", null,
    h("td", null, h("a", { href: "#/resident/" + r.id }, r.fields.name)),
    h("td", null, shown(r, "gender")),
    h("td", { class: "num" }, a !== null ? a + " 岁" : ""),
    h("td", null, shown(r, "household") || [r.fields.building, r.fields.unit && r.fields.unit + "单元", r.fields.room].filter(Boolean).join("")),
    h("td", null, r.fields.phone || ""),
    h("td", null, shown(r, "tags")));
}

// A table scrolls inside its box on a narrow screen, never the page.
function wide(table) {
  return h("div", { class: "wide" }, table);
}

function residentTable(items) {
  return wide(h("table", { class: "residents" }, h("thead", null, h("tr", null,
    ["姓名", "性别", "年龄", "住址", "电话", "标签"].map((t) => h("th", null, t)))),
    h("tbody", null, items.map(residentRow))));
}

async function pageResidents(params) {
  const q = params.get("q") || "";
  const b = params.get("b") || "";
  const u = params.get("u") || "";
  const form = h("form", { class: "row no-print", role: "search",
    on: { submit: (e) => { e.preventDefault();
      const t = document.getElementById("q").value.trim();
      // a phone is typed as the person reads it: 138 0000 1111, 138-0000-1111
      const v = /^[\d\s-]+$/.test(t) ? t.replace(/[\s-]/g, "") : t;
      location.hash = "#/residents?q=" + encodeURIComponent(v); } } },
    h("div", null, h("label", { for: "q" }, "找居民（姓名或电话）"),
      input("q", { value: q, type: "search", autocomplete: "off", size: 18 })),
    h("div", null, h("button", { type: "submit" }, "查找")),
    h("div", null, h("a", { class: "button", href: "#/residents/new" }, "登记新居民")));
  const bs = await buildings();
  const nav = h("nav", { class: "buildings no-print", "aria-label": "楼栋" },
    h("span", { class: "muted" }, "按楼栋看："),
    bs.map((x) => h("a", { class: "chip", href: "#/residents?b=" + encodeURIComponent(x.fields.name),
      "aria-current": x.fields.name === b ? "page" : null }, x.fields.name)));
  if (b && !q) return pageBuilding(form, nav, bs.find((x) => x.fields.name === b), b, u);
  const path = "/api/records/resident?limit=100" + (q ? "&q=" + encodeURIComponent(q) : "");
  const res = await api("GET", path);
  show(h("h1", null, "居民"), form, nav,
    h("p", { id: "count" }, q ? "「" + q + "」找到 " + res.total + " 位居民" +
      (res.total > res.items.length ? "，显示前 " + res.items.length + " 位" : "")
      : "共 " + res.total + " 位居民" + (res.total > res.items.length ? "，下面是前 " + res.items.length + " 位；请按楼栋看，或查找" : "")),
    res.items.length ? residentTable(res.items) : h("p", null, "没有找到。姓名可以只写一部分，电话可以只写几位。"));
}

// One building: its units as buttons; in the unit chosen, each room with
// the people living there together.
async function pageBuilding(form, nav, bld, b, u) {
  const res = await api("GET", "/api/records/resident?limit=500&where=" +
    encodeURIComponent("building=" + b));
  const units = [...new Set(res.items.map((r) => r.fields.unit || ""))]
    .sort((x, y) => x.localeCompare(y, "zh-CN", { numeric: true }));
  const unit = u || units[0] || "";
  const rooms = new Map();
  for (const r of res.items.filter((r) => (r.fields.unit || "") === unit)) {
    const k = r.fields.room || "";
    if (!rooms.has(k)) rooms.set(k, []);
    rooms.get(k).push(r);
  }
  const sorted = [...rooms.entries()].sort((x, y) => x[0].localeCompare(y[0], "zh-CN", { numeric: true }));
  const f = bld ? bld.fields : {};
  show(h("h1", null, "居民：" + b),
    form, nav,
    h("p", { id: "count" }, [gridName(bld && bld.scope), f.leader ? "楼栋长 " + f.leader : "",
      f.phone ? "电话 " + f.phone : "", res.total + " 位居民"].filter(Boolean).join("，")),
    h("nav", { class: "units no-print", "aria-label": "单元" }, units.map((x) =>
      h("a", { class: "chip", href: "#/residents?b=" + encodeURIComponent(b) + "&u=" + encodeURIComponent(x),
        "aria-current": x === unit ? "page" : null }, x ? x + "单元" : "未写单元"))),
    h("h2", { class: "print-only" }, b + (unit ? unit + "单元" : "")),
    h("div", { class: "rooms" }, sorted.map(([room, people]) => h("section", { class: "room" },
      h("h3", null, room ? room + "室" : "未写房号"),
      h("ul", null, people.map((r) => {
        const a = age(r.fields.birth_year);
        return h("li", null, h("a", { href: "#/resident/" + r.id }, r.fields.name),
          a !== null ? " " + a + "岁" : "", r.fields.tags && r.fields.tags.length ? h("span", { class: "tags" }, " " + shown(r, "tags")) : "",
          r.fields.phone ? h("div", { class: "muted" }, r.fields.phone) : "");
      }))))),
    h("div", { class: "row no-print" }, h("button", { class: "plain", on: { click: () => window.print() } }, "打印本单元名册")));
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
  const bs = await buildings();
  const pick = h("div", { id: "pick" });
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
      toast(r ? "已保存" : "已登记 " + fields.name);
      location.hash = "#/resident/" + out.id;
    } catch (err) { toast(err.message, true); }
  } } },
  h("div", { class: "row" },
    h("div", null, h("label", { for: "name" }, "姓名"), input("name", { value: f.name || "", required: true, size: 10 })),
    h("div", null, h("label", { for: "gender" }, "性别"), select("gender", "resident", "gender", "（不填）")),
    h("div", null, h("label", { for: "birth_year" }, "出生年份"),
      input("birth_year", { value: f.birth_year || "", inputmode: "numeric", size: 6, placeholder: "如 1950" })),
    h("div", null, h("label", { for: "phone" }, "电话"), input("phone", { value: f.phone || "", inputmode: "tel", size: 14 }))),
  h("div", { class: "row" },
    h("div", null, h("label", { for: "building" }, "楼栋"), input("building", { value: f.building || "", list: "building-list", size: 8,
      on: { change: (e) => {
        const x = bs.find((y) => y.fields.name === e.target.value.trim());
        const sel = document.getElementById("scope");
        if (x && sel && [...sel.options].some((o) => o.value === x.scope)) sel.value = x.scope;
      } } }),
      h("datalist", { id: "building-list" }, bs.map((x) => h("option", { value: x.fields.name })))),
    h("div", null, h("label", { for: "unit" }, "单元"), input("unit", { value: f.unit || "", size: 4, inputmode: "numeric" })),
    h("div", null, h("label", { for: "room" }, "房号"), input("room", { value: f.room || "", size: 6 })),
    r ? null : h("div", null, h("label", { for: "scope" }, "所属网格"), scopeSelect("scope"))),
  tagChecks("resident", f.tags || []),
  h("div", { class: "row" }, h("div", { class: "grow" }, h("label", { for: "note" }, "备注"),
    input("note", { value: f.note || "", size: 50 }))),
  pick,
  h("div", { class: "row" }, h("button", { type: "submit" }, r ? "保存" : "登记"),
    h("a", { class: "button plain", href: r ? "#/resident/" + id : "#/residents" }, "取消")));
  show(h("h1", null, r ? "修改居民信息：" + f.name : "登记新居民"), form);
  if (f.gender) document.getElementById("gender").value = f.gender;
}

async function pageResident(id) {
  const r = await api("GET", "/api/records/resident/" + id);
  const f = r.fields;
  // the household's name says the building, unit and room already
  const rows = ["gender", "birth_year", "phone", "household", "building", "unit", "room", "tags", "note"]
    .filter((k) => !(f.household && ["building", "unit", "room"].includes(k)))
    .filter((k) => f[k] !== undefined && f[k] !== null && String(f[k]) !== "")
    .map((k) => h("tr", null, h("th", null, fieldLabel("resident", k)), h("td", { "data-field": k },
      k === "birth_year" ? f[k] + "年（" + age(f[k]) + "岁）" : shown(r, k))));
  rows.push(h("tr", null, h("th", null, "所属网格"), h("td", null, gridName(r.scope))));
  // the others living in the same room
  let mates = [];
  if (f.household && f.household.$ref) {
    const res = await api("GET", "/api/records/resident?limit=50&where=" +
      encodeURIComponent("household=" + f.household.$ref));
    mates = res.items.filter((x) => x.id !== r.id);
  } else if (f.building && f.room) {
    const conds = ["building=" + f.building, "room=" + f.room].concat(f.unit ? ["unit=" + f.unit] : []);
    const res = await api("GET", "/api/records/resident?limit=50&" +
      conds.map((c) => "where=" + encodeURIComponent(c)).join("&"));
    mates = res.items.filter((x) => x.id !== r.id);
  }
  show(h("h1", null, f.name, r.deleted ? "（已迁出）" : ""),
    h("table", { class: "card-table" }, h("tbody", null, rows)),
    mates.length ? [h("h2", null, "同住的人"), h("ul", { class: "mates" }, mates.map((m) =>
      h("li", null, h("a", { href: "#/resident/" + m.id }, m.fields.name),
        m.fields.birth_year ? " " + age(m.fields.birth_year) + "岁" : "", m.fields.tags && m.fields.tags.length ? " " + shown(m, "tags") : "")))]
      : f.building ? h("p", { class: "muted" }, "登记的同住人：没有") : null,
    h("p", { class: "muted" }, "最近修改 " + localTime(r.updated)),
    h("div", { class: "row no-print" },
      h("a", { class: "button", href: "#/resident/" + id + "/edit" }, "修改"),
      r.deleted ? h("button", { class: "plain", on: { click: async () => {
        try { await api("POST", "/api/records/resident/" + id + "/restore"); toast("已恢复"); route(); }
        catch (err) { toast(err.message, true); }
      } } }, "恢复（搬回来了）")
        : h("button", { class: "plain", on: { click: async () => {
          if (!confirm("确定 " + f.name + " 已迁出吗？记录会保留，可以恢复。")) return;
          try { await api("DELETE", "/api/records/resident/" + id); toast("已登记迁出"); route(); }
          catch (err) { toast(err.message, true); }
        } } }, "迁出"),
      h("a", { class: "button plain", href: "#/passbook/resident/" + id }, "时间银行存折"),
      f.building ? h("a", { class: "button plain", href: "#/residents?b=" + encodeURIComponent(f.building) +
        (f.unit ? "&u=" + encodeURIComponent(f.unit) : "") }, "看这个单元") : null,
      h("a", { class: "button plain", href: "#/residents" }, "返回居民列表")));
}

// ---- 诉求与微心愿 ----

const BOARD_PER_COLUMN = 8;

async function doers() {
  const [units, teams] = await Promise.all([api("GET", "/api/records/unit?limit=500"),
    api("GET", "/api/records/team?limit=500")]);
  return units.items.concat(teams.items);
}

const STATUS_PAGE = 20;

// Every appeal of one status, newest first, a page at a time.
async function pageAppealStatus(code, page) {
  const c = coll("appeal");
  const s = field("appeal", "status").values.find((x) => x.code === code);
  if (!s) return show(h("h1", null, "没有这个状态"), h("a", { href: "#/appeals" }, "回到诉求"));
  const w = "where=" + encodeURIComponent("status=" + code);
  const first = await api("GET", "/api/records/appeal?" + w + "&limit=1");
  const pages = Math.max(1, Math.ceil(first.total / STATUS_PAGE));
  const p = Math.min(Math.max(1, page), pages);
  // newest first: page 1 is the last STATUS_PAGE in creation order
  const end = first.total - (p - 1) * STATUS_PAGE;
  const start = Math.max(0, end - STATUS_PAGE);
  const res = end > 0 ? await api("GET", "/api/records/appeal?" + w + "&limit=" + (end - start) + "&offset=" + start)
    : { items: [] };
  const d = await doers();
  const link = (n, text) => h("a", { class: "button plain", href: "#/appeals?status=" + code + "&page=" + n }, text);
  show(h("h1", null, "诉求：" + s.label + "（" + first.total + " 件）"),
    h("div", { class: "row no-print" }, h("a", { class: "button plain", href: "#/appeals" }, "回到看板"),
      p > 1 ? link(p - 1, "上一页") : null,
      h("span", { id: "page-of" }, "第 " + p + " 页，共 " + pages + " 页"),
      p < pages ? link(p + 1, "下一页") : null),
    h("section", { class: "column list", "data-status": code },
      res.items.slice().reverse().map((a) => appealItem(c, a, d))));
}

async function pageAppeals() {
  const c = coll("appeal");
  const statuses = field("appeal", "status").values;
  // each column asks for its own status: the newest few, and how many
  const cols = await Promise.all(statuses.map(async (s) => {
    const w = "where=" + encodeURIComponent("status=" + s.code);
    const first = await api("GET", "/api/records/appeal?" + w + "&limit=" + BOARD_PER_COLUMN);
    if (first.total <= BOARD_PER_COLUMN) return [s, first];
    return [s, await api("GET", "/api/records/appeal?" + w + "&limit=" + BOARD_PER_COLUMN +
      "&offset=" + (first.total - BOARD_PER_COLUMN))];
  }));
  const d = await doers();
  const columns = cols.map(([s, res]) => h("section", { class: "column", "data-status": s.code },
    h("h2", null, s.label, "（", res.total, "）"),
    res.total > res.items.length ? h("p", { class: "muted" }, "最近的 " + res.items.length + " 件，",
      h("a", { href: "#/appeals?status=" + s.code, class: "all" }, "看全部 " + res.total + " 件")) : null,
    res.items.slice().reverse().map((a) => appealItem(c, a, d))));
  show(h("h1", null, "诉求与微心愿"),
    h("details", { class: "no-print", id: "new-appeal" }, h("summary", null, "登记新诉求"), appealForm()),
    h("div", { class: "board" }, columns));
}

// The verbs allowed from the appeal's status (the schema's moves): only
// those are offered; the API refuses any other.
function appealItem(c, a, doers) {
  const allowed = c.moves.filter((m) => m.from === a.fields.status).map((m) => m.to);
  const verbs = c.verbs.filter((v) => allowed.includes(v.to));
  const panel = h("div", { class: "panel" });
  return h("div", { class: "item", "data-id": a.id },
    h("div", null, h("strong", null, label("appeal", "category", a.fields.category)), "：", a.fields.description),
    h("div", { class: "muted" }, [a.fields.resident ? shown(a, "resident") : "", a.fields.opened ? a.fields.opened + " 登记" : "",
      a.fields.assignee ? "承办：" + shown(a, "assignee") : "",
      a.fields.feedback ? "评价：" + label("appeal", "feedback", a.fields.feedback) : ""].filter(Boolean).join("，")),
    h("div", { class: "actions no-print" }, verbs.map((v) => h("button", {
      class: "plain", type: "button", "data-verb": v.name, on: { click: () => doVerb(a, v, panel, doers) } }, verbName(v.name)))),
    panel);
}

function verbName(v) {
  return { accept: "受理", assign: "交办", resolve: "办结", close: "回访并关闭", reopen: "重新打开",
    claim: "认领", done: "完成" }[v] || v;
}

async function sendVerb(a, v, body, panel) {
  try {
    await api("POST", "/api/records/appeal/" + a.id + "/verbs/" + v.name, body);
    panel.replaceChildren();
    toast("已" + verbName(v.name));
    route({ soft: true });
  } catch (err) { toast(err.message, true); }
}

// assign asks to whom (a list of names), close asks for the resident's
// feedback; the others are done at once.
function doVerb(a, v, panel, doers) {
  if (v.name === "assign") {
    panel.replaceChildren(h("label", { for: "to-" + a.id }, "交给哪个共建单位或志愿队？"),
      h("select", { id: "to-" + a.id, class: "assign-to" }, doers.map((d) =>
        h("option", { value: d.collection + "/" + d.id }, d.fields.name))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "confirm", on: { click: () =>
          sendVerb(a, v, { to: document.getElementById("to-" + a.id).value }, panel) } }, "确定交办"),
        h("button", { type: "button", class: "plain", on: { click: () => panel.replaceChildren() } }, "取消")));
    return;
  }
  if (v.name === "close") {
    const fb = field("appeal", "feedback");
    panel.replaceChildren(h("fieldset", { class: "checks" }, h("legend", null, "居民的评价"),
      fb.values.map((x, i) => h("label", null, h("input", { type: "radio", name: "fb-" + a.id, value: x.code,
        checked: i === 0 }), x.label))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "confirm", on: { click: () => {
          const chosen = panel.querySelector("input:checked");
          sendVerb(a, v, { fields: { feedback: chosen ? chosen.value : fb.values[0].code } }, panel);
        } } }, "确定关闭"),
        h("button", { type: "button", class: "plain", on: { click: () => panel.replaceChildren() } }, "取消")));
    return;
  }
  sendVerb(a, v, {}, panel);
}

function appealForm() {
  const pick = h("div", { class: "pick" });
  return h("form", { id: "appeal-form", on: { submit: async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    const fields = { category: fd.get("category"), description: fd.get("description").trim() };
    const who = fd.get("resident").trim();
    if (who) fields.resident = who;
    const body = { fields };
    if (fd.get("scope")) body.scope = fd.get("scope");
    else if (!who && writableGrids().length) body.scope = writableGrids()[0][0];
    for (;;) {
      try {
        await api("POST", "/api/records/appeal", body);
        toast("已登记");
        e.target.reset();
        e.target.closest("details").open = false;
        document.activeElement.blur();
        route({ soft: true });
        return;
      } catch (err) {
        if (err.status === 409 && err.body.error.candidates) {
          const ref = await pickCandidate(err, pick, "居民");
          if (!ref) return;
          fields.resident = ref;
          continue;
        }
        toast(err.message, true);
        return;
      }
    }
  } } },
  h("div", { class: "row" },
    h("div", null, h("label", { for: "category" }, "类别"), select("category", "appeal", "category")),
    h("div", null, h("label", { for: "resident" }, "哪位居民提的（姓名）"), input("resident", { size: 10 })),
    h("div", null, h("label", { for: "scope" }, "所属网格"), scopeSelect("scope", null, "（居民所在的网格）"))),
  h("label", { for: "description" }, "诉求内容"),
  h("textarea", { id: "description", name: "description", rows: 2, cols: 50, required: true }),
  pick,
  h("div", null, h("button", { type: "submit" }, "登记")));
}

// ---- 时间银行 ----

// A person's account, or null (no such person, or several of that name).
async function balanceOf(person) {
  if (!person) return null;
  try { return await api("GET", "/api/timebank/balance?person=" + encodeURIComponent(person)); }
  catch (err) { return null; }
}

async function pageTimebank() {
  const pick = h("div", { class: "pick" });
  const form = h("form", { id: "timebank-form", on: { submit: async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    const kind = e.submitter && e.submitter.value === "spend" ? "spend" : "deposit";
    const body = { person: fd.get("person").trim(), hours: fd.get("hours").trim(), fields: {} };
    if (fd.get("service")) body.fields.service = fd.get("service");
    if (fd.get("note").trim()) body.fields.note = fd.get("note").trim();
    const msg = document.getElementById("tb-error");
    msg.textContent = "";
    for (;;) {
      try {
        await api("POST", "/api/timebank/" + kind, body);
        toast((kind === "spend" ? "已支取 " : "已存入 ") + body.hours + " 小时");
        route();
        return;
      } catch (err) {
        if (err.status === 409 && err.body.error.candidates) {
          const ref = await pickCandidate(err, pick, "");
          if (!ref) return;
          body.person = ref;
          continue;
        }
        msg.replaceChildren();
        if (kind === "spend" && err.status === 422) {
          const bal = await balanceOf(body.person);
          if (bal) msg.append(h("div", { class: "big-error" }, "没有支取：" + bal.name + " 现在只有 " +
            bal.balance + " 小时，不够支取 " + body.hours + " 小时。"));
        }
        msg.append(h("div", { class: "reason" }, (msg.childNodes.length ? "节点的说明：" :
          kind === "spend" ? "没有支取：" : "没有存入：") + err.message));
        return;
      }
    }
  } } },
  h("div", { class: "row" },
    h("div", null, h("label", { for: "person" }, "志愿者或居民（姓名）"), input("person", { required: true, size: 10,
      on: { change: async (e) => {
        const el = document.getElementById("tb-balance");
        const bal = await balanceOf(e.target.value.trim());
        el.textContent = bal ? bal.name + " 现有 " + bal.balance + " 小时" : "";
      } } })),
    h("div", null, h("label", { for: "hours" }, "时长（小时）"), input("hours", { required: true, inputmode: "decimal", size: 5 })),
    h("div", null, h("label", { for: "service" }, "服务"), select("service", "timebank", "service", "（不填）")),
    h("div", null, h("label", { for: "note" }, "备注（服务了谁、做了什么）"), input("note", { size: 24 }))),
  h("p", { id: "tb-balance", class: "ok", "aria-live": "polite" }),
  pick,
  h("div", { class: "row" }, h("button", { type: "submit", value: "deposit" }, "存入工时"),
    h("button", { type: "submit", value: "spend", class: "plain" }, "支取工时（兑换服务）")),
  h("p", { id: "tb-error", class: "error", role: "alert" }));
  const first = await api("GET", "/api/records/timebank?limit=1");
  const res = await api("GET", "/api/records/timebank?limit=15&offset=" + Math.max(0, first.total - 15));
  const rows = res.items.reverse().map((t) => h("tr", null,
    h("td", null, t.fields.date), h("td", null, t.fields.person && t.fields.person.$ref
      ? h("a", { href: "#/passbook/" + t.fields.person.$ref }, shown(t, "person")) : shown(t, "person")),
    h("td", null, label("timebank", "kind", t.fields.kind)),
    h("td", { class: "num" }, t.fields.hours), h("td", null, shown(t, "service")),
    h("td", null, t.fields.note || "")));
  show(h("h1", null, "时间银行"), form, h("h2", null, "最近的记录（共 " + first.total + " 条）"),
    wide(h("table", { id: "timebank-recent" }, h("thead", null, h("tr", null, ["日期", "谁的工时", "类型", "小时", "服务", "备注"]
      .map((x) => h("th", null, x)))), h("tbody", null, rows))));
}

// A person's passbook: every entry with the balance after it; printable.
async function pagePassbook(c, id) {
  const ref = c + "/" + id;
  const bal = await api("GET", "/api/timebank/balance?person=" + encodeURIComponent(ref));
  const w = "where=" + encodeURIComponent("person=" + ref);
  const first = await api("GET", "/api/records/timebank?" + w + "&limit=1");
  const start = Math.max(0, first.total - 500);
  const res = first.total ? await api("GET", "/api/records/timebank?" + w + "&limit=500&offset=" + start) : { items: [] };
  const cents = (x) => Math.round(Number(x) * 100);
  // the balance before the entries shown, so that the last line is the account's
  let run = cents(bal.balance);
  for (const t of res.items) run -= (t.fields.kind === "spend" ? -1 : 1) * cents(t.fields.hours);
  const rows = res.items.map((t) => {
    run += (t.fields.kind === "spend" ? -1 : 1) * cents(t.fields.hours);
    const sign = t.fields.kind === "spend" ? "−" : "+";
    return h("tr", null, h("td", null, t.fields.date), h("td", null, label("timebank", "kind", t.fields.kind)),
      h("td", { class: "num" }, sign + t.fields.hours), h("td", { class: "num" }, run / 100),
      h("td", null, shown(t, "service")), h("td", null, t.fields.note || ""));
  });
  show(h("h1", null, "时间银行存折：" + bal.name),
    h("p", { id: "passbook-balance", class: bal.overdrawn ? "error" : "big-line" },
      "现有 " + bal.balance + " 小时（存入 " + bal.deposits + "，支取 " + bal.spends +
      (bal.adjusts ? "，调整 " + bal.adjusts : "") + "）", bal.overdrawn ? "，已透支，请管理员处理" : ""),
    first.total > res.items.length ? h("p", { class: "muted" }, "下面是最近的 " + res.items.length + " 条，共 " + first.total + " 条") : null,
    wide(h("table", { id: "passbook" }, h("thead", null, h("tr", null,
      ["日期", "类型", "小时", "余额", "服务", "备注"].map((x) => h("th", null, x)))), h("tbody", null, rows))),
    h("div", { class: "row no-print" }, h("button", { type: "button", on: { click: () => window.print() } }, "打印存折"),
      h("a", { class: "button plain", href: "#/timebank" }, "回到时间银行")));
}

// ---- 报表 ----

const FIGURES = [["appeals", "诉求", (t) => t.appeals.opened], ["resolved", "办结", (t) => t.appeals.resolved],
  ["visits", "走访", (t) => t.visits], ["disputes_mediated", "调解纠纷", (t) => t.disputes_mediated],
  ["hazards_found", "发现隐患", (t) => t.hazards_found], ["meetings", "议事会", (t) => t.meetings],
  ["errands_done", "代办跑腿", (t) => t.errands_done], ["volunteer_hours", "志愿工时", (t) => t.volunteer_hours]];

async function pageReport(params) {
  const since = params.get("since") || "";
  const rep = await api("GET", "/api/report" + (since ? "?since=" + encodeURIComponent(since) : ""));
  const t = rep.total;
  const max = Math.max(1, ...rep.grids.map((g) => g.appeals.opened));
  const now = new Date();
  const year = now.getFullYear();
  const month = year + "-" + String(now.getMonth() + 1).padStart(2, "0") + "-01";
  show(h("h1", null, "报表", since ? "（" + since + " 以来）" : "（全部）"),
    h("div", { class: "row no-print" },
      h("a", { class: "button plain", href: "#/report", "aria-current": since ? null : "page" }, "全部"),
      h("a", { class: "button plain", href: "#/report?since=" + year + "-01-01",
        "aria-current": since === year + "-01-01" ? "page" : null }, year + " 年以来"),
      h("a", { class: "button plain", href: "#/report?since=" + month,
        "aria-current": since === month ? "page" : null }, (now.getMonth() + 1) + " 月以来"),
      h("button", { type: "button", on: { click: () => window.print() } }, "打印"),
      h("button", { type: "button", id: "export-csv", on: { click: () => exportCsv(rep, since) } }, "导出表格（Excel 可打开）")),
    h("div", { class: "cards", id: "report-total" }, FIGURES.map(([k, name, get]) => h("div", { class: "card", "data-figure": k },
      h("div", null, name), h("div", { class: "big" }, get(t))))),
    h("h2", null, "各网格"),
    wide(h("table", { id: "report-grids" }, h("thead", null, h("tr", null,
      ["网格", "居民", "诉求", "办结", "走访", "隐患", "工时", "诉求数"].map((x) => h("th", null, x)))),
      h("tbody", null, rep.grids.map((g) => h("tr", null,
        h("td", null, gridName(g.grid)), h("td", { class: "num" }, g.residents),
        h("td", { class: "num" }, g.appeals.opened),
        h("td", { class: "num" }, g.appeals.resolved), h("td", { class: "num" }, g.visits),
        h("td", { class: "num" }, g.hazards_found), h("td", { class: "num" }, g.volunteer_hours),
        h("td", { class: "barcell" }, h("span", { class: "bar", "data-w": Math.round(100 * g.appeals.opened / max) }))))))));
  for (const b of document.querySelectorAll(".bar")) b.style.width = b.dataset.w + "%";
}

// The report as a CSV file that Excel opens (UTF-8 with a byte order
// mark, so that the Chinese is read right); made here, nothing sent.
function exportCsv(rep, since) {
  const cols = [["网格", (g) => g.grid === null ? "合计" : gridName(g.grid)], ["居民", (g) => g.residents],
    ["户", (g) => g.households], ["诉求", (g) => g.appeals.opened], ["办结", (g) => g.appeals.resolved],
    ["走访", (g) => g.visits], ["调解纠纷", (g) => g.disputes_mediated], ["发现隐患", (g) => g.hazards_found],
    ["议事会", (g) => g.meetings], ["完成共建事项", (g) => g.tasks_done], ["代办跑腿", (g) => g.errands_done],
    ["志愿工时", (g) => g.volunteer_hours]];
  const cell = (v) => { const t = String(v === null || v === undefined ? "" : v);
    return /[",\n]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t; };
  const lines = [cols.map((c) => c[0]).join(",")]
    .concat(rep.grids.concat([rep.total]).map((g) => cols.map((c) => cell(c[1](g))).join(",")));
  const blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const a = h("a", { href: URL.createObjectURL(blob), download: "报表" + (since ? "-" + since + "以来" : "") + ".csv" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---- routing ----

const pages = [
  [/^#?\/?$/, "home", () => pageHome()],
  [/^#\/residents(\?.*)?$/, "residents", (m) => pageResidents(new URLSearchParams((m[1] || "").slice(1)))],
  [/^#\/residents\/new$/, "residents", () => pageResidentForm(null)],
  [/^#\/resident\/([0-9A-Z]{26})$/, "residents", (m) => pageResident(m[1])],
  [/^#\/resident\/([0-9A-Z]{26})\/edit$/, "residents", (m) => pageResidentForm(m[1])],
  [/^#\/appeals$/, "appeals", () => pageAppeals()],
  [/^#\/appeals\?(.*)$/, "appeals", (m) => { const q = new URLSearchParams(m[1]);
    return pageAppealStatus(q.get("status") || "", Number(q.get("page") || 1)); }],
  [/^#\/timebank$/, "timebank", () => pageTimebank()],
  [/^#\/passbook\/(resident|unit|team)\/([0-9A-Z]{26})$/, "timebank", (m) => pagePassbook(m[1], m[2])],
  [/^#\/report(\?.*)?$/, "report", (m) => pageReport(new URLSearchParams((m[1] || "").slice(1)))],
];

// One page is drawn at a time; a request to draw while one is drawn is
// done right after it (the last one wins). A soft draw (a change told by
// the node, or after a write) leaves the page alone while the person is
// in the middle of something: typing, choosing, a panel open.
let drawing = null, queued = null, softDraw = false;
function route(opts) {
  const soft = !!(opts && opts.soft);
  if (drawing) {
    queued = { soft: soft && (!queued || queued.soft) };
    return drawing;
  }
  drawing = (async () => {
    for (let o = { soft }; o; o = queued) {
      queued = null;
      softDraw = o.soft;
      const hash = location.hash || "#/";
      const main = document.getElementById("main");
      main.dataset.ready = "0";
      const moved = !o.soft && main.dataset.drawn !== hash;
      try { await draw(hash); } finally { main.dataset.ready = "1"; main.dataset.drawn = hash; }
      if (moved) window.scrollTo(0, 0); // a new page starts at its top
    }
    drawing = null;
  })();
  return drawing;
}

function busy() {
  const a = document.activeElement;
  if (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT")) return true;
  return !!document.querySelector(".panel:not(:empty), .pick:not(:empty), #pick:not(:empty), details[open]");
}

async function draw(hash) {
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

// Live: the node says when its records changed (a sync, another window,
// the command line): the page is drawn again, unless the person is in
// the middle of typing or choosing. When the stream (re)connects, a
// change made while it was down may have been missed: drawn again too.
function refresh() {
  buildingsCache = null;
  if (!busy()) route({ soft: true });
}

let stream = null;
function live() {
  if (stream) stream.close();
  const ev = stream = new EventSource("/api/events");
  const el = document.getElementById("live");
  ev.addEventListener("open", () => {
    el.textContent = "● 已连接本机节点";
    el.dataset.live = "1";
    if (document.getElementById("main").dataset.drawn !== undefined) refresh();
  });
  ev.addEventListener("error", () => {
    el.textContent = "○ 与本机节点的连接断了，正在重连";
    el.dataset.live = "0";
    // refused (a session ended): the browser gives up; the next API call
    // asks for the password, and opens the stream again
    if (ev.readyState === EventSource.CLOSED && session && session.password)
      api("GET", "/api/session").catch(() => {});
  });
  ev.addEventListener("change", refresh);
}

async function start() {
  session = await getSession();
  if (session.password)
    document.querySelector(".top").append(
      h("button", { type: "button", class: "logout", on: { click: logout } }, "退出登录"));
  const [sc, gs] = await Promise.all([api("GET", "/api/schema"), api("GET", "/api/records/grid?limit=500")]);
  schema = sc;
  for (const g of gs.items) grids.set(g.scope, g.fields.name);
  document.getElementById("who").textContent = session.node.name;
  window.addEventListener("hashchange", route);
  live();
  await route();
}

start();
