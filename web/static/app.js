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
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

// text: a string, or what t() made (a list of texts and nodes)
function toast(text, bad) {
  const t = document.getElementById("toast");
  t.replaceChildren(...[].concat(text));
  t.className = bad ? "toast error" : "toast";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 8000 : 3500);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error.text : t("请求失败（{status}）", { status }));
    this.status = status;
    this.body = body;
  }
}


// ---- the language: Chinese, or English (remembered) ----
// The page is written in Chinese; in English, the schema's labels become
// its codes in words, and the page's own words are looked up here, whole
// texts at a time (a name or a record's text is never one of them).
let lang = localStorage.getItem("gs-lang") === "en" ? "en" : "zh";
const EN = {
  "概况": "Overview", "居民": "Residents", "诉求与微心愿": "Appeals and micro-wishes", "走访": "Visits",
  "议事会与共建清单": "Councils and co-building list", "时间银行": "Time bank", "报表": "Reports",
  "同步与成员": "Sync and members", "待处理": "To settle", "常用": "Shortcuts", "登记新居民": "Add a resident",
  "登记诉求": "Record an appeal", "记志愿工时": "Record volunteer hours", "待受理的诉求": "Appeals waiting",
  "已办结待回访": "Resolved, to follow up", "时间银行透支": "Overdrawn time-bank accounts", "同步": "Sync",
  "去处理": "Handle them", "问居民满意不满意": "Ask the residents whether they are satisfied",
  "没有透支": "None overdrawn", "与已知的节点一致": "Up to date with the nodes known",
  "找居民（姓名或电话）": "Find a resident (name or phone)", "查找": "Search", "按楼栋看：": "By building:",
  "姓名": "Name", "性别": "Gender", "年龄": "Age", "住址": "Address", "电话": "Phone", "标签": "Tags",
  "修改": "Edit", "保存": "Save", "取消": "Cancel", "登记": "Record", "类别": "Category",
  "哪位居民提的（姓名）": "Which resident asked (name)", "所属网格": "Grid", "诉求内容": "What is asked",
  "登记新诉求": "Record a new appeal", "回到看板": "Back to the board", "受理": "Accept", "交办": "Assign",
  "办结": "Resolve", "回访并关闭": "Follow up and close", "重新打开": "Reopen", "认领": "Claim", "完成": "Done",
  "确定交办": "Assign", "确定关闭": "Close", "确定认领": "Claim", "居民的评价": "The resident's feedback",
  "志愿者或居民（姓名）": "Volunteer or resident (name)", "时长（小时）": "Hours", "服务": "Service",
  "备注（服务了谁、做了什么）": "Note (whom, what)", "存入工时": "Deposit hours", "支取工时（兑换服务）": "Spend hours",
  "日期": "Date", "谁的工时": "Whose hours", "类型": "Kind", "小时": "Hours", "备注": "Note", "余额": "Balance",
  "打印存折": "Print the passbook", "回到时间银行": "Back to the time bank", "打印": "Print", "全部": "All",
  "导出表格（Excel 可打开）": "Export a table (opens in Excel)", "各网格": "Per grid", "网格": "Grid",
  "记一次走访": "Log a visit", "楼栋": "Building", "单元": "Stairwell", "房号": "Room", "或者：居民姓名": "Or: the resident's name",
  "从发现直接登记诉求（与这次走访关联）": "Open an appeal from a finding (linked to this visit)",
  "走访人": "Visited by", "记下这次走访": "Save the visit", "最近的走访": "Recent visits", "哪一户": "Household",
  "发现": "Findings", "多少天没走访": "Not visited for", "全部楼栋": "All buildings", "看哪个楼栋": "Which building", "看看": "Show",
  "打印敲门单": "Print a door-knock sheet", "住户": "Household", "上次走访": "Last visit", "隔了": "Days since",
  "走访这一户": "Visit this one", "更多（可不填）": "More (optional)", "发现（有就圈出来）": "Findings (circle them)", "从没走访过": "Never visited", "回到走访": "Back to visits", "在家": "At home",
  "记一次议事会": "Record a council meeting", "记下议事会": "Save the meeting", "最近的议事会": "Recent meetings",
  "哪个单位认领？": "Which unit claims it?", "现在同步": "Sync now", "知道的节点": "Nodes known", "现在连着": "Connected now",
  "还没收到的记录": "Changes not received yet", "节点地址": "Address", "情况": "State", "上次的结果": "Last outcome",
  "邀请新的楼栋长": "Invite a new building leader", "角色": "Role", "负责的网格": "Grid", "几天内有效": "Valid for",
  "生成邀请码": "Make an invite code", "复制邀请码": "Copy the code", "加入网络": "Join a network",
  "把管理员给的邀请码粘贴到这里": "Paste the invite code the admin gave you", "加入": "Join",
  "U 盘同步包": "USB bundles", "导出同步包（下载）": "Export a bundle (download)", "从 U 盘导入同步包": "Import a bundle from a USB stick",
  "导入": "Import", "成员": "Members", "状态": "State", "停用（电脑丢了）": "Revoke (laptop lost)", "正常": "Valid",
  "已停用": "Revoked", "管理员": "admin", "社区办公室": "office", "楼栋长": "building leader", "只读": "reader",
  "没有要处理的事。": "Nothing to settle.", "节点的原话（英文）": "The node's words", "退出登录": "Log out",
  "请输入密码": "Enter the password", "密码": "Password", "登录": "Log in", "出错了": "Something went wrong",
  "没有这个页面": "No such page", "回到概况": "Back to the overview", "正在打开……": "Opening…",
  "● 已连接本机节点": "● Connected to this computer's node", "○ 与本机节点的连接断了，正在重连": "○ Connection lost, reconnecting",
  "该走访了": "Due for a visit", "没有冲突": "No conflicts", "最近的记录": "Recent entries", "看这个单元": "This stairwell", "返回居民列表": "Back to residents",
  "时间银行存折": "Time-bank passbook", "打印本单元名册": "Print this stairwell's roster", "共建清单": "Co-building list",
};
// The sentences with places for values (t()), and the rest of the page's
// own words, whole.
Object.assign(EN, {
  "请求失败（{status}）": "The request failed ({status})",
  "密码错误次数太多，请稍等几秒再试": "Too many wrong passwords: wait a few seconds and try again",
  "密码不对，请再试一次": "Wrong password: try again", "登录失败（{status}）": "Could not log in ({status})",
  "连不上本机节点：{why}": "Cannot reach this computer's node: {why}",
  "（未同步的记录）": "(a record not synced yet)", "全部网格": "All grids",
  "社区直属（不属于网格）": "The community itself (no grid)", "未登记的网格": "A grid not recorded",
  "本机还不能登记：没有可写的网格。": "This computer cannot record yet: no grid it may write to.",
  "有 {n} 位居民都叫「{name}」，请选是哪一位：": "{n} residents are called “{name}”: choose which one:",
  "有 {n} 位都叫「{name}」，请选是哪一位：": "{n} are called “{name}”: choose which one:",
  "都不是，取消": "None of them: cancel", "{n}岁": "aged {n}", "{n} 岁": "{n}", "电话尾号{d}": "phone ending {d}",
  "其中 {n} 件重新打开": "{n} of them reopened", "个账户需管理员处理": "accounts for an admin to settle",
  "件事要人来决定": "matters for a person to decide", "户 90 天没走访": "households not visited for 90 days",
  "还有 {n} 条记录没收到": "{n} changes not received yet",
  "还有 {n} 条修改没传给别的节点": "{n} changes not yet passed on to another node",
  "都已传给别的节点": "Every change passed on to another node",
  "最近一次写入 {when}": "Last written {when}", "还没有写入": "Nothing written yet",
  "本机：{node}，{role}，网络「{net}」，共 {n} 条记录": "This computer: {node}, {role}, network “{net}”, {n} records in all",
  "本机还没有加入网络": "This computer has not joined a network yet",
  "「{q}」找到 {n} 位居民，显示前 {k} 位": "“{q}”: {n} residents found, the first {k} shown",
  "「{q}」找到 {n} 位居民": "“{q}”: {n} residents found",
  "共 {n} 位居民，下面是前 {k} 位；请按楼栋看，或查找": "{n} residents in all, the first {k} below; look by building, or search",
  "共 {n} 位居民": "{n} residents in all",
  "没有找到。姓名可以只写一部分，电话可以只写几位。": "Nobody found. A part of the name will do, or a few digits of the phone.",
  "居民：{b}": "Residents: {b}", "楼栋长 {name}": "building leader {name}", "电话 {phone}": "phone {phone}",
  "{n} 位居民": "{n} residents", "{u}单元": "stairwell {u}", "未写单元": "No stairwell written",
  "{b}{u}单元": "{b}, stairwell {u}", "{r}室": "room {r}", "未写房号": "No room written",
  "{b}{u}单元{r}": "{b}, stairwell {u}, {r}",
  "已保存": "Saved", "已登记 {name}": "{name} recorded", "（不填）": "(none)", "出生年份": "Year of birth",
  "如 1950": "e.g. 1950", "修改居民信息：{name}": "Edit a resident: {name}", "{y}年（{n}岁）": "{y} (aged {n})",
  "（已迁出）": " (moved out)", "同住的人": "Living with", "登记的同住人：没有": "Living with: nobody recorded",
  "最近修改 {when}": "Last changed {when}", "已恢复": "Restored", "恢复（搬回来了）": "Restore (moved back)",
  "确定 {name} 已迁出吗？记录会保留，可以恢复。": "Has {name} moved out? The record is kept and can be restored.",
  "已登记迁出": "Recorded as moved out", "迁出": "Moved out",
  "没有这个状态": "No such status", "回到诉求": "Back to the appeals", "诉求：{status}（{n} 件）": "Appeals: {status} ({n})",
  "上一页": "Previous page", "第 {p} 页，共 {n} 页": "Page {p} of {n}", "下一页": "Next page",
  "最近的 {k} 件，": "The latest {k}, ", "看全部 {n} 件": "see all {n}", "{date} 登记": "recorded {date}",
  "承办：{who}": "handled by {who}", "评价：{fb}": "feedback: {fb}",
  "已受理": "Accepted", "已交办": "Assigned", "已办结": "Resolved", "已回访并关闭": "Followed up and closed",
  "已重新打开": "Reopened", "已认领": "Claimed", "已完成": "Done",
  "交给哪个共建单位或志愿队？": "To which co-building unit or volunteer team?", "已登记": "Recorded",
  "（居民所在的网格）": "(the resident's grid)", "：": ": ",
  "已支取 {h} 小时": "{h} hours spent", "已存入 {h} 小时": "{h} hours deposited",
  "没有支取：{name} 现在只有 {bal} 小时，不够支取 {h} 小时。": "Not spent: {name} has only {bal} hours now, not enough for {h} hours.",
  "节点的说明：{why}": "The node says: {why}", "没有支取：{why}": "Not spent: {why}", "没有存入：{why}": "Not deposited: {why}",
  "{name} 现有 {bal} 小时": "{name} has {bal} hours", "最近的记录（共 {n} 条）": "Recent entries ({n} in all)",
  "时间银行存折：{name}": "Time-bank passbook: {name}",
  "现有 {bal} 小时（存入 {dep}，支取 {sp}，调整 {adj}）": "{bal} hours now (deposits {dep}, spends {sp}, adjustments {adj})",
  "现有 {bal} 小时（存入 {dep}，支取 {sp}）": "{bal} hours now (deposits {dep}, spends {sp})",
  "，已透支，请管理员处理": ": overdrawn, for an admin to settle",
  "下面是最近的 {k} 条，共 {n} 条": "The latest {k} below, {n} in all",
  "诉求": "Appeals", "调解纠纷": "Disputes mediated", "发现隐患": "Hazards found", "议事会": "Council meetings",
  "代办跑腿": "Errands run", "志愿工时": "Volunteer hours", "报表（{since} 以来）": "Reports (since {since})",
  "报表（全部）": "Reports (all)", "{y} 年以来": "Since {y}", "{m} 月以来": "Since {m} 1", "隐患": "Hazards",
  "工时": "Hours", "诉求数": "Appeals (bar)", "合计": "Total", "户": "Households", "完成共建事项": "Co-building items done",
  "报表-{period}": "report-{period}", "报表（{y} 年）": "Reports ({y})", "报表（{m}）": "Reports ({m})",
  "报表（{since} 至 {until}）": "Reports ({since} to {until})", "报表（{until} 及以前）": "Reports (until {until})",
  "哪一年": "Year", "看这一年": "Show this year", "哪个月": "Month", "看这个月": "Show this month",
  "从哪天": "From", "到哪天": "To", "看这段日期": "Show these dates", "这段时间不行：{why}": "Not a period the report takes: {why}", "报表": "Reports", "居民": "Residents", "走访": "Visits", "办结": "Resolved",
  "{label}（一行一个）": "{label} (one a line)", "{label}（一行一件）": "{label} (one a line)",
  "{label}（一行一位或一方）": "{label} (one person or party a line)", "{label}（一行一条）": "{label} (one a line)",
  "请选一户（楼栋和房号），或写居民的姓名": "Choose a household (building and room), or write the resident's name",
  "已记下这次走访，并登记了 {n} 件诉求": "Visit saved, and {n} appeals recorded", "已记下这次走访": "Visit saved",
  "没有记下：{why}": "Not saved: {why}", "走访：{where}": "Visiting: {where}",
  "「{finding}」登记为诉求": "Record “{finding}” as an appeal", "{n} 天": "{n} days",
  "{where}：{days} 天没走访的有 {n} 户": "{where}: {n} households not visited for {days} days",
  "各楼栋没走访的户数": "Households not visited, per building", "{b}（{n} 户）": "{b} ({n})",
  "下面是前 {k} 户；选一个楼栋看全部": "The first {k} below; choose a building to see them all",
  "敲门走访单：{where}": "Door-knock sheet: {where}",
  "{days} 天内没走访的 {n} 户（本单列前 {k} 户），打印日期 {date}。走访人：＿＿＿＿＿＿":
    "{n} households not visited for {days} days (the first {k} listed), printed {date}. Visited by: ______",
  "{days} 天内没走访的 {n} 户，打印日期 {date}。走访人：＿＿＿＿＿＿":
    "{n} households not visited for {days} days, printed {date}. Visited by: ______",
  "从没": "Never", "已记下议事会和 {n} 件共建事项": "Meeting saved, with {n} co-building items",
  "已记下议事会": "Meeting saved", "会议名称": "Title",
  "共建清单：要做的事（一行一件，之后由单位认领）": "Co-building list: what is to be done (one a line; units claim them later)",
  "来自{meeting}": "from {meeting}", "认领：{who}": "claimed by {who}", "{date} 完成": "done {date}",
  "参加：{who}": "Present: {who}", "议题：{what}": "Topics: {what}", "决定：{what}": "Decided: {what}",
  "{date} {kind}：{title}": "{date} {kind}: {title}", "{date} {kind}": "{date} {kind}",
  "共建清单（最近 {k} 件，共 {n} 件）": "Co-building list (the latest {k} of {n})",
  "最近的议事会（共 {n} 次）": "Recent meetings ({n} in all)",
  "本机已经加入了一个网络（或者已经用过这个邀请码）。": "This computer has joined a network already (or used this invite code before).",
  "这个邀请码已经过期了，请管理员重新发一个。": "This invite code has expired: ask the admin for a new one.",
  "这个邀请码被改动过或是伪造的，不能用。": "This invite code was altered or forged: it cannot be used.",
  "这不是有效的邀请码，可能抄错了，请再对一遍。": "This is not a valid invite code: it may be mistyped; check it again.",
  "请把邀请码粘贴进来。": "Paste the invite code here.",
  "上次同步 {when}，之后连不上 {n} 次": "Last synced {when}, unreachable {n} times since",
  "同步成功": "Synced", "上次同步 {when}": "Last synced {when}", "还没连上过（试过 {when}）": "Never reached (tried {when})", "还没试过": "Not tried yet",
  "，就是本机": " (this computer)", "，在 {addr}": ", at {addr}", "{role}（{grid}）": "{role} ({grid})",
  "正在同步……": "Syncing…", "已开始和 {n} 个节点同步，结果会显示在下面": "Syncing with {n} nodes; the outcome shows below",
  "还不知道别的节点：先把办公室的地址加进来（gridsync serve --peer 地址）": "No other node known yet: add the office's address first (gridsync serve --peer ADDRESS)",
  "没能同步：{why}": "Could not sync: {why}",
  "这是给「{who}」的邀请码。请本人用手机扫码，或把下面的文字一字不差地输入。只给本人看，不要发到群里。有效到 {when}。":
    "This invite code is for “{who}”. Let them scan it with a phone, or type the text below exactly. Show it to them only, never in a group chat. Valid until {when}.",
  "请新楼栋长用手机扫码，或把下面的文字一字不差地输入。只给本人看，不要发到群里。有效到 {when}。":
    "Let the new building leader scan it with a phone, or type the text below exactly. Show it to them only, never in a group chat. Valid until {when}.",
  "邀请码的二维码": "The invite code as a QR code", "已复制邀请码": "Invite code copied", "请按 Ctrl+C 复制": "Press Ctrl+C to copy",
  "没有生成邀请码：{why}": "No invite code made: {why}", "给谁（姓名、楼栋）": "For whom (name, building)",
  "如：王阿姨，3号楼": "e.g. Mrs Wang, building 3", "没有网格": "No grid",
  "已加入网络「{net}」，角色：{role}": "Joined the network “{net}” as {role}", "没有加入：{why}": "Not joined: {why}",
  "文件太大（最多 64 MB），请用命令行 gridsync import": "The file is too big (64 MB at most): use gridsync import on the command line",
  "正在导入……": "Importing…", "已导入：新收到 {n} 条，已有 {d} 条": "Imported: {n} new, {d} held already",
  "，拒收 {n} 条": ", {n} refused", "，暂存 {n} 条": ", {n} held back", "没有导入：{why}": "Not imported: {why}",
  "还没有选文件": "No file chosen yet", "选一个同步包文件……": "Choose a bundle file…",
  "待办公室确认": "Waiting for the office to confirm", "邀请码被用了两次": "Its invite was used twice", "无效": "Void",
  "确定停用「{who}」吗？它以后写的记录都不再被接受。": "Revoke “{who}”? What it writes from now on is refused everywhere.",
  "本机「{node}」是网络「{net}」的{role}": "This computer “{node}” is the {role} of the network “{net}”",
  "别的节点有，本机还没有": "Other nodes hold them, this one not yet", "已经一致": "Up to date",
  "节点": "Node", "还不知道是谁": "Not known yet", "还不知道别的节点。": "No other node known yet.",
  "只有建立网络的管理员电脑能发邀请码。": "Only the admin's computer that created the network makes invite codes.",
  "本机已经在网络「{net}」里；管理员换了网络密钥时，把新的邀请码粘贴到这里。":
    "This computer is in the network “{net}” already; when the admin changes the network key, paste the new invite code here.",
  "还没有别的成员。": "No other members yet.",
  "诉求状态被两台电脑同时改了": "An appeal's status changed on two computers at once",
  "一个邀请码被用了两次": "An invite code used twice", "有节点的记录出了问题": "A node's records went wrong",
  "有记录暂时没有采用": "Some changes are held back for now", "电脑时间不对": "A computer's clock is wrong",
  "请管理员在命令行用 gridsync readmit 保留真正的那台电脑，另一台停用。": "An admin keeps the real computer with gridsync readmit on the command line, and revokes the other.",
  "请管理员查看：如果那台电脑丢了或被复制，到「同步与成员」停用它。": "For an admin to look at: if that computer was lost or copied, revoke it under “Sync and members”.",
  "等办公室确认这台电脑的成员身份后会自动采用；不用手动处理。": "Taken in by itself once the office confirms that computer's membership; nothing to do by hand.",
  "请把电脑的日期和时间调准（设置 → 日期和时间），再同步。": "Set the computer's date and time right (Settings → Date and time), then sync.",
  "诉求「{what}」在两台电脑上几乎同时被改了状态，现在显示「{status}」。请确认它实际上到了哪一步，再点一下正确的操作：":
    "The appeal “{what}” changed status on two computers at almost the same time; it now shows “{status}”. Check how far it really got, then click the right step:",
  "{name} 的账户现在是 {bal} 小时：两台电脑同时支取，取多了。": "{name}'s account is at {bal} hours: two computers accepted spends at once, too much was taken.",
  "透支调整（待处理）": "Overdraft settled (to settle)", "已调整": "Adjusted", "补上 {h} 小时，把账户调到 0": "Add {h} hours to bring the account to 0",
  "请管理员在「待处理」里调整。": "For an admin to adjust under “To settle”.", "请管理员处理。": "For an admin to handle.",
  "有 {n} 件事要人来决定": "{n} matters for a person to decide", "主菜单": "Main menu", "{status}（{n}）": "{status} ({n})",
  "诉求：": "Appeals: ",
});
// A schema code in English words: "lives-alone" -> "lives alone"; the
// few codes that are Chinese words themselves, translated.
const CODE_EN = { "男": "male", "女": "female" };
function codeWords(code) {
  return Object.prototype.hasOwnProperty.call(CODE_EN, code) ? CODE_EN[code] : String(code).replace(/[-_]/g, " ");
}
function tr(text) {
  return lang === "en" && Object.prototype.hasOwnProperty.call(EN, text) ? EN[text] : text;
}

// A person's data on the page (a name, an address, a note, a record's
// text, a grid's or a network's name): as it was entered, never
// translated, and marked so (<bdi class="data">).
function dat(x) {
  if (x === null || x === undefined || x === "") return "";
  return x instanceof Node ? x : h("bdi", { class: "data" }, String(x));
}

// A sentence of the page's own with places for values, looked up whole
// in EN ("共 {n} 位居民" -> "{n} residents in all") and then filled in: the
// words around a number or a name are never glued in pieces. A string
// when every value is text or a number; a list of texts and nodes when a
// value is a node (a dat(): the data stays marked).
function t(text, vals) {
  const tpl = tr(text);
  let nodes = false;
  const parts = tpl.split(/\{(\w+)\}/).map((p, i) => {
    if (i % 2 === 0) return p;
    const v = vals ? vals[p] : undefined;
    if (v instanceof Node || Array.isArray(v)) { nodes = true; return v; }
    return v === null || v === undefined ? "" : String(v);
  });
  return nodes ? parts.filter((p) => p !== "") : parts.join("");
}

// A text of the node's (a reason) with the names in it that a person
// entered marked as data: the rest is the node's words, in the page's
// language already (X-GS-Lang).
function said(text, names) {
  const ns = [...new Set(names.filter((x) => typeof x === "string" && x.length))].sort((a, b) => b.length - a.length);
  if (!ns.length) return text;
  const esc = ns.map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return text.split(new RegExp("(" + esc.join("|") + ")")).map((p, i) => i % 2 ? dat(p) : p).filter((p) => p !== "");
}

// Items in a row, as the language writes a list: "甲、乙" or "A, B"
// (sep "，" for a sentence's parts: "甲，乙" or "A; B"); empty ones left
// out. A list of texts and nodes.
function list(items, sep) {
  const s = lang === "en" ? (sep === "，" ? "; " : ", ") : (sep || "、");
  const out = [];
  for (const x of items) {
    if (x === null || x === undefined || x === false || x === "" || (Array.isArray(x) && !x.length)) continue;
    if (out.length) out.push(s);
    out.push(x);
  }
  return out;
}
// Put the page's own words into English (text nodes and a few attributes
// whose whole text is in EN; a trailing "：" or "（...）" kept apart).
function translate(root) {
  if (lang !== "en") return;
  // a person's data (.data) is never translated
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => n.parentElement && n.parentElement.closest(".data")
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT });
  const one = (x) => {
    const k = x.trim();
    if (!k) return x;
    if (Object.prototype.hasOwnProperty.call(EN, k)) return x.replace(k, EN[k]);
    const m = k.match(/^(.*?)([：:]|（.*）)$/);
    if (m && Object.prototype.hasOwnProperty.call(EN, m[1])) return x.replace(m[1], EN[m[1]]).replace("：", ": ");
    return x;
  };
  for (let n = walk.nextNode(); n; n = walk.nextNode()) n.nodeValue = one(n.nodeValue);
  for (const e of [root, ...root.querySelectorAll("[alt], [aria-label], [placeholder], [title]")])
    for (const a of ["alt", "aria-label", "placeholder", "title"]) if (e.hasAttribute && e.hasAttribute(a)) e.setAttribute(a, one(e.getAttribute(a)));
}
function setLang(l) {
  lang = l;
  localStorage.setItem("gs-lang", l);
  location.reload(); // every text drawn again, the navigation too
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
        msg.textContent = r.status === 429 ? tr("密码错误次数太多，请稍等几秒再试")
          : r.status === 403 ? tr("密码不对，请再试一次") : t("登录失败（{status}）", { status: r.status });
      } catch (err) {
        msg.textContent = t("连不上本机节点：{why}", { why: err.message });
      } finally {
        button.disabled = false;
      }
      pw.select();
    });
    translate(box);
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

// Writes in flight: while one is, a change the node tells of does not
// draw the page again (the write's own handler would put its answer into
// a page that was just replaced: an invite made, no code shown); the
// draw is done once the last write has answered.
let writes = 0, drawLater = false;
async function api(method, path, body) {
  if (method === "GET") return apiCall(method, path, body);
  writes++;
  try { return await apiCall(method, path, body); }
  finally {
    // the caller's code after its await runs before any event: it fills
    // its panel first, and the draw below then finds the page busy
    if (--writes === 0 && drawLater) { drawLater = false; setTimeout(refresh, 0); }
  }
}

async function apiCall(method, path, body) {
  for (;;) {
    if (!session) session = await getSession();
    const opts = { method, headers: { "X-GS-Lang": lang } };
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
  if (lang === "en") return v ? codeWords(v.code) : code;
  return v ? v.label : code;
}

// The schema's own label of a value, whatever the page's language: for
// what is stored (labels in the page's language are for showing).
function schemaLabel(cname, fname, code) {
  const f = field(cname, fname);
  const v = f && f.values.find((x) => x.code === code);
  return v ? v.own || v.label : code;
}

function fieldLabel(cname, fname) {
  const f = field(cname, fname);
  if (lang === "en") return codeWords(fname);
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
    return Array.isArray(n) ? list(n.map(dat)) : n ? dat(n) : tr("（未同步的记录）");
  }
  if (v && v.$ref) return tr("（未同步的记录）");
  // a value a person wrote (not one of the schema's codes): as it is
  const fd = coll(r.collection) && field(r.collection, f);
  if (!fd || !fd.values || !fd.values.length)
    return Array.isArray(v) ? list(v.map(dat)) : dat(typeof v === "object" ? JSON.stringify(v) : v);
  if (Array.isArray(v)) return list(v.map((x) => label(r.collection, f, x)));
  return label(r.collection, f, String(v));
}

function input(id, attrs) {
  return h("input", Object.assign({ id, name: id }, attrs || {}));
}

function select(id, cname, fname, blank) {
  const f = field(cname, fname);
  return h("select", { id, name: id },
    blank ? h("option", { value: "" }, blank) : null,
    f.values.map((v) => h("option", { value: v.code }, lang === "en" ? codeWords(v.code) : v.label)));
}

// A stored value of a record shown as it is (text a person wrote).
function val(r, k) {
  return dat(r.fields[k]);
}

// Put kids in el (a panel drawn after the page), in the page's language.
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false && k !== ""));
  translate(el);
}

function show(...kids) {
  if (softDraw && busy()) return; // the next change draws it
  const m = document.getElementById("main");
  m.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
  translate(m);
}

// The name of the grid a scope is in, never the path itself: as text
// (gridText) or on the page, the grid's name marked as data (gridName).
function gridText(scope) {
  if (!scope) return tr("全部网格");
  for (let s = scope; s; s = s.includes("/") ? s.slice(0, s.lastIndexOf("/")) : "") {
    if (grids.has(s)) return grids.get(s);
  }
  return tr(scope.split("/").length <= 2 ? "社区直属（不属于网格）" : "未登记的网格");
}
function gridName(scope) {
  for (let s = scope || ""; s; s = s.includes("/") ? s.slice(0, s.lastIndexOf("/")) : "") {
    if (grids.has(s)) return dat(grids.get(s));
  }
  return gridText(scope);
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
    list.map(([s, n]) => h("option", { value: s, class: "data", selected: s === chosen }, n)));
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
    fill(box, h("p", { class: "warn" }, t(what === "居民" ? "有 {n} 位居民都叫「{name}」，请选是哪一位："
      : "有 {n} 位都叫「{name}」，请选是哪一位：", { n: c.length, name: dat(c[0].name) })),
      h("div", { class: "choices" }, recs.filter(Boolean).map((r) => h("button", {
        type: "button", class: "plain choice", on: { click: () => {
          box.replaceChildren(); resolve(r.collection + "/" + r.id); } } },
        dat(r.fields.name), lang === "en" ? " — " : "　", detail(r))),
        h("button", { type: "button", class: "plain", on: { click: () => {
          box.replaceChildren(); resolve(null); } } }, "都不是，取消")));
  });
}

// What tells two records of one name apart, in words.
function detail(r) {
  const f = r.fields;
  if (r.collection === "resident") {
    return list([r.names && r.names.household ? dat(r.names.household) : place(f.building, f.unit, f.room),
      f.birth_year ? t("{n}岁", { n: age(f.birth_year) }) : "",
      f.phone ? t("电话尾号{d}", { d: f.phone.slice(-4) }) : ""], "，");
  }
  return gridName(r.scope);
}

// ---- 概况 ----

// the last counts of the slower to-dos, shown until new ones come
const homeCounts = { "inbox-items": "…", "due-visits": "…" };

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
      h("div", { class: "muted" }, reopened.total ? t("其中 {n} 件重新打开", { n: reopened.total }) : "去处理")),
    h("a", { class: "card link", href: "#/appeals" }, h("div", null, "已办结待回访"),
      h("div", { class: "big" }, resolved.total), h("div", { class: "muted" }, "问居民满意不满意")),
    h("a", { class: "card link", href: "#/timebank" }, h("div", null, "时间银行透支"),
      h("div", { class: "big" }, st.overdrawn),
      h("div", { class: "muted" }, st.overdrawn ? "个账户需管理员处理" : "没有透支")),
    // these two take longer to count: filled in once they come
    h("a", { class: "card link", href: "#/inbox" }, h("div", null, "待处理"),
      h("div", { class: "big", id: "inbox-items" }, homeCounts["inbox-items"]),
      h("div", { class: "muted" }, "件事要人来决定")),
    h("a", { class: "card link", href: "#/visits" }, h("div", null, "该走访了"),
      h("div", { class: "big", id: "due-visits" }, homeCounts["due-visits"]),
      h("div", { class: "muted" }, "户 90 天没走访")),
    h("a", { class: "card link", href: "#/sync" }, h("div", null, "同步"),
      h("div", { class: "sync" }, st.behind_changes ? t("还有 {n} 条记录没收到", { n: st.behind_changes })
        : "与已知的节点一致"),
      // this node's own changes that no peer is known to hold yet
      h("div", { class: "sync", id: "unsent", "data-unsent": st.unsent }, st.unsent
        ? t("还有 {n} 条修改没传给别的节点", { n: st.unsent }) : "都已传给别的节点"),
      h("div", { class: "muted" }, st.last_write ? t("最近一次写入 {when}", { when: localTime(st.last_write) }) : "还没有写入")));
  show(h("h1", null, "概况"),
    h("p", null, net ? t("本机：{node}，{role}，网络「{net}」，共 {n} 条记录", { node: dat(session.node.name),
      role: roleName(net.role), net: dat(net.name), n: st.records }) : "本机还没有加入网络"),
    st.warnings.map((w) => h("div", { class: "warn" }, w)),
    cards,
    h("h2", null, "常用"),
    h("div", { class: "row" },
      h("a", { class: "button", href: "#/residents/new" }, "登记新居民"),
      h("a", { class: "button", href: "#/appeals" }, "登记诉求"),
      h("a", { class: "button", href: "#/timebank" }, "记志愿工时")));
  const later = (id, p, count) => p.then((j) => {
    homeCounts[id] = count(j);
    const el = document.getElementById(id);
    if (el) el.textContent = homeCounts[id];
  }).catch(() => {});
  later("inbox-items", api("GET", "/api/inbox"), (j) => j.items.length);
  later("due-visits", api("GET", "/api/unvisited?days=90&limit=1"), (j) => j.total);
}

function roleName(role) {
  return tr({ admin: "管理员", office: "社区办公室", leader: "楼栋长", reader: "只读" }[role] || role);
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
    h("td", null, h("a", { href: "#/resident/" + r.id }, val(r, "name"))),
    h("td", null, shown(r, "gender")),
    h("td", { class: "num" }, a !== null ? t("{n} 岁", { n: a }) : ""),
    h("td", null, shown(r, "household") || place(r.fields.building, r.fields.unit, r.fields.room)),
    h("td", null, val(r, "phone")),
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
      "aria-current": x.fields.name === b ? "page" : null }, val(x, "name"))));
  if (b && !q) return pageBuilding(form, nav, bs.find((x) => x.fields.name === b), b, u);
  const path = "/api/records/resident?limit=100" + (q ? "&q=" + encodeURIComponent(q) : "");
  const res = await api("GET", path);
  show(h("h1", null, "居民"), form, nav,
    h("p", { id: "count" }, q ? t(res.total > res.items.length ? "「{q}」找到 {n} 位居民，显示前 {k} 位" : "「{q}」找到 {n} 位居民",
      { q: dat(q), n: res.total, k: res.items.length })
      : t(res.total > res.items.length ? "共 {n} 位居民，下面是前 {k} 位；请按楼栋看，或查找" : "共 {n} 位居民",
        { n: res.total, k: res.items.length })),
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
  show(h("h1", null, t("居民：{b}", { b: dat(b) })),
    form, nav,
    h("p", { id: "count" }, list([gridName(bld && bld.scope), f.leader ? t("楼栋长 {name}", { name: dat(f.leader) }) : "",
      f.phone ? t("电话 {phone}", { phone: dat(f.phone) }) : "", t("{n} 位居民", { n: res.total })], "，")),
    h("nav", { class: "units no-print", "aria-label": tr("单元") }, units.map((x) =>
      h("a", { class: "chip", href: "#/residents?b=" + encodeURIComponent(b) + "&u=" + encodeURIComponent(x),
        "aria-current": x === unit ? "page" : null }, x ? t("{u}单元", { u: dat(x) }) : tr("未写单元")))),
    h("h2", { class: "print-only" }, unit ? t("{b}{u}单元", { b: dat(b), u: dat(unit) }) : dat(b)),
    h("div", { class: "rooms" }, sorted.map(([room, people]) => h("section", { class: "room" },
      h("h3", null, room ? t("{r}室", { r: dat(room) }) : tr("未写房号")),
      h("ul", null, people.map((r) => {
        const a = age(r.fields.birth_year);
        return h("li", null, h("a", { href: "#/resident/" + r.id }, val(r, "name")),
          a !== null ? " " + t("{n}岁", { n: a }) : "", r.fields.tags && r.fields.tags.length ? h("span", { class: "tags" }, " ", shown(r, "tags")) : "",
          r.fields.phone ? h("div", { class: "muted" }, val(r, "phone")) : "");
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
      toast(r ? tr("已保存") : t("已登记 {name}", { name: dat(fields.name) }));
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
      h("datalist", { id: "building-list" }, bs.map((x) => h("option", { value: x.fields.name, class: "data" })))),
    h("div", null, h("label", { for: "unit" }, "单元"), input("unit", { value: f.unit || "", size: 4, inputmode: "numeric" })),
    h("div", null, h("label", { for: "room" }, "房号"), input("room", { value: f.room || "", size: 6 })),
    r ? null : h("div", null, h("label", { for: "scope" }, "所属网格"), scopeSelect("scope"))),
  tagChecks("resident", f.tags || []),
  h("div", { class: "row" }, h("div", { class: "grow" }, h("label", { for: "note" }, "备注"),
    input("note", { value: f.note || "", size: 50 }))),
  pick,
  h("div", { class: "row" }, h("button", { type: "submit" }, r ? "保存" : "登记"),
    h("a", { class: "button plain", href: r ? "#/resident/" + id : "#/residents" }, "取消")));
  show(h("h1", null, r ? t("修改居民信息：{name}", { name: dat(f.name) }) : "登记新居民"), form);
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
      k === "birth_year" ? t("{y}年（{n}岁）", { y: f[k], n: age(f[k]) })
        : ["phone", "building", "unit", "room", "note"].includes(k) ? val(r, k) : shown(r, k))));
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
  show(h("h1", null, val(r, "name"), r.deleted ? tr("（已迁出）") : ""),
    h("table", { class: "card-table" }, h("tbody", null, rows)),
    mates.length ? [h("h2", null, "同住的人"), h("ul", { class: "mates" }, mates.map((m) =>
      h("li", null, h("a", { href: "#/resident/" + m.id }, val(m, "name")),
        m.fields.birth_year ? " " + t("{n}岁", { n: age(m.fields.birth_year) }) : "", m.fields.tags && m.fields.tags.length ? [" ", shown(m, "tags")] : "")))]
      : f.building ? h("p", { class: "muted" }, "登记的同住人：没有") : null,
    h("p", { class: "muted" }, t("最近修改 {when}", { when: localTime(r.updated) })),
    h("div", { class: "row no-print" },
      h("a", { class: "button", href: "#/resident/" + id + "/edit" }, "修改"),
      r.deleted ? h("button", { class: "plain", on: { click: async () => {
        try { await api("POST", "/api/records/resident/" + id + "/restore"); toast(tr("已恢复")); route(); }
        catch (err) { toast(err.message, true); }
      } } }, "恢复（搬回来了）")
        : h("button", { class: "plain", on: { click: async () => {
          if (!confirm(t("确定 {name} 已迁出吗？记录会保留，可以恢复。", { name: f.name }))) return;
          try { await api("DELETE", "/api/records/resident/" + id); toast(tr("已登记迁出")); route(); }
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
  show(h("h1", null, t("诉求：{status}（{n} 件）", { status: s.label, n: first.total })),
    h("div", { class: "row no-print" }, h("a", { class: "button plain", href: "#/appeals" }, "回到看板"),
      p > 1 ? link(p - 1, "上一页") : null,
      h("span", { id: "page-of" }, t("第 {p} 页，共 {n} 页", { p, n: pages })),
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
    h("h2", null, t("{status}（{n}）", { status: s.label, n: res.total })),
    res.total > res.items.length ? h("p", { class: "muted" }, t("最近的 {k} 件，", { k: res.items.length }),
      h("a", { href: "#/appeals?status=" + s.code, class: "all" }, t("看全部 {n} 件", { n: res.total }))) : null,
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
    h("div", null, h("strong", null, label("appeal", "category", a.fields.category)), tr("："), val(a, "description")),
    h("div", { class: "muted" }, list([a.fields.resident ? shown(a, "resident") : "",
      a.fields.opened ? t("{date} 登记", { date: a.fields.opened }) : "",
      a.fields.assignee ? t("承办：{who}", { who: shown(a, "assignee") }) : "",
      a.fields.feedback ? t("评价：{fb}", { fb: label("appeal", "feedback", a.fields.feedback) }) : ""], "，")),
    h("div", { class: "actions no-print" }, verbs.map((v) => h("button", {
      class: "plain", type: "button", "data-verb": v.name, on: { click: () => doVerb(a, v, panel, doers) } }, verbName(v.name)))),
    panel);
}

// (a verb in English by its own table: "办结" is also the report's
// "resolved")
function verbName(v) {
  const words = lang === "en" ? { accept: "Accept", assign: "Assign", resolve: "Resolve", close: "Follow up and close",
    reopen: "Reopen", claim: "Claim", done: "Done" } : { accept: "受理", assign: "交办", resolve: "办结",
    close: "回访并关闭", reopen: "重新打开", claim: "认领", done: "完成" };
  return words[v] || codeWords(v);
}

// What a toast says after a verb: "已受理", "Accepted".
function verbDone(v) {
  return tr({ accept: "已受理", assign: "已交办", resolve: "已办结", close: "已回访并关闭", reopen: "已重新打开",
    claim: "已认领", done: "已完成" }[v] || "已保存");
}

async function sendVerb(a, v, body, panel) {
  try {
    await api("POST", "/api/records/appeal/" + a.id + "/verbs/" + v.name, body);
    panel.replaceChildren();
    toast(verbDone(v.name));
    route({ soft: true });
  } catch (err) { toast(err.message, true); }
}

// assign asks to whom (a list of names), close asks for the resident's
// feedback; the others are done at once.
function doVerb(a, v, panel, doers) {
  if (v.name === "assign") {
    fill(panel, h("label", { for: "to-" + a.id }, "交给哪个共建单位或志愿队？"),
      h("select", { id: "to-" + a.id, class: "assign-to" }, doers.map((d) =>
        h("option", { value: d.collection + "/" + d.id, class: "data" }, d.fields.name))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "confirm", on: { click: () =>
          sendVerb(a, v, { to: document.getElementById("to-" + a.id).value }, panel) } }, "确定交办"),
        h("button", { type: "button", class: "plain", on: { click: () => panel.replaceChildren() } }, "取消")));
    return;
  }
  if (v.name === "close") {
    const fb = field("appeal", "feedback");
    fill(panel, h("fieldset", { class: "checks" }, h("legend", null, "居民的评价"),
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
        toast(tr("已登记"));
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
        toast(t(kind === "spend" ? "已支取 {h} 小时" : "已存入 {h} 小时", { h: body.hours }));
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
        let bal = null;
        if (kind === "spend" && err.status === 422) {
          bal = await balanceOf(body.person);
          if (bal) msg.append(h("div", { class: "big-error" }, t("没有支取：{name} 现在只有 {bal} 小时，不够支取 {h} 小时。",
            { name: dat(bal.name), bal: bal.balance, h: body.hours })));
        }
        msg.append(h("div", { class: "reason" }, t(msg.childNodes.length ? "节点的说明：{why}" :
          kind === "spend" ? "没有支取：{why}" : "没有存入：{why}",
        { why: said(err.message, [body.person, bal && bal.name]) })));
        return;
      }
    }
  } } },
  h("div", { class: "row" },
    h("div", null, h("label", { for: "person" }, "志愿者或居民（姓名）"), input("person", { required: true, size: 10,
      on: { change: async (e) => {
        const el = document.getElementById("tb-balance");
        const bal = await balanceOf(e.target.value.trim());
        el.replaceChildren(...(bal ? t("{name} 现有 {bal} 小时", { name: dat(bal.name), bal: bal.balance }) : []));
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
  const rows = res.items.reverse().map((x) => h("tr", null,
    h("td", null, x.fields.date), h("td", null, x.fields.person && x.fields.person.$ref
      ? h("a", { href: "#/passbook/" + x.fields.person.$ref }, shown(x, "person")) : shown(x, "person")),
    h("td", null, label("timebank", "kind", x.fields.kind)),
    h("td", { class: "num" }, x.fields.hours), h("td", null, shown(x, "service")),
    h("td", null, val(x, "note"))));
  show(h("h1", null, "时间银行"), form, h("h2", null, t("最近的记录（共 {n} 条）", { n: first.total })),
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
  const rows = res.items.map((x) => {
    run += (x.fields.kind === "spend" ? -1 : 1) * cents(x.fields.hours);
    const sign = x.fields.kind === "spend" ? "−" : "+";
    return h("tr", null, h("td", null, x.fields.date), h("td", null, label("timebank", "kind", x.fields.kind)),
      h("td", { class: "num" }, sign + x.fields.hours), h("td", { class: "num" }, run / 100),
      h("td", null, shown(x, "service")), h("td", null, val(x, "note")));
  });
  show(h("h1", null, t("时间银行存折：{name}", { name: dat(bal.name) })),
    h("p", { id: "passbook-balance", class: bal.overdrawn ? "error" : "big-line" },
      t(bal.adjusts ? "现有 {bal} 小时（存入 {dep}，支取 {sp}，调整 {adj}）" : "现有 {bal} 小时（存入 {dep}，支取 {sp}）",
        { bal: bal.balance, dep: bal.deposits, sp: bal.spends, adj: bal.adjusts }),
      bal.overdrawn ? tr("，已透支，请管理员处理") : ""),
    first.total > res.items.length ? h("p", { class: "muted" }, t("下面是最近的 {k} 条，共 {n} 条", { k: res.items.length, n: first.total })) : null,
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

// The period of the report page, as the CLI's report takes it: year=2026,
// month=2026-11, or since and/or until (dates); the node checks them.
const PERIOD_KEYS = ["year", "month", "since", "until"];
function reportQuery(params) {
  const q = PERIOD_KEYS.filter((k) => params.get(k)).map((k) => k + "=" + encodeURIComponent(params.get(k)));
  return q.length ? "?" + q.join("&") : "";
}
function periodTitle(params) {
  const [y, m, since, until] = PERIOD_KEYS.map((k) => params.get(k) || "");
  if (y) return t("报表（{y} 年）", { y });
  if (m) return t("报表（{m}）", { m });
  if (since && until) return t("报表（{since} 至 {until}）", { since, until });
  if (since) return t("报表（{since} 以来）", { since });
  if (until) return t("报表（{until} 及以前）", { until });
  return t("报表（全部）");
}
function periodName(params) {
  const [y, m, since, until] = PERIOD_KEYS.map((k) => params.get(k) || "");
  return y || m || (since || until ? (since || "") + "~" + (until || "") : "");
}

// The period picker: a year, a month, or dates from and to, each with
// its own button (one choice, one click).
function periodPicker(params, year) {
  const go = (q) => { location.hash = "#/report" + (q ? "?" + q : ""); };
  const years = [];
  for (let y = year; y > year - 10; y--) years.push(y);
  return h("div", { class: "row no-print", id: "report-period" },
    h("form", { class: "row", id: "period-year", on: { submit: (e) => { e.preventDefault();
      go("year=" + e.target.elements["rp-year"].value); } } },
      h("div", null, h("label", { for: "rp-year" }, "哪一年"),
        h("select", { id: "rp-year", name: "rp-year" }, years.map((y) => h("option", { value: y, selected: String(y) === params.get("year") }, y)))),
      h("button", { type: "submit" }, "看这一年")),
    h("form", { class: "row", id: "period-month", on: { submit: (e) => { e.preventDefault();
      const m = e.target.elements["rp-month"].value;
      if (m) go("month=" + m); } } },
      h("div", null, h("label", { for: "rp-month" }, "哪个月"),
        h("input", { id: "rp-month", name: "rp-month", type: "month", required: true, value: params.get("month") || "" })),
      h("button", { type: "submit" }, "看这个月")),
    h("form", { class: "row", id: "period-dates", on: { submit: (e) => { e.preventDefault();
      const f = e.target.elements, q = [];
      if (f["rp-since"].value) q.push("since=" + f["rp-since"].value);
      if (f["rp-until"].value) q.push("until=" + f["rp-until"].value);
      go(q.join("&")); } } },
      h("div", null, h("label", { for: "rp-since" }, "从哪天"),
        h("input", { id: "rp-since", name: "rp-since", type: "date", value: params.get("since") || "" })),
      h("div", null, h("label", { for: "rp-until" }, "到哪天"),
        h("input", { id: "rp-until", name: "rp-until", type: "date", value: params.get("until") || "" })),
      h("button", { type: "submit" }, "看这段日期")));
}

async function pageReport(params) {
  const since = params.get("since") || "";
  const now = new Date();
  const year = now.getFullYear();
  const month = year + "-" + String(now.getMonth() + 1).padStart(2, "0") + "-01";
  const other = PERIOD_KEYS.some((k) => k !== "since" && params.get(k));
  let rep;
  try {
    rep = await api("GET", "/api/report" + reportQuery(params));
  } catch (err) {
    if (err.status !== 400) throw err;
    // a period the node refuses: say why, and offer the picker again
    show(h("h1", null, tr("报表")), periodPicker(params, year),
      h("p", { class: "error", role: "alert", id: "report-error" }, t("这段时间不行：{why}", { why: err.message })));
    return;
  }
  const tot = rep.total;
  const max = Math.max(1, ...rep.grids.map((g) => g.appeals.opened));
  show(h("h1", null, periodTitle(params)),
    h("div", { class: "row no-print" },
      h("a", { class: "button plain", href: "#/report", "aria-current": since || other ? null : "page" }, "全部"),
      h("a", { class: "button plain", href: "#/report?since=" + year + "-01-01",
        "aria-current": since === year + "-01-01" && !other ? "page" : null }, t("{y} 年以来", { y: year })),
      h("a", { class: "button plain", href: "#/report?since=" + month,
        "aria-current": since === month && !other ? "page" : null }, t("{m} 月以来", {
          m: lang === "en" ? now.toLocaleString("en-GB", { month: "long" }) : now.getMonth() + 1 })),
      h("button", { type: "button", on: { click: () => window.print() } }, "打印"),
      h("button", { type: "button", id: "export-csv", on: { click: () => exportCsv(rep, periodName(params)) } }, "导出表格（Excel 可打开）")),
    periodPicker(params, year),
    h("div", { class: "cards", id: "report-total" }, FIGURES.map(([k, name, get]) => h("div", { class: "card", "data-figure": k },
      h("div", null, name), h("div", { class: "big" }, get(tot))))),
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
function exportCsv(rep, period) {
  const cols = [["网格", (g) => g.grid === null ? tr("合计") : gridText(g.grid)], ["居民", (g) => g.residents],
    ["户", (g) => g.households], ["诉求", (g) => g.appeals.opened], ["办结", (g) => g.appeals.resolved],
    ["走访", (g) => g.visits], ["调解纠纷", (g) => g.disputes_mediated], ["发现隐患", (g) => g.hazards_found],
    ["议事会", (g) => g.meetings], ["完成共建事项", (g) => g.tasks_done], ["代办跑腿", (g) => g.errands_done],
    ["志愿工时", (g) => g.volunteer_hours]];
  const cell = (v) => { const t = String(v === null || v === undefined ? "" : v);
    return /[",\n]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t; };
  const lines = [cols.map((c) => cell(tr(c[0]))).join(",")]
    .concat(rep.grids.concat([rep.total]).map((g) => cols.map((c) => cell(c[1](g))).join(",")));
  const blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const a = h("a", { href: URL.createObjectURL(blob), download: (period ? t("报表-{period}", { period }) : tr("报表")) + ".csv" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}



// The fields of a collection this page does not ask for by itself, as a
// folded "more" part of its form, from the schema: a field the schema
// gains shows there without a change here. Names for references.
function extraFields(cname, handled) {
  const fs = coll(cname).fields.filter((f) => !handled.includes(f.name) && f.ref !== cname &&
    ["text", "texts", "int", "number", "date", "enum", "ref", "refs", "tags", "bool"].includes(f.type));
  if (!fs.length) return null;
  const id = (f) => "x-" + cname + "-" + f.name;
  return h("details", { class: "more", id: "more-" + cname }, h("summary", null, "更多（可不填）"),
    h("div", { class: "row" }, fs.map((f) => {
      const lab = f.type === "texts" || f.type === "refs" ? t("{label}（一行一个）", { label: f.label }) : f.label;
      let el;
      if (f.type === "enum") el = h("select", { id: id(f), name: id(f) }, h("option", { value: "" }, "（不填）"),
        f.values.map((v) => h("option", { value: v.code }, v.label)));
      else if (f.type === "tags") return h("fieldset", { class: "checks" }, h("legend", null, f.label),
        f.values.map((v) => h("label", null, h("input", { type: "checkbox", name: id(f), value: v.code }), v.label)));
      else if (f.type === "bool") return h("label", null, h("input", { type: "checkbox", id: id(f), name: id(f), value: "1" }), f.label);
      else if (f.type === "texts" || f.type === "refs") el = h("textarea", { id: id(f), name: id(f), rows: 2, cols: 22 });
      else el = input(id(f), { type: f.type === "date" ? "date" : "text", size: 12,
        inputmode: f.type === "int" || f.type === "number" ? "decimal" : null });
      return h("div", null, h("label", { for: id(f) }, lab), el);
    })));
}

// What the "more" part holds, added to fields.
function readExtra(fd, cname, handled, fields) {
  for (const f of coll(cname).fields) {
    if (handled.includes(f.name) || f.ref === cname) continue;
    const k = "x-" + cname + "-" + f.name;
    if (f.type === "tags") { const v = fd.getAll(k); if (v.length) fields[f.name] = v; continue; }
    if (f.type === "bool") { if (fd.get(k)) fields[f.name] = true; continue; }
    const v = (fd.get(k) || "").trim();
    if (!v) continue;
    fields[f.name] = f.type === "texts" || f.type === "refs" ? v.split("\n").map((x) => x.trim()).filter(Boolean) : v;
  }
  return fields;
}

// ---- 走访 ----

// A finding that becomes an appeal: its category.
const FINDING_CATEGORY = { hazard: "safety", dispute: "dispute", need: "other", health: "elderly-care" };

// The household's address as people say it: 5号楼2单元301 (as the node
// reads an address typed in: what is sent to it).
function address(bname, unit, room) {
  return (bname || "") + (unit ? unit + "单元" : "") + (room || "");
}

// The same on the page: the building's name and the room as data, the
// word for a stairwell in the page's language.
function place(bname, unit, room) {
  const b = dat(bname), r = dat(room);
  if (!unit) return [b, b && r ? " " : "", r];
  return t("{b}{u}单元{r}", { b, u: dat(unit), r });
}

const VISIT_ASKED = ["by", "date", "household", "resident", "notes", "findings", "followups"];

function visitForm(bs, preset) {
  const fv = field("visit", "findings");
  const by = localStorage.getItem("gs-visit-by") || "";
  const pick = h("div", { class: "pick" });
  const msg = h("p", { class: "error", role: "alert", id: "visit-error" });
  const form = h("form", { id: "visit-form", on: { submit: async (e) => {
    e.preventDefault();
    msg.textContent = "";
    const fd = new FormData(e.target);
    const fields = { by: fd.get("by").trim(), date: fd.get("date") || today() };
    localStorage.setItem("gs-visit-by", fields.by);
    const who = fd.get("who").trim();
    const where = fd.get("household-ref") || address(fd.get("vbuilding"), fd.get("vunit").trim(), fd.get("vroom").trim());
    if (who) fields.resident = who;
    else if (fd.get("vroom").trim() || fd.get("household-ref")) fields.household = where;
    else { msg.textContent = tr("请选一户（楼栋和房号），或写居民的姓名"); return; }
    const notes = fd.get("notes").trim();
    if (notes) fields.notes = notes;
    const found = fd.getAll("finding");
    if (found.length) fields.findings = found;
    const fu = fd.get("followups").split("\n").map((x) => x.trim()).filter(Boolean);
    if (fu.length) fields.followups = fu;
    readExtra(fd, "visit", VISIT_ASKED, fields);
    const appealsFor = fd.getAll("appeal-from").filter((x) => found.includes(x));
    for (;;) {
      try {
        const v = await api("POST", "/api/records/visit", { fields });
        let opened = 0;
        for (const f of appealsFor) {
          const af = { category: FINDING_CATEGORY[f] || "other",
            // stored in the schema's own words whatever the page's
            // language (what is stored is read by everyone; a page in
            // English shows it as written, like any description)
            description: schemaLabel("visit", "findings", f) + (notes ? "：" + notes : ""),
            source: "visit", visit: "visit/" + v.id, opened: fields.date, opened_by: fields.by };
          if (fields.household) af.household = fields.household;
          if (fields.resident) af.resident = fields.resident;
          await api("POST", "/api/records/appeal", { fields: af });
          opened++;
        }
        toast(opened ? t("已记下这次走访，并登记了 {n} 件诉求", { n: opened }) : tr("已记下这次走访"));
        e.target.reset();
        document.activeElement.blur();
        route();
        return;
      } catch (err) {
        if (err.status === 409 && err.body.error.candidates) {
          const ref = await pickCandidate(err, pick, err.body.error.field === "resident" ? "居民" : "");
          if (!ref) return;
          if (err.body.error.field === "household") fields.household = ref; else fields.resident = ref;
          continue;
        }
        msg.textContent = t("没有记下：{why}", { why: err.message });
        return;
      }
    }
  } } },
  h("input", { type: "hidden", name: "household-ref", id: "household-ref", value: preset ? preset.ref : "" }),
  h("div", { class: "row" },
    h("div", null, h("label", { for: "vbuilding" }, "楼栋"), h("select", { id: "vbuilding", name: "vbuilding" },
      bs.map((b) => h("option", { value: b.fields.name, class: "data", selected: preset && preset.building === b.fields.name }, b.fields.name)))),
    h("div", null, h("label", { for: "vunit" }, "单元"), input("vunit", { size: 3, inputmode: "numeric", value: preset ? preset.unit : "" })),
    h("div", null, h("label", { for: "vroom" }, "房号"), input("vroom", { size: 5, inputmode: "numeric", value: preset ? preset.room : "" })),
    h("div", null, h("label", { for: "who" }, "或者：居民姓名"), input("who", { size: 8 }))),
  preset ? h("p", { class: "ok", id: "visit-preset" }, t("走访：{where}", { where: dat(preset.address) })) : null,
  h("fieldset", { class: "checks" }, h("legend", null, fv.label),
    fv.values.map((v) => h("label", null, h("input", { type: "checkbox", name: "finding", value: v.code }), v.label))),
  h("fieldset", { class: "checks" }, h("legend", null, "从发现直接登记诉求（与这次走访关联）"),
    fv.values.filter((v) => FINDING_CATEGORY[v.code]).map((v) => h("label", null,
      h("input", { type: "checkbox", name: "appeal-from", value: v.code }), t("「{finding}」登记为诉求", { finding: v.label })))),
  h("div", { class: "row" },
    h("div", null, h("label", { for: "notes" }, fieldLabel("visit", "notes")), h("textarea", { id: "notes", name: "notes", rows: 2, cols: 36 })),
    h("div", null, h("label", { for: "followups" }, t("{label}（一行一件）", { label: fieldLabel("visit", "followups") })),
      h("textarea", { id: "followups", name: "followups", rows: 2, cols: 28 }))),
  h("div", { class: "row" },
    h("div", null, h("label", { for: "by" }, "走访人"), input("by", { size: 8, required: true, value: by })),
    h("div", null, h("label", { for: "vdate" }, "日期"), input("vdate", { name: "date", type: "date", value: today() }))),
  extraFields("visit", VISIT_ASKED),
  pick, msg,
  h("div", null, h("button", { type: "submit" }, "记下这次走访")));
  return form;
}

async function pageVisits(params) {
  const days = Number(params.get("days") || 90);
  const b = params.get("b") || "";
  const bs = await buildings();
  const preset = params.get("h") ? { ref: "household/" + params.get("h"), address: params.get("a") || "",
    building: params.get("pb") || "", unit: params.get("pu") || "", room: params.get("pr") || "" } : null;
  const un = await api("GET", "/api/unvisited?days=" + days + "&limit=200" + (b ? "&building=" + encodeURIComponent(b) : ""));
  const recent = await api("GET", "/api/records/visit?limit=1");
  const last = recent.total ? await api("GET", "/api/records/visit?limit=8&offset=" + Math.max(0, recent.total - 8)) : { items: [] };
  const choose = h("form", { class: "row no-print", id: "unvisited-form", on: { submit: (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    location.hash = "#/visits?days=" + fd.get("days") + (fd.get("ub") ? "&b=" + encodeURIComponent(fd.get("ub")) : "");
  } } },
    h("div", null, h("label", { for: "days" }, "多少天没走访"), h("select", { id: "days", name: "days" },
      [30, 60, 90, 180, 365].map((d) => h("option", { value: d, selected: d === days }, t("{n} 天", { n: d }))))),
    h("div", null, h("label", { for: "ub" }, "看哪个楼栋"), h("select", { id: "ub", name: "ub" }, h("option", { value: "" }, "全部楼栋"),
      bs.map((x) => h("option", { value: x.fields.name, class: "data", selected: x.fields.name === b }, x.fields.name)))),
    h("div", null, h("button", { type: "submit" }, "看看")),
    h("div", null, h("a", { class: "button plain", id: "sheet-link",
      href: "#/visits/sheet?days=" + days + (b ? "&b=" + encodeURIComponent(b) : "") }, "打印敲门单")));
  const rows = un.items.map((x) => h("tr", null, h("td", null, dat(x.address)),
    h("td", null, x.last || tr("从没走访过")), h("td", { class: "num" }, x.days < 0 ? "" : t("{n} 天", { n: x.days })),
    h("td", { class: "no-print" }, h("a", { class: "button plain small", href: "#/visits?h=" + x.id + "&a=" + encodeURIComponent(x.address) +
      "&days=" + days + (b ? "&b=" + encodeURIComponent(b) : "") }, "走访这一户"))));
  show(h("h1", null, "走访"),
    h("section", { class: "box" }, h("h2", null, "记一次走访"), visitForm(bs, preset)),
    h("h2", null, "最近的走访"),
    wide(h("table", { id: "visits-recent" }, h("thead", null, h("tr", null, ["日期", "哪一户", "走访人", "发现", "备注"].map((x) => h("th", null, x)))),
      h("tbody", null, last.items.slice().reverse().map((v) => h("tr", null, h("td", null, v.fields.date),
        h("td", null, shown(v, "household") || shown(v, "resident")), h("td", null, val(v, "by")),
        h("td", null, shown(v, "findings")), h("td", null, val(v, "notes"))))))),
    h("h2", { id: "unvisited-title" }, t("{where}：{days} 天没走访的有 {n} 户", { where: b ? dat(b) : tr("全部楼栋"), days, n: un.total })),
    choose,
    b ? null : h("nav", { class: "buildings no-print", id: "unvisited-buildings", "aria-label": "各楼栋没走访的户数" },
      un.buildings.map((x) => h("a", { class: "chip", "data-building": x.building,
        href: "#/visits?days=" + days + "&b=" + encodeURIComponent(x.building) }, t("{b}（{n} 户）", { b: dat(x.building), n: x.households })))),
    un.total > un.items.length ? h("p", { class: "muted" }, t("下面是前 {k} 户；选一个楼栋看全部", { k: un.items.length })) : null,
    wide(h("table", { id: "unvisited" }, h("thead", null, h("tr", null, ["住户", "上次走访", "隔了", ""].map((x) => h("th", null, x)))),
      h("tbody", null, rows))));
}

// A door-knock sheet: the households to knock at, with boxes to tick on
// paper (A4).
async function pageVisitSheet(params) {
  const days = Number(params.get("days") || 90);
  const b = params.get("b") || "";
  const un = await api("GET", "/api/unvisited?days=" + days + "&limit=1000" + (b ? "&building=" + encodeURIComponent(b) : ""));
  const fv = field("visit", "findings").values.filter((v) => v.code !== "none");
  show(h("div", { class: "sheet" },
    h("h1", null, t("敲门走访单：{where}", { where: b ? dat(b) : tr("全部楼栋") })),
    h("p", null, t(un.total > un.items.length ? "{days} 天内没走访的 {n} 户（本单列前 {k} 户），打印日期 {date}。走访人：＿＿＿＿＿＿"
      : "{days} 天内没走访的 {n} 户，打印日期 {date}。走访人：＿＿＿＿＿＿", { days, n: un.total, k: un.items.length, date: today() })),
    // one column of the findings to circle, however many the schema has
    wide(h("table", { id: "sheet" }, h("thead", null, h("tr", null, ["住户", "上次走访", "在家", "发现（有就圈出来）", "备注"].map((x) => h("th", null, x)))),
      h("tbody", null, un.items.map((x) => h("tr", null, h("td", null, dat(x.address)), h("td", null, x.last || tr("从没")),
        h("td", { class: "box-cell" }, "☐"), h("td", { class: "finds" }, fv.map((v) => v.label).join(" ")),
        h("td", { class: "blank" }, ""))))))),
  h("div", { class: "row no-print" }, h("button", { type: "button", on: { click: () => window.print() } }, "打印"),
    h("a", { class: "button plain", href: "#/visits?days=" + days + (b ? "&b=" + encodeURIComponent(b) : "") }, "回到走访")));
}

// ---- 议事会与共建清单 ----

const MEETING_ASKED = ["kind", "title", "date", "place", "participants", "topics", "decisions"];

async function pageMeetings() {
  const [ms, ts, d] = await Promise.all([api("GET", "/api/records/meeting?limit=1"), api("GET", "/api/records/task?limit=1"), doers()]);
  const meetings = ms.total ? await api("GET", "/api/records/meeting?limit=10&offset=" + Math.max(0, ms.total - 10)) : { items: [] };
  const tasks = ts.total ? await api("GET", "/api/records/task?limit=30&offset=" + Math.max(0, ts.total - 30)) : { items: [] };
  const c = coll("task");
  const msg = h("p", { class: "error", role: "alert", id: "meeting-error" });
  const lines = (t) => (t || "").split("\n").map((x) => x.trim()).filter(Boolean);
  const form = h("form", { id: "meeting-form", on: { submit: async (e) => {
    e.preventDefault();
    msg.textContent = "";
    const fd = new FormData(e.target);
    const fields = { kind: fd.get("mkind"), date: fd.get("mdate") || today() };
    if (fd.get("title").trim()) fields.title = fd.get("title").trim();
    if (fd.get("place").trim()) fields.place = fd.get("place").trim();
    for (const k of ["participants", "topics", "decisions"]) { const l = lines(fd.get(k)); if (l.length) fields[k] = l; }
    readExtra(fd, "meeting", MEETING_ASKED, fields);
    const body = { fields };
    if (fd.get("scope")) body.scope = fd.get("scope");
    try {
      const m = await api("POST", "/api/records/meeting", body);
      const items = lines(fd.get("tasks"));
      for (const what of items) {
        const tb = { fields: { what, meeting: "meeting/" + m.id } };
        tb.scope = m.scope;
        await api("POST", "/api/records/task", tb);
      }
      toast(items.length ? t("已记下议事会和 {n} 件共建事项", { n: items.length }) : tr("已记下议事会"));
      e.target.reset();
      e.target.closest("details").open = false;
      document.activeElement.blur();
      route();
    } catch (err) { msg.textContent = t("没有记下：{why}", { why: err.message }); }
  } } },
  h("div", { class: "row" },
    h("div", null, h("label", { for: "mkind" }, fieldLabel("meeting", "kind")), select("mkind", "meeting", "kind")),
    h("div", null, h("label", { for: "title" }, "会议名称"), input("title", { size: 18 })),
    h("div", null, h("label", { for: "mdate" }, fieldLabel("meeting", "date")), input("mdate", { type: "date", value: today() })),
    h("div", null, h("label", { for: "place" }, fieldLabel("meeting", "place")), input("place", { size: 10 })),
    h("div", null, h("label", { for: "scope" }, "所属网格"), scopeSelect("scope"))),
  h("div", { class: "row" },
    h("div", null, h("label", { for: "participants" }, t("{label}（一行一位或一方）", { label: fieldLabel("meeting", "participants") })),
      h("textarea", { id: "participants", name: "participants", rows: 4, cols: 22 })),
    h("div", null, h("label", { for: "topics" }, t("{label}（一行一个）", { label: fieldLabel("meeting", "topics") })),
      h("textarea", { id: "topics", name: "topics", rows: 4, cols: 22 })),
    h("div", null, h("label", { for: "decisions" }, t("{label}（一行一条）", { label: fieldLabel("meeting", "decisions") })),
      h("textarea", { id: "decisions", name: "decisions", rows: 4, cols: 22 }))),
  extraFields("meeting", MEETING_ASKED),
  h("label", { for: "tasks" }, "共建清单：要做的事（一行一件，之后由单位认领）"),
  h("textarea", { id: "tasks", name: "tasks", rows: 3, cols: 50 }),
  msg, h("div", null, h("button", { type: "submit" }, "记下议事会")));
  const taskRow = (x) => {
    const allowed = c.moves.filter((m) => m.from === x.fields.status).map((m) => m.to);
    const verbs = c.verbs.filter((v) => allowed.includes(v.to));
    const panel = h("div", { class: "panel" });
    return h("div", { class: "item", "data-id": x.id, "data-status": x.fields.status },
      h("div", null, h("strong", null, label("task", "status", x.fields.status)), tr("："), val(x, "what")),
      h("div", { class: "muted" }, list([x.fields.meeting ? t("来自{meeting}", { meeting: shown(x, "meeting") || tr("议事会") }) : "",
        x.fields.claimants && x.fields.claimants.length ? t("认领：{who}", { who: shown(x, "claimants") })
          : x.fields.unit ? t("认领：{who}", { who: shown(x, "unit") }) : "",
        x.fields.done ? t("{date} 完成", { date: x.fields.done }) : ""], "，")),
      h("div", { class: "actions no-print" }, verbs.map((v) => h("button", { class: "plain", type: "button", "data-verb": v.name,
        on: { click: () => taskVerb(x, v, panel, d) } }, verbName(v.name)))), panel);
  };
  const meetRow = (m) => h("section", { class: "item meeting", "data-id": m.id },
    h("h3", null, m.fields.title ? t("{date} {kind}：{title}", { date: m.fields.date, kind: label("meeting", "kind", m.fields.kind), title: val(m, "title") })
      : t("{date} {kind}", { date: m.fields.date, kind: label("meeting", "kind", m.fields.kind) })),
    m.fields.participants ? h("div", null, t("参加：{who}", { who: list(m.fields.participants.map(dat)) })) : null,
    m.fields.topics ? h("div", null, t("议题：{what}", { what: list(m.fields.topics.map(dat), "；") })) : null,
    m.fields.decisions ? h("div", { class: "decisions" }, t("决定：{what}", { what: list(m.fields.decisions.map(dat), "；") })) : null);
  const statuses = field("task", "status").values;
  show(h("h1", null, "议事会与共建清单"),
    h("details", { class: "no-print", id: "new-meeting" }, h("summary", null, "记一次议事会"), form),
    h("h2", null, t("共建清单（最近 {k} 件，共 {n} 件）", { k: tasks.items.length, n: ts.total })),
    h("div", { class: "board tasks" }, statuses.map((s) => h("section", { class: "column", "data-status": s.code },
      h("h3", null, s.label), tasks.items.filter((t) => t.fields.status === s.code).reverse().map(taskRow)))),
    h("h2", null, t("最近的议事会（共 {n} 次）", { n: ms.total })),
    h("div", { id: "meetings" }, meetings.items.slice().reverse().map(meetRow)));
}

function taskVerb(x, v, panel, doers) {
  const send = async (body) => {
    try {
      await api("POST", "/api/records/task/" + x.id + "/verbs/" + v.name, body);
      panel.replaceChildren();
      toast(verbDone(v.name));
      route({ soft: true });
    } catch (err) { toast(err.message, true); }
  };
  if (v.name === "claim") {
    fill(panel, h("label", { for: "claim-" + x.id }, "哪个单位认领？"),
      h("select", { id: "claim-" + x.id, class: "claim-by" }, doers.map((y) =>
        h("option", { value: y.collection + "/" + y.id, class: "data" }, y.fields.name))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "confirm", on: { click: () =>
          send({ to: document.getElementById("claim-" + x.id).value }) } }, "确定认领"),
        h("button", { type: "button", class: "plain", on: { click: () => panel.replaceChildren() } }, "取消")));
    return;
  }
  send({});
}

// ---- 同步与成员 ----

const ROLE_NAMES = { admin: "管理员", office: "社区办公室", leader: "楼栋长", reader: "只读" };
const JOIN_REFUSED = {
  GS_EEXIST: "本机已经加入了一个网络（或者已经用过这个邀请码）。",
  GS_ETIMEOUT: "这个邀请码已经过期了，请管理员重新发一个。",
  GS_ESIG: "这个邀请码被改动过或是伪造的，不能用。",
  GS_EDECODE: "这不是有效的邀请码，可能抄错了，请再对一遍。",
  GS_EINVAL: "请把邀请码粘贴进来。",
};

// The last outcome in plain words: the node's sentence for what went
// wrong (in the page's language: the API translates it), the node's own
// words under it for whoever helps.
function peerOutcome(p) {
  if (!p.kind || p.kind === "ok") return p.last_ok ? tr("同步成功") : "";
  return [h("div", { class: "peer-why" }, p.outcome || ""),
    p.note ? h("details", null, h("summary", null, "节点的原话（英文）"), h("p", { class: "muted", lang: "en" }, dat(p.note))) : null];
}

function peerState(p) {
  if (p.reachable) return tr("现在连着");
  if (p.last_ok) return p.failures ? t("上次同步 {when}，之后连不上 {n} 次", { when: localTime(p.last_ok), n: p.failures })
    : t("上次同步 {when}", { when: localTime(p.last_ok) });
  return p.last_try ? t("还没连上过（试过 {when}）", { when: localTime(p.last_try) }) : tr("还没试过");
}

// A member named in words, never by its key: who its invite was for
// ("王阿姨, 3号楼", set in the invite form), this node's own name, else
// its role and grid (the node's label: the CLI's `members` says the same).
function memberWho(m) {
  if (m.name) return dat(m.name);
  const role = roleName(m.role || (m.admin ? "admin" : ""));
  return m.grid ? t("{role}（{grid}）", { role, grid: dat(m.grid) }) : role;
}
function memberName(m, peers) {
  const seen = peers.find((p) => p.key === m.key);
  return [h("span", { class: "member-who" }, memberWho(m)), m.self ? tr("，就是本机") : "",
    seen ? t("，在 {addr}", { addr: seen.addr }) : ""];
}

// What the last action on the sync page said: kept while the page is
// drawn again (a change that the action itself made redraws it).
const syncNotes = { sync: "", join: "", joinClass: "", bundle: "" };

async function pageSync() {
  if (!session || !session.network) session = await getSession(); // a join changes it
  const [st, peers, mem] = await Promise.all([api("GET", "/api/status"), api("GET", "/api/peers"), api("GET", "/api/members")]);
  const net = session.network;
  const out = h("div", { id: "sync-result", role: "status", "aria-live": "polite" }, syncNotes.sync);
  // a panel: while the code is shown, a change does not draw the page again
  const invOut = h("div", { id: "invite-out", class: "panel" });
  const joinMsg = h("p", { id: "join-result", role: "alert", class: syncNotes.joinClass }, syncNotes.join);
  // the last notes are drawn in the language they were made in
  for (const k of ["sync", "join", "bundle"]) if (Array.isArray(syncNotes[k])) syncNotes[k] = syncNotes[k].map((x) => x instanceof Node ? x.cloneNode(true) : x);
  const bundleMsg = h("p", { id: "bundle-result", role: "status" }, syncNotes.bundle);
  // text: a string or what t() made
  const note = (el, key, text, cls) => {
    syncNotes[key] = text;
    el.replaceChildren(...[].concat(text));
    if (cls !== undefined) { syncNotes.joinClass = cls; el.className = cls; }
  };
  const syncNow = async () => {
    note(out, "sync", tr("正在同步……"));
    try {
      const r = await api("POST", "/api/sync", {});
      note(out, "sync", peers.items.length ? t("已开始和 {n} 个节点同步，结果会显示在下面", { n: r.started + r.connected })
        : tr("还不知道别的节点：先把办公室的地址加进来（gridsync serve --peer 地址）"));
      setTimeout(() => route({ soft: true }), 1500);
    } catch (err) { note(out, "sync", t("没能同步：{why}", { why: err.message })); }
  };
  const grid = writableGrids();
  const invite = h("form", { id: "invite-form", on: { submit: async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    try {
      const r = await api("POST", "/api/invite", { role: fd.get("irole"), scope: fd.get("iscope"), days: Number(fd.get("idays")),
        for: fd.get("ifor").trim() });
      const code = h("textarea", { id: "invite-code", readonly: true, rows: 3, cols: 44 });
      code.value = r.code;
      fill(invOut, 
        h("p", null, r.for ? t("这是给「{who}」的邀请码。请本人用手机扫码，或把下面的文字一字不差地输入。只给本人看，不要发到群里。有效到 {when}。",
          { who: dat(r.for), when: localTime(r.expires) })
          : t("请新楼栋长用手机扫码，或把下面的文字一字不差地输入。只给本人看，不要发到群里。有效到 {when}。", { when: localTime(r.expires) })),
        h("img", { id: "invite-qr", alt: "邀请码的二维码", src: "data:image/svg+xml;base64," + btoa(r.svg), width: 300, height: 300 }),
        code,
        h("div", null, h("button", { type: "button", id: "copy-invite", class: "plain", on: { click: async () => {
          try { await navigator.clipboard.writeText(r.code); toast(tr("已复制邀请码")); }
          catch (err) { code.select(); toast(tr("请按 Ctrl+C 复制"), true); }
        } } }, "复制邀请码")));
    } catch (err) { fill(invOut, h("p", { class: "error" }, t("没有生成邀请码：{why}", { why: err.message }))); }
  } } },
  h("div", { class: "row" },
    h("div", null, h("label", { for: "ifor" }, "给谁（姓名、楼栋）"),
      input("ifor", { size: 14, maxlength: 20, autocomplete: "off", placeholder: "如：王阿姨，3号楼" })),
    h("div", null, h("label", { for: "irole" }, "角色"), h("select", { id: "irole", name: "irole" },
      ["leader", "office", "reader", "admin"].map((r) => h("option", { value: r }, roleName(r))))),
    h("div", null, h("label", { for: "iscope" }, "负责的网格"), grid.length ? h("select", { id: "iscope", name: "iscope" },
      grid.map(([s, n]) => h("option", { value: s, class: "data" }, n))) : h("p", { class: "warn" }, "没有网格")),
    h("div", null, h("label", { for: "idays" }, "几天内有效"), h("select", { id: "idays", name: "idays" },
      [1, 3, 7, 30].map((d) => h("option", { value: d, selected: d === 7 }, t("{n} 天", { n: d }))))),
    h("div", null, h("button", { type: "submit" }, "生成邀请码"))), invOut);
  const join = h("form", { id: "join-form", on: { submit: async (e) => {
    e.preventDefault();
    const code = new FormData(e.target).get("jcode").trim();
    note(joinMsg, "join", "", "");
    try {
      const r = await api("POST", "/api/join", { code });
      note(joinMsg, "join", t("已加入网络「{net}」，角色：{role}", { net: dat(r.network), role: roleName(r.role) }), "ok");
      session = null;
      route({ soft: true });
    } catch (err) {
      const c = err.body && err.body.error && err.body.error.code;
      note(joinMsg, "join", t("没有加入：{why}", { why: JOIN_REFUSED[c] ? tr(JOIN_REFUSED[c]) : err.message }), "error");
    }
  } } },
  h("label", { for: "jcode" }, "把管理员给的邀请码粘贴到这里"),
  h("textarea", { id: "jcode", name: "jcode", rows: 3, cols: 44, required: true }),
  h("div", null, h("button", { type: "submit" }, "加入")), joinMsg);
  const upload = h("form", { id: "bundle-form", on: { submit: async (e) => {
    e.preventDefault();
    const f = document.getElementById("bundle-file").files[0];
    if (!f) return;
    if (f.size > 64 * 1024 * 1024) { note(bundleMsg, "bundle", tr("文件太大（最多 64 MB），请用命令行 gridsync import")); return; }
    note(bundleMsg, "bundle", tr("正在导入……"));
    try {
      if (!session) session = await getSession();
      const r = await fetch("/api/bundle", { method: "POST", headers: { "X-GS-Lang": lang, "X-CSRF-Token": session.csrf,
        "Content-Type": "application/octet-stream" }, body: f });
      const j = await r.json().catch(() => null);
      if (!r.ok) throw new ApiError(r.status, j);
      note(bundleMsg, "bundle", [t("已导入：新收到 {n} 条，已有 {d} 条", { n: j.applied, d: j.duplicates }),
        j.refused ? t("，拒收 {n} 条", { n: j.refused }) : "", j.held ? t("，暂存 {n} 条", { n: j.held }) : ""].join(""));
      route({ soft: true });
    } catch (err) { note(bundleMsg, "bundle", t("没有导入：{why}", { why: err.message })); }
  } } },
  // the browser's own file button speaks the browser's language ("Choose
  // File"): a label of ours, styled as a button, opens the file chooser of
  // an input kept out of sight but reachable by the keyboard (Tab, then
  // Space); the file chosen is named beside it
  h("p", { class: "file-title" }, "从 U 盘导入同步包"),
  h("div", { class: "row file-pick" },
    h("input", { type: "file", id: "bundle-file", name: "bundle-file", class: "visually-hidden",
      "aria-describedby": "bundle-file-name", on: { change: (e) => {
        const f = e.target.files[0];
        fill(document.getElementById("bundle-file-name"), f ? dat(f.name) : tr("还没有选文件"));
      } } }),
    h("label", { for: "bundle-file", class: "button plain file-button", id: "bundle-file-label" }, "选一个同步包文件……"),
    h("span", { id: "bundle-file-name", class: "file-name", "aria-live": "polite" }, "还没有选文件")),
  h("div", null, h("button", { type: "submit" }, "导入")));
  const memberRows = mem.items.map((m) => h("tr", { "data-key-short": m.key.slice(0, 8) },
    h("td", { class: "member" }, memberName(m, peers.items)),
    h("td", null, tr(m.revoked ? "已停用" : { valid: "正常", unconfirmed: "待办公室确认", unwitnessed: "待办公室确认",
      leaked: "邀请码被用了两次", void: "无效" }[m.state] || m.state)),
    h("td", { class: "no-print" }, mem.root_admin && !m.self && !m.revoked && !m.admin ? h("button", { type: "button", class: "plain danger",
      on: { click: async () => {
        if (!confirm(t("确定停用「{who}」吗？它以后写的记录都不再被接受。", { who: m.label || roleName(m.role) }))) return;
        try { await api("POST", "/api/revoke", { key: m.key }); toast(tr("已停用")); route(); }
        catch (err) { toast(err.message, true); }
      } } }, "停用（电脑丢了）") : "")));
  show(h("h1", null, "同步与成员"),
    h("p", null, net ? t("本机「{node}」是网络「{net}」的{role}", { node: dat(session.node.name), net: dat(net.name), role: roleName(net.role) })
      : "本机还没有加入网络"),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", null, "知道的节点"), h("div", { class: "big", id: "peers-known" }, peers.items.length)),
      h("div", { class: "card" }, h("div", null, "现在连着"), h("div", { class: "big", id: "peers-reachable" },
        peers.items.filter((p) => p.reachable).length)),
      h("div", { class: "card" }, h("div", null, "还没收到的记录"), h("div", { class: "big" }, st.behind_changes),
        h("div", { class: "muted" }, st.behind_changes ? "别的节点有，本机还没有" : "已经一致"))),
    h("div", { class: "row" }, h("button", { type: "button", id: "sync-now", on: { click: syncNow } }, "现在同步"), out),
    peers.items.length ? wide(h("table", { id: "peers" }, h("thead", null, h("tr", null, ["节点", "节点地址", "情况", "上次的结果"].map((x) => h("th", null, x)))),
      h("tbody", null, peers.items.map((p) => h("tr", null, h("td", { class: "peer-name" }, p.name ? dat(p.name) : tr("还不知道是谁")),
        h("td", null, p.addr), h("td", null, peerState(p)),
        h("td", { class: "peer-outcome" }, peerOutcome(p))))))) : h("p", { class: "muted" }, "还不知道别的节点。"),
    h("h2", null, "邀请新的楼栋长"), mem.root_admin ? invite : h("p", { class: "muted" }, "只有建立网络的管理员电脑能发邀请码。"),
    h("h2", null, "加入网络"), net ? h("p", { class: "muted" }, t("本机已经在网络「{net}」里；管理员换了网络密钥时，把新的邀请码粘贴到这里。", { net: dat(net.name) })) : null, join,
    h("h2", null, "U 盘同步包"),
    h("div", { class: "row" }, h("a", { class: "button", id: "bundle-download", href: "/api/bundle", download: "" }, "导出同步包（下载）")),
    upload, bundleMsg,
    h("h2", null, "成员"),
    mem.items.length ? wide(h("table", { id: "members" }, h("thead", null, h("tr", null, ["成员", "状态", ""].map((x) => h("th", null, x)))),
      h("tbody", null, memberRows))) : h("p", { class: "muted" }, "还没有别的成员。"));
}

// ---- 待处理 ----

const INBOX_KIND = { status_race: "诉求状态被两台电脑同时改了", overdrawn: "时间银行透支",
  invite_twice: "一个邀请码被用了两次", bad_feed: "有节点的记录出了问题", held: "有记录暂时没有采用", clock: "电脑时间不对" };
const INBOX_DO = {
  invite_twice: "请管理员在命令行用 gridsync readmit 保留真正的那台电脑，另一台停用。",
  bad_feed: "请管理员查看：如果那台电脑丢了或被复制，到「同步与成员」停用它。",
  held: "等办公室确认这台电脑的成员身份后会自动采用；不用手动处理。",
  clock: "请把电脑的日期和时间调准（设置 → 日期和时间），再同步。",
};

async function pageInbox() {
  const box = await api("GET", "/api/inbox");
  const c = coll("appeal");
  const d = await doers();
  const items = await Promise.all(box.items.map(async (it) => {
    const ref = it.refs && it.refs[0];
    const head = h("h3", null, tr(INBOX_KIND[it.kind] || it.kind));
    if (it.kind === "status_race" && ref) {
      const a = await api("GET", "/api/records/appeal/" + ref.id).catch(() => null);
      if (a) return h("section", { class: "item inbox", "data-kind": it.kind }, head,
        h("p", null, t("诉求「{what}」在两台电脑上几乎同时被改了状态，现在显示「{status}」。请确认它实际上到了哪一步，再点一下正确的操作：",
          { what: dat(ref.name || a.fields.description), status: label("appeal", "status", a.fields.status) })),
        appealItem(c, a, d));
    }
    if (it.kind === "overdrawn" && ref) {
      const bal = await api("GET", "/api/timebank/balance?person=" + encodeURIComponent(ref.collection + "/" + ref.id)).catch(() => null);
      if (bal) return h("section", { class: "item inbox", "data-kind": it.kind }, head,
        h("p", null, t("{name} 的账户现在是 {bal} 小时：两台电脑同时支取，取多了。", { name: dat(bal.name), bal: bal.balance })),
        session.network && session.network.role === "admin" ? h("button", { type: "button", class: "settle", on: { click: async () => {
          try { await api("POST", "/api/timebank/adjust", { person: ref.collection + "/" + ref.id, hours: String(-bal.balance),
            fields: { note: tr("透支调整（待处理）") } }); toast(tr("已调整")); route(); }
          catch (err) { toast(err.message, true); } } } }, t("补上 {h} 小时，把账户调到 0", { h: -bal.balance }))
          : h("p", null, "请管理员在「待处理」里调整。"));
    }
    return h("section", { class: "item inbox", "data-kind": it.kind }, head,
      h("p", null, tr(INBOX_DO[it.kind] || "请管理员处理。")),
      h("details", null, h("summary", null, "节点的原话（英文）"), h("p", { class: "muted", lang: "en" }, it.what.replace(/[0-9A-Z]{26,}/g, "…"))));
  }));
  show(h("h1", null, "待处理"),
    h("p", { id: "inbox-count" }, items.length ? t("有 {n} 件事要人来决定", { n: items.length }) : "没有要处理的事。"), items);
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
  [/^#\/visits(\?.*)?$/, "visits", (m) => pageVisits(new URLSearchParams((m[1] || "").slice(1)))],
  [/^#\/visits\/sheet(\?.*)?$/, "visits", (m) => pageVisitSheet(new URLSearchParams((m[1] || "").slice(1)))],
  [/^#\/meetings$/, "meetings", () => pageMeetings()],
  [/^#\/sync$/, "sync", () => pageSync()],
  [/^#\/inbox$/, "inbox", () => pageInbox()],
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
  if (writes > 0) { drawLater = true; return true; }
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
    el.textContent = tr("● 已连接本机节点");
    el.dataset.live = "1";
    if (document.getElementById("main").dataset.drawn !== undefined) refresh();
  });
  ev.addEventListener("error", () => {
    el.textContent = tr("○ 与本机节点的连接断了，正在重连");
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
  // the schema's own labels, in English when chosen
  if (lang === "en") {
    document.documentElement.lang = "en";
    document.title = "gridsync";
    document.querySelector(".brand-name").textContent = "gridsync";
    for (const c of schema.collections) {
      c.label = codeWords(c.name);
      for (const f of c.fields) { f.label = codeWords(f.name); for (const v of f.values) { v.own = v.label; v.label = codeWords(v.code); } }
    }
  }
  // the other language, named in itself (marked lang: its own words)
  document.querySelector(".top").append(h("button", { type: "button", class: "lang plain", id: "lang",
    lang: lang === "en" ? "zh-CN" : "en", on: { click: () => setLang(lang === "en" ? "zh" : "en") } },
    lang === "en" ? "中文" : "English"));
  translate(document.querySelector(".tabs"));
  translate(document.querySelector(".top"));
  window.addEventListener("hashchange", route);
  live();
  await route();
}

start();
