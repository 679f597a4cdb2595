//+------------------------------------------------------------------+
//| MtponteFollower.mq5 — the thin MQL5 copy follower of mtponte.    |
//|                                                                  |
//| The MQL5 twin of src/mtponte/copy/follower (follower.py and      |
//| _plan.py): it long-polls its target book from the copy server    |
//| (WebRequest, its follow token), makes the account hold exactly   |
//| the targets with the same tags and rules as the Python follower, |
//| reports every execution and heartbeats the account facts.        |
//| Pending targets (copy_pending) become pending orders of ours on   |
//| hedging and netting accounts, as the Python follower places them |
//| (tag mtp:<target id>, magic, expiry; replaced by cancel + place;  |
//| own fills found by tag, position ticket or DEAL_ORDER).           |
//| It never decides what to copy (the server's engine does) and it  |
//| never flattens because the network failed.                       |
//|                                                                  |
//| Install: Tools -> Options -> Expert Advisors -> "Allow WebRequest|
//| for listed URL" -> add ServerUrl (docs/follower.md).             |
//+------------------------------------------------------------------+
#property copyright "mtponte"
#property version   "1.00"
#property strict

#include <Mtponte\JsonTree.mqh>

input string ServerUrl          = "http://127.0.0.1:8000";  // the copy server (in the allowed URL list)
input long   FollowerId         = 0;       // this follower account's id on the server
input long   MasterId           = 0;       // the master it copies
input string Token              = "";      // a "follow" token of FollowerId
input long   Magic              = 3003003; // the follower's positions and orders
input int    PollWaitS          = 3;       // long-poll wait: WebRequest blocks the EA's thread this long
input int    HeartbeatS         = 5;       // account facts every N seconds
input bool   Cent               = false;   // a cent account (the server sizes for it)
input bool   ReopenClosedByHand = false;   // reopen a copy closed by hand/SL/TP while its target remains
input int    DeviationPoints    = 50;      // max slippage of market orders
input int    TimerMs            = 200;     // OnTimer period
input int    BackoffMaxS        = 30;      // server unreachable: retry after 0.5 s, doubling to this
input string StateFolder        = "MtponteFollower";  // under MQL5\Files: ledger, instance id, status

#define MTP_TAG "mtp:"
#define MTP_EPS 1e-9
#define MTP_EXPIRY_GRACE_S 60  // an order of ours gone this close to its expiry expired

struct FTarget
  {
   string id; string symbol; int side; double volume; double sl; double tp;
   bool limit; double price; int maxdev;
   string otype; long expiry;  // a pending order target: "limit" | "stop", expiry epoch s (0 none)
   string sources;  // a net target's copies (target ids) as "\t<id>\t<id>\t"; "" for one copy
  };
struct FPos
  {
   ulong ticket; string symbol; int side; double volume; double price; double sl; double tp;
   long magic; string comment; long time_msc; string tid;
  };
struct FOrder
  {
   ulong ticket; string symbol; long magic; string comment;
   int side; string otype; double volume; double price; double sl; double tp; long expiry;
  };
struct FAction
  {
   string kind; string tid; string symbol; int side; double volume; double price;
   double sl; double tp; ulong ticket; string reason; string otype; long expiry;
  };

//--- the book
bool     g_have_book = false;
long     g_version = 0;
FTarget  g_targets[];
string   g_master_ms = "null";
string   g_server_ms = "null";
//--- the ledger (targets opened; position tickets per target) and the instance id
string   g_opened[];
string   g_ticket_tids[];
string   g_ticket_ids[];
string   g_order_tids[];  // pending orders placed per target (their fills are found by DEAL_ORDER)
string   g_order_ids[];
string   g_filled[];      // targets whose order or position of ours filled (kept in the ledger while named)
string   g_placed[];      // pending targets whose order we placed and did not cancel ourselves
string   g_instance = "";
string   g_dir = "";
//--- reports the server has not taken yet (one JSON a line in unsent.txt, so a crash
//--- loses none); (target, reason) of skips already reported
string   g_unsent[];
long     g_report_seq = 0;
string   g_said[];
//--- timing
bool     g_started = false;
ulong    g_last_beat = 0;
ulong    g_next_try = 0;
double   g_delay_s = 0.5;
bool     g_down = false;
long     g_cycles = 0;
datetime g_anchor_s = 0;
ulong    g_anchor_tick = 0;
string   g_last_error = "";

//+------------------------------------------------------------------+
int OnInit()
  {
   if(FollowerId <= 0 || MasterId <= 0 || Token == "" || PollWaitS < 0 || PollWaitS > 20 ||
      HeartbeatS <= 0 || TimerMs <= 0 || StringFind(ServerUrl, "http") != 0)
     {
      Print("MtponteFollower: set ServerUrl, FollowerId, MasterId and Token (PollWaitS 0..20)");
      return INIT_PARAMETERS_INCORRECT;
     }
   g_dir = StateFolder + "\\" + IntegerToString(FollowerId) + "-" + IntegerToString(MasterId);
   FolderCreate(StateFolder, 0);
   FolderCreate(g_dir, 0);
   ArrayFree(g_targets);
   ArrayFree(g_unsent);
   ArrayFree(g_said);
   g_have_book = false;
   g_started = false;
   g_instance = LoadInstance();
   LoadLedger();
   LoadUnsent();
   if(!EventSetMillisecondTimer(TimerMs))
      return INIT_FAILED;
   PrintFormat("MtponteFollower: follower %I64d copies master %I64d via %s (instance %s)",
               FollowerId, MasterId, ServerUrl, g_instance);
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
  }

//+------------------------------------------------------------------+
//| one step: lease + ledger, heartbeat, long-poll, reconcile, report |
//+------------------------------------------------------------------+
void OnTimer()
  {
   if(GetTickCount64() < g_next_try)
      return;
   if(!TerminalInfoInteger(TERMINAL_CONNECTED))
      return;  // the account is not known yet: nothing to plan on
   int rc = 0;
   if(!g_started)
     {
      rc = Heartbeat();
      if(rc != 1)
        {
         Backoff(rc);
         return;
        }
      Rebuild();  // lease and ledger before any trade
      g_started = true;
      SendReports();  // a previous run's reports first (each stored once: report_id)
     }
   else if(GetTickCount64() - g_last_beat >= (ulong)HeartbeatS * 1000)
     {
      rc = Heartbeat();
      if(rc != 1)
        {
         Backoff(rc);
         return;
        }
     }
   rc = Cycle(g_have_book ? PollWaitS : 0);
   if(rc != 1)
     {
      Backoff(rc);
      return;
     }
   if(g_down)
      Print("MtponteFollower: copy server reachable again");
   g_down = false;
   g_delay_s = 0.5;
  }

//--- rc: 0 network/5xx (retry with backoff), -1 refused (config or lease: retry slowly)
void Backoff(const int rc)
  {
   if(!g_down)
      PrintFormat("MtponteFollower: %s: account left as it is", g_last_error);
   g_down = true;
   double wait_s = rc < 0 ? MathMax((double)HeartbeatS, g_delay_s) : g_delay_s;
   g_next_try = GetTickCount64() + (ulong)(wait_s * 1000.0);
   g_delay_s = MathMin(g_delay_s * 2.0, (double)BackoffMaxS);
  }

//--- the wall clock in epoch ms (TimeGMT has seconds; the tick counter gives the rest)
long NowMs()
  {
   datetime t = TimeGMT();
   ulong tick = GetTickCount64();
   if(t != g_anchor_s)
     {
      g_anchor_s = t;
      g_anchor_tick = tick;
     }
   long extra = (long)(tick - g_anchor_tick);
   if(extra > 999)
      extra = 999;
   return (long)t * 1000 + extra;
  }

//+------------------------------------------------------------------+
//| HTTP                                                             |
//+------------------------------------------------------------------+
string g_http_body = "";

//--- the HTTP status, or -1 (WebRequest failed: GetLastError says why)
int Http(const string method, const string path, const string body, const int timeout_ms)
  {
   char data[];
   char result[];
   string result_headers;
   if(body != "")
     {
      int n = StringToCharArray(body, data, 0, WHOLE_ARRAY, CP_UTF8);
      ArrayResize(data, n > 0 ? n - 1 : 0);  // without the terminating zero
     }
   string headers = "Authorization: Bearer " + Token + "\r\nAccept: application/json\r\n";
   if(body != "")
      headers += "Content-Type: application/json\r\n";
   ResetLastError();
   int status = WebRequest(method, ServerUrl + path, headers, timeout_ms, data, result, result_headers);
   g_http_body = status > 0 ? CharArrayToString(result, 0, WHOLE_ARRAY, CP_UTF8) : "";
   if(status < 0)
     {
      int err = GetLastError();
      g_last_error = StringFormat("%s %s: WebRequest error %d", method, path, err);
      if(err == 4014)
         g_last_error += " (add " + ServerUrl + " to Tools > Options > Expert Advisors > Allow WebRequest)";
     }
   else if(status != 200 && status != 204 && status != 304)
      g_last_error = StringFormat("%s %s: HTTP %d %s", method, path, status, StringSubstr(g_http_body, 0, 200));
   return status;
  }

//--- 1 ok, 0 retry (network, 5xx, 429), -1 refused (lease held, bad token, bad body)
int Outcome(const int status)
  {
   if(status == 200 || status == 204 || status == 304)
      return 1;
   if(status < 0 || status == 408 || status == 425 || status == 429 || status >= 500)
      return 0;
   return -1;
  }

string Base() { return "/api/v1/followers/" + IntegerToString(FollowerId); }

//+------------------------------------------------------------------+
//| heartbeat: the account facts the server's engine sizes with       |
//+------------------------------------------------------------------+
int Heartbeat()
  {
   bool netting = AccountInfoInteger(ACCOUNT_MARGIN_MODE) != ACCOUNT_MARGIN_MODE_RETAIL_HEDGING;
   string b = "{\"instance\":\"" + g_instance + "\"";
   b += ",\"netting\":";
   b += netting ? "true" : "false";
   b += ",\"cent\":";
   b += Cent ? "true" : "false";
   b += ",\"balance\":" + Num(AccountInfoDouble(ACCOUNT_BALANCE));
   b += ",\"equity\":" + Num(AccountInfoDouble(ACCOUNT_EQUITY));
   b += ",\"daily_pnl\":" + Num(DailyPnl());
   b += ",\"currency\":\"" + Letters(AccountInfoString(ACCOUNT_CURRENCY)) + "\"";
   b += ",\"symbols\":[";
   int total = SymbolsTotal(true);
   bool first = true;
   for(int i = 0; i < total; i++)
     {
      string s = SymbolName(i, true);
      double tick = SymbolInfoDouble(s, SYMBOL_TRADE_TICK_SIZE);
      double tv = SymbolInfoDouble(s, SYMBOL_TRADE_TICK_VALUE);
      double vmin = SymbolInfoDouble(s, SYMBOL_VOLUME_MIN);
      double vmax = SymbolInfoDouble(s, SYMBOL_VOLUME_MAX);
      double step = SymbolInfoDouble(s, SYMBOL_VOLUME_STEP);
      double contract = SymbolInfoDouble(s, SYMBOL_TRADE_CONTRACT_SIZE);
      if(tick <= 0 || tv <= 0 || vmin <= 0 || vmax < vmin || step <= 0 || contract <= 0)
         continue;  // the server refuses a spec it cannot size with
      if(!first)
         b += ",";
      first = false;
      b += "{\"name\":\"" + JsonEsc(s) + "\",\"tick_size\":" + Num(tick) + ",\"tick_value\":" + Num(tv);
      b += ",\"contract_size\":" + Num(contract) + ",\"digits\":" + IntegerToString(SymbolInfoInteger(s, SYMBOL_DIGITS));
      b += ",\"lot_min\":" + Num(vmin) + ",\"lot_max\":" + Num(vmax) + ",\"lot_step\":" + Num(step) + "}";
     }
   b += "],\"positions\":[";
   FPos ps[];
   Positions(ps);
   first = true;
   for(int i = 0; i < ArraySize(ps); i++)
     {
      if(ps[i].magic != Magic)
         continue;
      if(!first)
         b += ",";
      first = false;
      b += "{\"ticket\":\"" + StringFormat("%I64u", ps[i].ticket) + "\",\"symbol\":\"" + JsonEsc(ps[i].symbol) + "\"";
      b += ",\"side\":\"";
      b += ps[i].side > 0 ? "buy" : "sell";
      b += "\",\"volume\":" + Num(ps[i].volume);
      b += ",\"open_price\":" + Num(ps[i].price);
      if(ps[i].sl > 0)
         b += ",\"sl\":" + Num(ps[i].sl);
      if(ps[i].tp > 0)
         b += ",\"tp\":" + Num(ps[i].tp);
      b += ",\"open_time\":" + IntegerToString(ps[i].time_msc / 1000 - (TimeTradeServer() - TimeGMT())) + "}";
     }
   b += "]}";
   int status = Http("POST", Base() + "/heartbeats", b, 5000);
   if(status == 409)
      g_last_error = "another follower instance holds this account's lease (HTTP 409)";
   int rc = Outcome(status);
   if(rc == 1)
      g_last_beat = GetTickCount64();
   return rc;
  }

string Trim(const string s)
  {
   string t = s;
   StringTrimLeft(t);
   StringTrimRight(t);
   return t;
  }

string Num(const double v)
  {
   string s = DoubleToString(v, 8);
   return s;
  }

string Letters(const string s)
  {
   string out = "";
   for(int i = 0; i < StringLen(s) && i < 10; i++)
     {
      ushort c = StringGetCharacter(s, i);
      if((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
         out += ShortToString(c);
     }
   return out;
  }

string JsonEsc(const string v)
  {
   string out = "";
   int n = StringLen(v);
   for(int k = 0; k < n; k++)
     {
      ushort c = StringGetCharacter(v, k);
      if(c == '"') out += "\\\"";
      else if(c == '\\') out += "\\\\";
      else if(c == '\n') out += "\\n";
      else if(c == '\r') out += "\\r";
      else if(c == '\t') out += "\\t";
      else if(c < 0x20) out += StringFormat("\\u%04x", c);
      else out += ShortToString(c);
     }
   return out;
  }

//--- today's (server day) closed profit plus the floating profit
double DailyPnl()
  {
   datetime now = TimeTradeServer();
   datetime day = now - now % 86400;
   double pnl = AccountInfoDouble(ACCOUNT_PROFIT);
   if(HistorySelect(day, now + 86400))
     {
      int n = HistoryDealsTotal();
      for(int i = 0; i < n; i++)
        {
         ulong d = HistoryDealGetTicket(i);
         long type = HistoryDealGetInteger(d, DEAL_TYPE);
         if(type != DEAL_TYPE_BUY && type != DEAL_TYPE_SELL)
            continue;  // deposits are not trading
         pnl += HistoryDealGetDouble(d, DEAL_PROFIT) + HistoryDealGetDouble(d, DEAL_SWAP) +
                HistoryDealGetDouble(d, DEAL_COMMISSION);
        }
     }
   return pnl;
  }

//+------------------------------------------------------------------+
//| the book                                                         |
//+------------------------------------------------------------------+
//--- 1 ok (new book or unchanged), 0 retry, -1 refused
int Cycle(const int wait_s)
  {
   string path = Base() + "/masters/" + IntegerToString(MasterId) + "/targets";
   if(g_have_book)
      path += "?version=" + IntegerToString(g_version) + "&wait=" + IntegerToString(wait_s);
   int status = Http("GET", path, "", (wait_s + 5) * 1000);
   int rc = Outcome(status);
   if(rc != 1)
      return rc;
   if(status == 200 && !ReadBook(g_http_body))
     {
      g_last_error = "the target book is not valid: " + g_last_error;
      return -1;
     }
   long received = NowMs();
   if(!g_have_book)
      return 1;
   FAction acts[];
   Plan(acts);
   for(int i = 0; i < ArraySize(acts); i++)
      Do(acts[i], received);
   ForgetGone();
   if(!SendReports())
      return 0;
   g_cycles++;
   WriteStatus();
   return 1;
  }

bool ReadBook(const string body)
  {
   CJsonTree j;
   if(!j.Parse(body))
     {
      g_last_error = j.error;
      return false;
     }
   int ver = j.Get(0, "version");
   int ts = j.Get(0, "targets");
   if(j.Type(ver) != JT_NUMBER || j.Type(ts) != JT_ARRAY)
     {
      g_last_error = "version or targets missing";
      return false;
     }
   FTarget out[];
   ArrayResize(out, j.Count(ts));
   int n = 0;
   for(int i = 0; i < j.Count(ts); i++)
     {
      int t = j.At(ts, i);
      int side = j.Get(t, "side");
      int k = n++;
      if(j.Type(j.Get(t, "target_id")) != JT_STRING || j.Type(j.Get(t, "symbol")) != JT_STRING ||
         j.Type(j.Get(t, "volume")) != JT_NUMBER || j.Type(side) != JT_STRING)
        {
         g_last_error = "a target lacks target_id, symbol, side or volume";
         return false;
        }
      out[k].id = j.Str(j.Get(t, "target_id"));
      out[k].symbol = j.Str(j.Get(t, "symbol"));
      out[k].side = j.Str(side) == "buy" ? 1 : -1;
      out[k].volume = j.Num(j.Get(t, "volume"));
      out[k].sl = j.IsNull(j.Get(t, "sl")) ? 0.0 : j.Num(j.Get(t, "sl"));
      out[k].tp = j.IsNull(j.Get(t, "tp")) ? 0.0 : j.Num(j.Get(t, "tp"));
      out[k].limit = j.Str(j.Get(t, "entry")) == "limit";
      out[k].price = j.Num(j.Get(t, "price"));
      out[k].maxdev = (int)j.Long(j.Get(t, "max_deviation_points"));
      // a pending order target (the subscription's copy_pending): an order, never netted
      int ot = j.Get(t, "order_type");
      out[k].otype = j.Type(ot) == JT_STRING ? j.Str(ot) : "";
      if(out[k].otype != "" && out[k].otype != "limit" && out[k].otype != "stop")
        {
         g_last_error = "a target has an unknown order_type " + out[k].otype;
         return false;
        }
      int ex = j.Get(t, "expiry");
      out[k].expiry = out[k].otype != "" && j.Type(ex) == JT_NUMBER ? j.Long(ex) : 0;
      // a net target's copies: a pending copy of ours that filled here is one of them
      out[k].sources = "";
      int src = j.Get(t, "sources");
      if(j.Type(src) == JT_ARRAY)
         for(int m = 0; m < j.Count(src); m++)
           {
            int e = j.At(src, m);
            if(j.Type(e) != JT_STRING)
              {
               g_last_error = "a target's sources are not strings";
               return false;
              }
            out[k].sources += (m == 0 ? "\t" : "") + j.Str(e) + "\t";
           }
     }
   ArrayResize(out, n);
   ArrayFree(g_targets);
   ArrayResize(g_targets, ArraySize(out));
   for(int k = 0; k < ArraySize(out); k++)
      g_targets[k] = out[k];
   g_version = j.Long(ver);
   int mt = j.Get(0, "master_time_ms");
   int ct = j.Get(0, "computed_at_ms");
   g_master_ms = j.Type(mt) == JT_NUMBER ? j.Str(mt) : "null";
   g_server_ms = j.Type(ct) == JT_NUMBER ? j.Str(ct) : "null";
   g_have_book = true;
   return true;
  }

//--- <StateFolder>\<f>-<m>\status.txt: the book version and cycles done (for operators, tests)
void WriteStatus()
  {
   string s = "version=" + IntegerToString(g_version) + "\ncycles=" + IntegerToString(g_cycles) +
              "\ninstance=" + g_instance + "\nunsent=" + IntegerToString(ArraySize(g_unsent)) + "\n";
   WriteFile(g_dir + "\\status.txt", s);
  }

//+------------------------------------------------------------------+
//| the account                                                      |
//+------------------------------------------------------------------+
string TargetOf(const string comment)
  {
   if(StringLen(comment) > StringLen(MTP_TAG) && StringFind(comment, MTP_TAG) == 0)
      return StringSubstr(comment, StringLen(MTP_TAG));
   return "";
  }

void Positions(FPos &out[])
  {
   ArrayFree(out);
   int n = PositionsTotal();
   for(int i = 0; i < n; i++)
     {
      ulong ticket = PositionGetTicket(i);
      if(ticket == 0)
         continue;
      int k = ArraySize(out);
      ArrayResize(out, k + 1);
      out[k].ticket = ticket;
      out[k].symbol = PositionGetString(POSITION_SYMBOL);
      out[k].side = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? 1 : -1;
      out[k].volume = PositionGetDouble(POSITION_VOLUME);
      out[k].price = PositionGetDouble(POSITION_PRICE_OPEN);
      out[k].sl = PositionGetDouble(POSITION_SL);
      out[k].tp = PositionGetDouble(POSITION_TP);
      out[k].magic = PositionGetInteger(POSITION_MAGIC);
      out[k].comment = PositionGetString(POSITION_COMMENT);
      out[k].time_msc = PositionGetInteger(POSITION_TIME_MSC);
      out[k].tid = "";
     }
  }

void Orders(FOrder &out[])
  {
   ArrayFree(out);
   int n = OrdersTotal();
   for(int i = 0; i < n; i++)
     {
      ulong ticket = OrderGetTicket(i);
      if(ticket == 0)
         continue;
      int k = ArraySize(out);
      ArrayResize(out, k + 1);
      out[k].ticket = ticket;
      out[k].symbol = OrderGetString(ORDER_SYMBOL);
      out[k].magic = OrderGetInteger(ORDER_MAGIC);
      out[k].comment = OrderGetString(ORDER_COMMENT);
      long type = OrderGetInteger(ORDER_TYPE);
      out[k].side = type == ORDER_TYPE_BUY_LIMIT || type == ORDER_TYPE_BUY_STOP ? 1 : -1;
      out[k].otype = type == ORDER_TYPE_BUY_LIMIT || type == ORDER_TYPE_SELL_LIMIT ? "limit" :
                     type == ORDER_TYPE_BUY_STOP || type == ORDER_TYPE_SELL_STOP ? "stop" : "other";
      out[k].volume = OrderGetDouble(ORDER_VOLUME_CURRENT);
      out[k].price = OrderGetDouble(ORDER_PRICE_OPEN);
      out[k].sl = OrderGetDouble(ORDER_SL);
      out[k].tp = OrderGetDouble(ORDER_TP);
      long tt = OrderGetInteger(ORDER_TYPE_TIME);
      long exp = OrderGetInteger(ORDER_TIME_EXPIRATION);
      // the expiry in UTC epoch s, as targets carry it (the order's is in server time)
      out[k].expiry = (tt == ORDER_TIME_SPECIFIED || tt == ORDER_TIME_SPECIFIED_DAY) && exp > 0 ?
                      exp - ServerOffsetSeconds() : 0;
     }
  }

//--- TimeTradeServer() - TimeGMT(), rounded to 15 minutes (as the bridge EA)
long ServerOffsetSeconds()
  {
   long d = (long)(TimeTradeServer() - TimeGMT());
   return (long)MathRound(d / 900.0) * 900;
  }

//--- the target an order of ours works for: its tag, else the ledger's placed order ticket
string OrderTid(const FOrder &o)
  {
   if(o.magic != Magic)
      return "";
   string tid = TargetOf(o.comment);
   return tid != "" ? tid : TidOfOrder(o.ticket);
  }

bool SymbolKnown(const string sym)
  {
   return SymbolSelect(sym, true) && SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_SIZE) > 0;
  }

//+------------------------------------------------------------------+
//| string sets (sorted arrays)                                      |
//+------------------------------------------------------------------+
int SetFind(const string &a[], const string v)
  {
   for(int i = 0; i < ArraySize(a); i++)
      if(a[i] == v)
         return i;
   return -1;
  }
bool SetHas(const string &a[], const string v) { return SetFind(a, v) >= 0; }
bool SetAdd(string &a[], const string v)
  {
   if(SetHas(a, v))
      return false;
   int n = ArraySize(a);
   ArrayResize(a, n + 1);
   int i = n;
   while(i > 0 && a[i - 1] > v)  // kept sorted: the plan walks target ids in order, like the twin
     {
      a[i] = a[i - 1];
      i--;
     }
   a[i] = v;
   return true;
  }
void SetRemoveAt(string &a[], const int k)
  {
   int n = ArraySize(a);
   for(int i = k; i < n - 1; i++)
      a[i] = a[i + 1];
   ArrayResize(a, n - 1);
  }

//+------------------------------------------------------------------+
//| the ledger: <StateFolder>\<f>-<m>\ledger.txt                      |
//|   opened<TAB><target id>          a target the follower opened    |
//|   ticket<TAB><target id><TAB><n>  a position ticket it holds      |
//|   order<TAB><target id><TAB><n>   a pending order it placed       |
//|   filled<TAB><target id>          an order/position of ours filled|
//|   placed<TAB><target id>          our pending order, not cancelled|
//|                                   by us (gone unfilled: by hand)  |
//| (a line of a kind it does not know is ignored: older EAs read     |
//| newer ledgers)                                                    |
//+------------------------------------------------------------------+
void LoadLedger()
  {
   ArrayFree(g_opened);
   ArrayFree(g_filled);
   ArrayFree(g_placed);
   ArrayFree(g_ticket_tids);
   ArrayFree(g_ticket_ids);
   ArrayFree(g_order_tids);
   ArrayFree(g_order_ids);
   string text;
   if(!ReadFile(g_dir + "\\ledger.txt", text))
      return;
   string lines[];
   int n = StringSplit(text, '\n', lines);
   for(int i = 0; i < n; i++)
     {
      string f[];
      int k = StringSplit(lines[i], '\t', f);
      if(k == 2 && f[0] == "opened")
         SetAdd(g_opened, f[1]);
      else if(k == 3 && f[0] == "ticket")
         LedgerTicket(f[1], f[2]);
      else if(k == 3 && f[0] == "order")
         LedgerOrder(f[1], f[2]);
      else if(k == 2 && f[0] == "filled")
         SetAdd(g_filled, f[1]);
      else if(k == 2 && f[0] == "placed")
         SetAdd(g_placed, f[1]);
     }
  }

void SaveLedger()
  {
   string s = "";
   for(int i = 0; i < ArraySize(g_opened); i++)
      s += "opened\t" + g_opened[i] + "\n";
   for(int i = 0; i < ArraySize(g_ticket_tids); i++)
      s += "ticket\t" + g_ticket_tids[i] + "\t" + g_ticket_ids[i] + "\n";
   for(int i = 0; i < ArraySize(g_order_tids); i++)
      s += "order\t" + g_order_tids[i] + "\t" + g_order_ids[i] + "\n";
   for(int i = 0; i < ArraySize(g_filled); i++)
      s += "filled\t" + g_filled[i] + "\n";
   for(int i = 0; i < ArraySize(g_placed); i++)
      s += "placed\t" + g_placed[i] + "\n";
   if(!WriteFile(g_dir + "\\ledger.txt", s))
      Print("MtponteFollower: the ledger could not be written (rebuilt from the history after a restart)");
  }

void LedgerTicket(const string tid, const string ticket)
  {
   for(int i = 0; i < ArraySize(g_ticket_ids); i++)
      if(g_ticket_ids[i] == ticket && g_ticket_tids[i] == tid)
         return;
   int n = ArraySize(g_ticket_ids);
   ArrayResize(g_ticket_ids, n + 1);
   ArrayResize(g_ticket_tids, n + 1);
   g_ticket_ids[n] = ticket;
   g_ticket_tids[n] = tid;
  }

void LedgerOrder(const string tid, const string ticket)
  {
   for(int i = 0; i < ArraySize(g_order_ids); i++)
      if(g_order_ids[i] == ticket && g_order_tids[i] == tid)
         return;
   int n = ArraySize(g_order_ids);
   ArrayResize(g_order_ids, n + 1);
   ArrayResize(g_order_tids, n + 1);
   g_order_ids[n] = ticket;
   g_order_tids[n] = tid;
  }

string TidOfOrder(const ulong ticket)
  {
   string t = StringFormat("%I64u", ticket);
   for(int i = 0; i < ArraySize(g_order_ids); i++)
      if(g_order_ids[i] == t)
         return g_order_tids[i];
   return "";
  }

//--- a position's target by ticket: a copy's ticket, else (hedging) the pending order of
//--- ours it filled from (MT5 gives the position its order's ticket)
string TidOfTicket(const ulong ticket)
  {
   string t = StringFormat("%I64u", ticket);
   for(int i = 0; i < ArraySize(g_ticket_ids); i++)
      if(g_ticket_ids[i] == t)
         return g_ticket_tids[i];
   return TidOfOrder(ticket);
  }

//--- what this follower opened, learnt from the broker (a restart, a lost ledger):
//--- positions and deals carrying a tag and the magic
void Rebuild()
  {
   bool changed = false;
   FPos ps[];
   Positions(ps);
   for(int i = 0; i < ArraySize(ps); i++)
     {
      string tid = ps[i].magic == Magic ? TargetOf(ps[i].comment) : "";
      if(tid != "" && SetAdd(g_opened, tid))
         changed = true;
     }
   if(HistorySelect(0, TimeTradeServer() + 86400))
     {
      int n = HistoryDealsTotal();
      for(int i = 0; i < n; i++)
        {
         ulong d = HistoryDealGetTicket(i);
         if(HistoryDealGetInteger(d, DEAL_MAGIC) != Magic)
            continue;
         long entry = HistoryDealGetInteger(d, DEAL_ENTRY);
         if(entry != DEAL_ENTRY_IN && entry != DEAL_ENTRY_INOUT)
            continue;
         string tid = TargetOf(HistoryDealGetString(d, DEAL_COMMENT));
         // a fill of ours too (a lost ledger loses no pending fill: a net target listing
         // it is ours); forgotten at the next plan if no target names it
         if(tid != "" && SetAdd(g_opened, tid))
            changed = true;
         if(tid != "" && SetAdd(g_filled, tid))
            changed = true;
        }
     }
   if(changed)
      SaveLedger();
  }

//--- targets gone from the book with nothing left open are forgotten
void ForgetGone()
  {
   FPos ps[];
   Positions(ps);
   Own(ps);
   bool changed = false;
   for(int i = ArraySize(g_opened) - 1; i >= 0; i--)
     {
      string tid = g_opened[i];
      bool live = false;
      for(int k = 0; k < ArraySize(g_targets); k++)
         if(g_targets[k].id == tid)
            live = true;
      for(int k = 0; k < ArraySize(ps); k++)
         if(ps[k].tid == tid)
            live = true;
      if(live)
         continue;
      SetRemoveAt(g_opened, i);
      for(int k = ArraySize(g_ticket_tids) - 1; k >= 0; k--)
         if(g_ticket_tids[k] == tid)
           {
            for(int m = k; m < ArraySize(g_ticket_tids) - 1; m++)
              {
               g_ticket_tids[m] = g_ticket_tids[m + 1];
               g_ticket_ids[m] = g_ticket_ids[m + 1];
              }
            ArrayResize(g_ticket_tids, ArraySize(g_ticket_tids) - 1);
            ArrayResize(g_ticket_ids, ArraySize(g_ticket_ids) - 1);
           }
      for(int k = ArraySize(g_said) - 1; k >= 0; k--)
         if(StringFind(g_said[k], tid + "\t") == 0)
            SetRemoveAt(g_said, k);
      changed = true;
     }
   // placed orders of targets gone from the book, with no position of ours left from them
   for(int i = ArraySize(g_order_tids) - 1; i >= 0; i--)
     {
      string tid = g_order_tids[i];
      bool live = TargetIndex(tid) >= 0;
      for(int k = 0; k < ArraySize(ps); k++)
         if(ps[k].tid == tid)
            live = true;
      if(live)
         continue;
      for(int m = i; m < ArraySize(g_order_tids) - 1; m++)
        {
         g_order_tids[m] = g_order_tids[m + 1];
         g_order_ids[m] = g_order_ids[m + 1];
        }
      ArrayResize(g_order_tids, ArraySize(g_order_tids) - 1);
      ArrayResize(g_order_ids, ArraySize(g_order_ids) - 1);
      changed = true;
     }
   if(changed)
      SaveLedger();
  }

//--- the instance id kept in the state folder: a restart takes its lease back at once
string LoadInstance()
  {
   string path = g_dir + "\\instance.txt";
   string v;
   if(ReadFile(path, v))
     {
      v = Trim(v);
      bool ok = StringLen(v) >= 8 && StringLen(v) <= 64;
      for(int i = 0; i < StringLen(v) && ok; i++)
        {
         ushort c = StringGetCharacter(v, i);
         ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        }
      if(ok)
         return v;
     }
   v = StringFormat("%08I64x%08I64x%016I64x", AccountInfoInteger(ACCOUNT_LOGIN) & 0xFFFFFFFF,
                    (long)TimeGMT() & 0xFFFFFFFF, (long)GetMicrosecondCount() ^ (long)GetTickCount64() * 2654435761);
   WriteFile(path, v);
   return v;
  }

//+------------------------------------------------------------------+
//| files (UTF-8, written to a temporary file then moved)            |
//+------------------------------------------------------------------+
bool ReadFile(const string path, string &text)
  {
   text = "";
   if(!FileIsExist(path, 0))
      return false;
   int h = FileOpen(path, FILE_READ | FILE_BIN | FILE_SHARE_READ);
   if(h == INVALID_HANDLE)
      return false;
   uchar b[];
   int n = (int)FileSize(h);
   if(n > 0)
      FileReadArray(h, b, 0, n);
   FileClose(h);
   text = n > 0 ? CharArrayToString(b, 0, n, CP_UTF8) : "";
   return true;
  }

bool WriteFile(const string path, const string text)
  {
   string tmp = path + ".tmp";
   int h = FileOpen(tmp, FILE_WRITE | FILE_BIN);
   if(h == INVALID_HANDLE)
      return false;
   uchar b[];
   int n = StringToCharArray(text, b, 0, WHOLE_ARRAY, CP_UTF8) - 1;
   uint w = n > 0 ? FileWriteArray(h, b, 0, n) : 0;
   FileFlush(h);
   FileClose(h);
   if((int)w != MathMax(n, 0))
      return false;
   return FileMove(tmp, 0, path, FILE_REWRITE);
  }

//+------------------------------------------------------------------+
//| the plan (src/mtponte/copy/follower/_plan.py, rule for rule)     |
//+------------------------------------------------------------------+
bool Differs(const double a, const double b, const double tick)
  {
   if(a <= 0 || b <= 0)
      return (a <= 0) != (b <= 0);
   return MathAbs(a - b) > tick / 2;
  }

//--- tags ours (magic) with their target id: the comment's tag, else the ledger's ticket
void Own(FPos &ps[])
  {
   for(int i = 0; i < ArraySize(ps); i++)
     {
      ps[i].tid = "";
      if(ps[i].magic != Magic)
         continue;
      string tid = TargetOf(ps[i].comment);
      if(tid == "")
         tid = TidOfTicket(ps[i].ticket);
      ps[i].tid = tid;
     }
  }

void Push(FAction &out[], const string kind, const string tid, const string sym, const int side,
          const double volume, const double price, const double sl, const double tp,
          const ulong ticket, const string reason)
  {
   int n = ArraySize(out);
   ArrayResize(out, n + 1);
   out[n].kind = kind;
   out[n].tid = tid;
   out[n].symbol = sym;
   out[n].side = side;
   out[n].volume = volume;
   out[n].price = price;
   out[n].sl = sl;
   out[n].tp = tp;
   out[n].ticket = ticket;
   out[n].reason = reason;
   out[n].otype = "";
   out[n].expiry = 0;
  }

void Plan(FAction &out[])
  {
   ArrayFree(out);
   FPos ps[];
   FOrder os[];
   Positions(ps);
   Orders(os);
   PendingFills(ps, os);
   if(AccountInfoInteger(ACCOUNT_MARGIN_MODE) == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING)
      PlanHedging(ps, os, out);
   else
      PlanNetting(ps, os, out);
  }

//--- g_filled: targets whose order or position of ours filled. A position of ours carries
//--- the target (its tag, or the ticket of the order it filled from), or (position and order
//--- gone) the history holds an in deal of it: DEAL_ORDER is an order the ledger says we
//--- placed for it, or the deal carries its tag and our magic. The history is read only
//--- for a pending target with neither an order nor a position. A fill is kept in the
//--- ledger while a target's id or sources name it or a position of ours carries it, and
//--- a net target whose sources hold one counts as opened (AdoptFills) (the twin's
//--- _pending_fills and adopt_fills).
void PendingFills(FPos &ps[], FOrder &os[])
  {
   Own(ps);
   bool changed = false;
   for(int k = ArraySize(g_filled) - 1; k >= 0; k--)
     {
      bool keep = Named(g_filled[k]);
      for(int i = 0; i < ArraySize(ps) && !keep; i++)
         keep = ps[i].tid == g_filled[k];
      if(!keep)
        {
         SetRemoveAt(g_filled, k);
         changed = true;
        }
     }
   string tagged[];
   for(int i = 0; i < ArraySize(ps); i++)
      if(ps[i].tid != "")
        {
         SetAdd(tagged, ps[i].tid);
         if(Named(ps[i].tid) && SetAdd(g_filled, ps[i].tid))
            changed = true;
        }
   for(int i = 0; i < ArraySize(os); i++)
     {
      string tid = OrderTid(os[i]);
      if(tid != "")
         SetAdd(tagged, tid);
     }
   string ask[];
   for(int k = 0; k < ArraySize(g_targets); k++)
      if(g_targets[k].otype != "" && !SetHas(tagged, g_targets[k].id) && !SetHas(g_filled, g_targets[k].id))
         SetAdd(ask, g_targets[k].id);
   if(ArraySize(ask) > 0 && HistorySelect(0, TimeTradeServer() + 86400))
     {
      int n = HistoryDealsTotal();
      for(int i = 0; i < n; i++)
        {
         ulong d = HistoryDealGetTicket(i);
         long entry = HistoryDealGetInteger(d, DEAL_ENTRY);
         if(entry != DEAL_ENTRY_IN && entry != DEAL_ENTRY_INOUT)
            continue;
         string by_order = TidOfOrder((ulong)HistoryDealGetInteger(d, DEAL_ORDER));
         string by_tag = HistoryDealGetInteger(d, DEAL_MAGIC) == Magic ? TargetOf(HistoryDealGetString(d, DEAL_COMMENT)) : "";
         if(by_order != "" && SetHas(ask, by_order) && SetAdd(g_filled, by_order))
            changed = true;
         if(by_tag != "" && SetHas(ask, by_tag) && SetAdd(g_filled, by_tag))
            changed = true;
        }
     }
   if(TrackPlaced(os))  // first: it may record a fill that AdoptFills adopts
      changed = true;
   if(AdoptFills())
      changed = true;
   if(changed)
      SaveLedger();
  }

//--- g_placed kept to the book's pending targets: a working order of ours for one is
//--- recorded (placed just before a crash, or its cancel failed); ids of targets no
//--- longer pending are forgotten. Do adds an id when its place succeeds and removes it
//--- before it sends its own cancel, putting it back when the cancel fails: an order of
//--- ours gone unfilled and still in g_placed was cancelled outside the follower, and
//--- one whose fate is unknown is never placed twice. An id forgotten because the master's
//--- order filled (now a position target's id, or in a net target's sources) while no order
//--- of ours works for it is a copy gone by hand (cancelled, or filled here and closed): it
//--- goes to g_opened (the target with its id) or g_filled (adopted by AdoptFills), so the
//--- market copy is not opened unless ReopenClosedByHand (the twin's track_placed)
bool TrackPlaced(FOrder &os[])
  {
   bool changed = false;
   for(int k = ArraySize(g_placed) - 1; k >= 0; k--)
     {
      string tid = g_placed[k];
      int ti = TargetIndex(tid);
      if(ti >= 0 && g_targets[ti].otype != "")
         continue;
      bool working = false;
      for(int i = 0; i < ArraySize(os) && !working; i++)
         working = OrderTid(os[i]) == tid;
      if(!working)
        {
         if(ti >= 0)
            SetAdd(g_opened, tid);
         for(int j = 0; j < ArraySize(g_targets); j++)
            if(StringFind(g_targets[j].sources, "\t" + tid + "\t") >= 0)
              {
               SetAdd(g_filled, tid);
               break;
              }
        }
      SetRemoveAt(g_placed, k);
      changed = true;
     }
   for(int i = 0; i < ArraySize(os); i++)
     {
      string tid = OrderTid(os[i]);
      int ti = tid != "" ? TargetIndex(tid) : -1;
      if(ti >= 0 && g_targets[ti].otype != "" && SetAdd(g_placed, tid))
         changed = true;
     }
   return changed;
  }

//--- whether a target's id or sources name tid
bool Named(const string tid)
  {
   for(int k = 0; k < ArraySize(g_targets); k++)
      if(g_targets[k].id == tid || StringFind(g_targets[k].sources, "\t" + tid + "\t") >= 0)
         return true;
   return false;
  }

//--- a net target whose sources hold a fill of ours counts as opened by this follower: it
//--- nets a pending copy whose order filled here first, so a position closed by hand is
//--- not opened again (the twin's adopt_fills)
bool AdoptFills()
  {
   bool changed = false;
   for(int k = 0; k < ArraySize(g_targets); k++)
      for(int f = 0; f < ArraySize(g_filled); f++)
         if(StringFind(g_targets[k].sources, "\t" + g_filled[f] + "\t") >= 0)
           {
            if(SetAdd(g_opened, g_targets[k].id))
               changed = true;
            break;
           }
   return changed;
  }

//--- the volume on the symbol's lot step
double LotStep(const string sym, const double v)
  {
   double step = SymbolInfoDouble(sym, SYMBOL_VOLUME_STEP);
   if(step <= 0)
      return v;
   return NormalizeDouble(MathRound(v / step) * step, 8);
  }

//--- a price on the symbol's tick grid, with its digits (0 stays 0)
double Snap(const string sym, const double p)
  {
   if(p <= 0)
      return 0;
   double tick = SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_SIZE);
   int digits = (int)SymbolInfoInteger(sym, SYMBOL_DIGITS);
   if(tick <= 0)
      return NormalizeDouble(p, digits);
   return NormalizeDouble(MathRound(p / tick) * tick, digits);
  }

//--- whether a working order holds pending target t as it is now (the twin's order_matches)
bool OrderMatches(const FOrder &o, const FTarget &t)
  {
   double tick = SymbolInfoDouble(t.symbol, SYMBOL_TRADE_TICK_SIZE);
   return o.side == t.side && o.otype == t.otype && !Differs(o.price, t.price, tick) &&
          MathAbs(o.volume - LotStep(t.symbol, t.volume)) <= MTP_EPS &&
          !Differs(o.sl, t.sl, tick) && !Differs(o.tp, t.tp, tick) && o.expiry == t.expiry;
  }

//--- one pending target (the twin's plan_pending): keep, replace (cancel now, place at the
//--- next pass: never both in one pass), or place its order; nothing while a position of
//--- ours holds it; no new order once filled here or past its expiry
void PlanPending(FAction &out[], const FTarget &t, FOrder &os[], const int oi, const bool held)
  {
   string tid = t.id;
   if(!SymbolKnown(t.symbol))
     {
      Push(out, "skip", tid, t.symbol, 0, 0, 0, 0, 0, 0, t.symbol + " is not tradable here");
      return;
     }
   if(held)
     {
      if(oi >= 0)
         Push(out, "cancel", tid, t.symbol, 0, 0, 0, 0, 0, os[oi].ticket, "");
      return;
     }
   if(oi >= 0)
     {
      if(!OrderMatches(os[oi], t))
         Push(out, "cancel", tid, t.symbol, 0, 0, 0, 0, 0, os[oi].ticket, "order changed");
      return;
     }
   if(SetHas(g_filled, tid))
     {
      Push(out, "skip", tid, t.symbol, 0, 0, 0, 0, 0, 0, "pending order filled here and closed since");
      return;
     }
   // an order of ours gone this close to its expiry expired at the broker (whose clock may
   // run ahead): never placed again, even with ReopenClosedByHand
   long grace = SetHas(g_placed, tid) ? MTP_EXPIRY_GRACE_S : 0;
   if(t.expiry > 0 && (long)TimeGMT() >= t.expiry - grace)
     {
      Push(out, "skip", tid, t.symbol, 0, 0, 0, 0, 0, 0, "pending order expired");
      return;
     }
   if(SetHas(g_placed, tid) && !ReopenClosedByHand)
     {
      Push(out, "skip", tid, t.symbol, 0, 0, 0, 0, 0, 0, "pending order cancelled outside the follower");
      return;
     }
   Push(out, "place", tid, t.symbol, t.side, t.volume, t.price, t.sl, t.tp, 0, "");
   out[ArraySize(out) - 1].otype = t.otype;
   out[ArraySize(out) - 1].expiry = t.expiry;
  }

int TargetIndex(const string tid)
  {
   for(int k = 0; k < ArraySize(g_targets); k++)
      if(g_targets[k].id == tid)
         return k;
   return -1;
  }

string Closed() { return "closed outside the follower (by hand, SL or TP)"; }

void PlanHedging(FPos &ps[], FOrder &os[], FAction &out[])
  {
   Own(ps);
   string mine[];
   for(int i = 0; i < ArraySize(ps); i++)
      if(ps[i].tid != "")
         SetAdd(mine, ps[i].tid);
   // pending orders of ours by target (the last one wins, as the twin's dict)
   string ptids[];
   int pidx[];
   for(int i = 0; i < ArraySize(os); i++)
     {
      string tid = OrderTid(os[i]);
      if(tid == "")
         continue;
      SetAdd(ptids, tid);
     }
   ArrayResize(pidx, ArraySize(ptids));
   for(int k = 0; k < ArraySize(ptids); k++)
      for(int i = 0; i < ArraySize(os); i++)
         if(OrderTid(os[i]) == ptids[k])
            pidx[k] = i;
   // extra copies first: frees margin
   for(int m = 0; m < ArraySize(mine); m++)
     {
      if(TargetIndex(mine[m]) >= 0)
         continue;
      for(int i = 0; i < ArraySize(ps); i++)
         if(ps[i].tid == mine[m])
            Push(out, "close", mine[m], ps[i].symbol, 0, 0, 0, 0, 0, ps[i].ticket, "");
     }
   for(int k = 0; k < ArraySize(ptids); k++)
     {
      // gone, held, or the master's order filled before ours (a market target now): a
      // market open follows at the next pass if ours did not fill meanwhile
      int ti = TargetIndex(ptids[k]);
      if(ti < 0 || (g_targets[ti].otype == "" && (SetHas(mine, ptids[k]) || !g_targets[ti].limit)))
         Push(out, "cancel", ptids[k], os[pidx[k]].symbol, 0, 0, 0, 0, 0, os[pidx[k]].ticket, "");
     }
   string wanted[];
   for(int k = 0; k < ArraySize(g_targets); k++)
      SetAdd(wanted, g_targets[k].id);
   for(int w = 0; w < ArraySize(wanted); w++)
     {
      FTarget t;
      t = g_targets[TargetIndex(wanted[w])];
      string tid = t.id;
      if(t.otype != "")
        {
         int k = SetFind(ptids, tid);
         PlanPending(out, t, os, k >= 0 ? pidx[k] : -1, SetHas(mine, tid));
         continue;
        }
      if(!SymbolKnown(t.symbol))
        {
         Push(out, "skip", tid, t.symbol, 0, 0, 0, 0, 0, 0, t.symbol + " is not tradable here");
         continue;
        }
      double tick = SymbolInfoDouble(t.symbol, SYMBOL_TRADE_TICK_SIZE);
      // held: this target's positions, oldest first
      int held[];
      for(int i = 0; i < ArraySize(ps); i++)
        {
         if(ps[i].tid != tid)
            continue;
         int n = ArraySize(held);
         ArrayResize(held, n + 1);
         int j = n;
         while(j > 0 && ps[held[j - 1]].time_msc > ps[i].time_msc)
           {
            held[j] = held[j - 1];
            j--;
           }
         held[j] = i;
        }
      if(ArraySize(held) == 0)
        {
         if(SetHas(ptids, tid))
            continue;  // the limit order is working (or being cancelled)
         if((SetHas(g_opened, tid) || SetHas(g_filled, tid)) && !ReopenClosedByHand)
           {
            Push(out, "skip", tid, t.symbol, 0, 0, 0, 0, 0, 0, Closed());
            continue;
           }
        }
      // master side changed: cannot be, but safe
      int same[];
      for(int h = 0; h < ArraySize(held); h++)
        {
         FPos p;
         p = ps[held[h]];
         if(p.side != t.side)
            Push(out, "close", tid, p.symbol, 0, 0, 0, 0, 0, p.ticket, "");
         else
           {
            int n = ArraySize(same);
            ArrayResize(same, n + 1);
            same[n] = held[h];
           }
        }
      double vol = 0;
      for(int h = 0; h < ArraySize(same); h++)
         vol += ps[same[h]].volume;
      int closed_from = ArraySize(same);  // same[closed_from..] are closed below
      if(vol > t.volume + MTP_EPS)
        {
         double excess = NormalizeDouble(vol - t.volume, 8);
         for(int h = ArraySize(same) - 1; h >= 0; h--)  // newest first
           {
            if(excess <= MTP_EPS)
               break;
            FPos p;
            p = ps[same[h]];
            if(p.volume <= excess + MTP_EPS)
              {
               Push(out, "close", tid, p.symbol, 0, 0, 0, 0, 0, p.ticket, "");
               closed_from = h;
               excess = NormalizeDouble(excess - p.volume, 8);
              }
            else
              {
               Push(out, "reduce", tid, p.symbol, 0, excess, 0, 0, 0, p.ticket, "");
               excess = 0.0;
              }
           }
        }
      else if(vol < t.volume - MTP_EPS)
         Entry(out, t, t.side, NormalizeDouble(t.volume - vol, 8));
      for(int h = 0; h < closed_from; h++)  // a closed position is not modified
        {
         FPos p;
         p = ps[same[h]];
         if(Differs(p.sl, t.sl, tick) || Differs(p.tp, t.tp, tick))
            Push(out, "modify", tid, p.symbol, 0, 0, 0, t.sl, t.tp, p.ticket, "");
        }
     }
  }

void Entry(FAction &out[], const FTarget &t, const int side, const double volume)
  {
   if(t.limit)
     {
      Push(out, "limit", t.id, t.symbol, side, volume, t.price, t.sl, t.tp, 0, "");
      return;
     }
   if(t.maxdev > 0)
     {
      double bid = SymbolInfoDouble(t.symbol, SYMBOL_BID);
      double ask = SymbolInfoDouble(t.symbol, SYMBOL_ASK);
      if(bid <= 0 || ask <= 0)
        {
         Push(out, "wait", t.id, t.symbol, 0, 0, 0, 0, 0, 0, "no quote for " + t.symbol);
         return;
        }
      double px = side > 0 ? ask : bid;
      int digits = (int)SymbolInfoInteger(t.symbol, SYMBOL_DIGITS);
      double away = MathAbs(px - t.price) / MathPow(10.0, -digits);
      if(away > t.maxdev + MTP_EPS)
        {
         Push(out, "wait", t.id, t.symbol, 0, 0, 0, 0, 0, 0,
              StringFormat("price %s is %.0f points from the master's %s (max %d)",
                           DoubleToString(px, digits), away, DoubleToString(t.price, digits), t.maxdev));
         return;
        }
     }
   Push(out, "open", t.id, t.symbol, side, volume, t.price, t.sl, t.tp, 0, "");
  }

void PlanNetting(FPos &ps[], FOrder &os[], FAction &out[])
  {
   // pending targets: their orders first (never netted); one filled here counts in its
   // symbol's wanted net volume until the master's order fills too
   string ptids[];
   for(int k = 0; k < ArraySize(g_targets); k++)
      if(g_targets[k].otype != "")
         SetAdd(ptids, g_targets[k].id);
   string xsyms[];
   double xvols[];
   for(int p = 0; p < ArraySize(ptids); p++)
     {
      FTarget pt;
      pt = g_targets[TargetIndex(ptids[p])];
      int oi = -1;  // the last one wins, as the twin's dict
      for(int i = 0; i < ArraySize(os); i++)
         if(OrderTid(os[i]) == pt.id)
            oi = i;
      if(oi < 0 && SetHas(g_filled, pt.id) && SymbolKnown(pt.symbol))
        {
         int x = SetFind(xsyms, pt.symbol);
         if(x < 0)
           {
            x = ArraySize(xsyms);
            ArrayResize(xsyms, x + 1);
            ArrayResize(xvols, x + 1);
            xsyms[x] = pt.symbol;
            xvols[x] = 0.0;
           }
         xvols[x] += pt.side * pt.volume;
         continue;
        }
      PlanPending(out, pt, os, oi, false);
     }
   // one position per symbol (any magic); position targets by symbol
   string syms[];
   for(int i = 0; i < ArraySize(ps); i++)
      SetAdd(syms, ps[i].symbol);
   for(int k = 0; k < ArraySize(g_targets); k++)
      if(g_targets[k].otype == "")
         SetAdd(syms, g_targets[k].symbol);
   for(int x = 0; x < ArraySize(xsyms); x++)
      SetAdd(syms, xsyms[x]);
   string pend[];
   string cancelling[];
   for(int i = 0; i < ArraySize(os); i++)
     {
      string tid = OrderTid(os[i]);
      if(tid == "" || SetHas(ptids, tid))
         continue;
      int t = TargetBySymbol(os[i].symbol);
      if(t < 0 || g_targets[t].id != tid || PosBySymbol(ps, os[i].symbol) >= 0)
        {
         Push(out, "cancel", tid, os[i].symbol, 0, 0, 0, 0, 0, os[i].ticket, "");
         SetAdd(cancelling, os[i].symbol);
        }
      else
         SetAdd(pend, os[i].symbol);
     }
   for(int s = 0; s < ArraySize(syms); s++)
     {
      string sym = syms[s];
      int ti = TargetBySymbol(sym);
      int pi = PosBySymbol(ps, sym);
      string tid = ti >= 0 ? g_targets[ti].id : (pi >= 0 ? TargetOf(ps[pi].comment) : "");
      if(pi >= 0 && ps[pi].magic != Magic)
        {
         if(ti >= 0)
            Push(out, "skip", tid, sym, 0, 0, 0, 0, 0, 0, "the account holds a " + sym +
                 " position the follower did not open (netting: one position per symbol)");
         continue;
        }
      bool known = ti >= 0 && SymbolKnown(sym);
      if(ti >= 0 && !known)
        {
         Push(out, "skip", tid, sym, 0, 0, 0, 0, 0, 0, sym + " is not tradable here");
         continue;
        }
      double have = pi < 0 ? 0.0 : ps[pi].volume * ps[pi].side;
      double want = ti < 0 ? 0.0 : g_targets[ti].volume * g_targets[ti].side;
      int x = SetFind(xsyms, sym);
      want = NormalizeDouble(want + (x >= 0 ? xvols[x] : 0.0), 8);
      if(ti >= 0 && pi < 0 && SetHas(g_opened, tid) && !ReopenClosedByHand)
        {
         Push(out, "skip", tid, sym, 0, 0, 0, 0, 0, 0, Closed());
         continue;
        }
      double delta = NormalizeDouble(want - have, 8);
      if(pi >= 0 && MathAbs(want) <= MTP_EPS)
        {
         Push(out, "close", tid, sym, 0, 0, 0, 0, 0, ps[pi].ticket, "");
         continue;
        }
      if(MathAbs(delta) > MTP_EPS)
        {
         if(SetHas(cancelling, sym))
            continue;  // deal once the cancel is done (the order may have filled)
         if(ti < 0)
            continue;  // only a pending fill of ours: the master's follows
         FTarget t;
         t = g_targets[ti];
         if(SetHas(pend, sym))
            continue;  // the limit order is working
         int side = delta > 0 ? 1 : -1;
         bool flips = pi >= 0 && have * want < 0;
         bool reduces = pi >= 0 && !flips && MathAbs(want) < MathAbs(have);
         if(reduces)
            // Reducing risk never waits for a price; an opposite deal that only reduces
            // keeps the position's SL/TP (MT5); the modify below fixes them.
            Push(out, "open", tid, sym, side, MathAbs(delta), t.price, 0, 0, 0, "");
         else
           {
            // opens, adds or reverses: the deal's SL/TP replace the position's (MT5)
            Entry(out, t, side, MathAbs(delta));
            continue;
           }
        }
      if(ti >= 0 && pi >= 0 && known)
        {
         double tick = SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_SIZE);
         if(Differs(ps[pi].sl, g_targets[ti].sl, tick) || Differs(ps[pi].tp, g_targets[ti].tp, tick))
            Push(out, "modify", tid, sym, 0, 0, 0, g_targets[ti].sl, g_targets[ti].tp, ps[pi].ticket, "");
        }
     }
  }

//--- the position target of a symbol (pending targets are never netted)
int TargetBySymbol(const string sym)
  {
   int found = -1;  // the last one wins, as the twin's dict
   for(int k = 0; k < ArraySize(g_targets); k++)
      if(g_targets[k].symbol == sym && g_targets[k].otype == "")
         found = k;
   return found;
  }

int PosBySymbol(FPos &ps[], const string sym)
  {
   int found = -1;
   for(int i = 0; i < ArraySize(ps); i++)
      if(ps[i].symbol == sym)
         found = i;
   return found;
  }

//+------------------------------------------------------------------+
//| execution and reports                                            |
//+------------------------------------------------------------------+
ENUM_ORDER_TYPE_FILLING Filling(const string symbol)
  {
   long modes = SymbolInfoInteger(symbol, SYMBOL_FILLING_MODE);
   if((modes & SYMBOL_FILLING_FOK) != 0) return ORDER_FILLING_FOK;
   if((modes & SYMBOL_FILLING_IOC) != 0) return ORDER_FILLING_IOC;
   return ORDER_FILLING_RETURN;
  }

string Latency(const long received, const string sent, const string filled)
  {
   return "{\"master_ms\":" + g_master_ms + ",\"server_ms\":" + g_server_ms + ",\"received_ms\":" +
          IntegerToString(received) + ",\"sent_ms\":" + sent + ",\"filled_ms\":" + filled + "}";
  }

void Report(const FAction &a, const string status, const string reason, const string retcode,
            const string slippage, const string latency)
  {
   string r = "{\"master_id\":" + IntegerToString(MasterId) + ",\"report_id\":\"" + NewReportId() + "\"";
   r += ",\"status\":\"" + status + "\"";
   r += ",\"reason\":\"" + JsonEsc(StringSubstr(reason, 0, 200)) + "\"";
   r += ",\"target_id\":\"" + JsonEsc(StringSubstr(a.tid, 0, 80)) + "\",\"action\":\"" + a.kind + "\"";
   r += ",\"retcode\":" + retcode + ",\"slippage_points\":" + slippage + ",\"latency\":" + latency + "}";
   int n = ArraySize(g_unsent);
   ArrayResize(g_unsent, n + 1);
   g_unsent[n] = r;
   SaveUnsent();  // on disk before the next OrderSend: a crash loses no report
  }

//--- a report id (32 hex): the epoch ms, a per-run counter, the login and the run's
//--- microseconds; a resend with it is stored once by the server
string NewReportId()
  {
   g_report_seq++;
   return StringFormat("%012I64x%08I64x%08I64x%04I64x", NowMs() & 0xFFFFFFFFFFFF, g_report_seq & 0xFFFFFFFF,
                       AccountInfoInteger(ACCOUNT_LOGIN) & 0xFFFFFFFF, (long)GetMicrosecondCount() & 0xFFFF);
  }

//--- <StateFolder>\<f>-<m>\unsent.txt: the reports the server has not taken yet, one JSON
//--- a line, oldest first (written to a temporary file then moved; removed when empty)
void SaveUnsent()
  {
   string path = g_dir + "\\unsent.txt";
   if(ArraySize(g_unsent) == 0)
     {
      if(FileIsExist(path, 0) && !FileDelete(path, 0))
         Print("MtponteFollower: unsent.txt could not be removed (its reports are sent again, stored once)");
      return;
     }
   string s = "";
   for(int i = 0; i < ArraySize(g_unsent); i++)
      s += g_unsent[i] + "\n";
   if(!WriteFile(path, s))
      Print("MtponteFollower: unsent.txt could not be written (a crash now loses these reports)");
  }

void LoadUnsent()
  {
   ArrayFree(g_unsent);
   string text;
   if(!ReadFile(g_dir + "\\unsent.txt", text))
      return;
   string lines[];
   int n = StringSplit(text, '\n', lines);
   for(int i = 0; i < n; i++)
     {
      // a torn last line cannot be: the file is replaced whole
      if(StringLen(lines[i]) < 2 || StringGetCharacter(lines[i], 0) != '{')
         continue;
      int k = ArraySize(g_unsent);
      ArrayResize(g_unsent, k + 1);
      g_unsent[k] = lines[i];
     }
  }

//--- the reports the server has not taken yet, oldest first; false: retry later
bool SendReports()
  {
   int sent = 0;
   int n = ArraySize(g_unsent);
   while(sent < n && sent < 500)
     {
      int status = Http("POST", Base() + "/reports", g_unsent[sent], 5000);
      int rc = Outcome(status);
      if(rc == 0)
         break;
      if(rc < 0)
         PrintFormat("MtponteFollower: report refused (%s), dropped", g_last_error);
      sent++;
     }
   for(int i = sent; i < n; i++)
      g_unsent[i - sent] = g_unsent[i];
   ArrayResize(g_unsent, n - sent);
   if(sent > 0)
      SaveUnsent();
   return ArraySize(g_unsent) == 0 || sent > 0;
  }

void Do(const FAction &a, const long received)
  {
   if(a.kind == "skip" || a.kind == "wait")
     {
      if(!SetAdd(g_said, a.tid + "\t" + a.reason))
         return;
      PrintFormat("MtponteFollower: %s %s: %s", a.kind, a.tid, a.reason);
      Report(a, "skipped", a.reason, "null", "null", Latency(received, "null", "null"));
      return;
     }
   string tag = MTP_TAG + a.tid;
   MqlTradeRequest rq;
   MqlTradeResult res;
   ZeroMemory(rq);
   ZeroMemory(res);
   rq.magic = (ulong)Magic;
   rq.symbol = a.symbol;
   rq.deviation = (ulong)DeviationPoints;
   if(a.kind == "open")
     {
      rq.action = TRADE_ACTION_DEAL;
      rq.type = a.side > 0 ? ORDER_TYPE_BUY : ORDER_TYPE_SELL;
      rq.volume = a.volume;
      rq.price = a.side > 0 ? SymbolInfoDouble(a.symbol, SYMBOL_ASK) : SymbolInfoDouble(a.symbol, SYMBOL_BID);
      rq.sl = a.sl;
      rq.tp = a.tp;
      rq.type_filling = Filling(a.symbol);
      rq.comment = tag;
     }
   else if(a.kind == "limit")
     {
      rq.action = TRADE_ACTION_PENDING;
      rq.type = a.side > 0 ? ORDER_TYPE_BUY_LIMIT : ORDER_TYPE_SELL_LIMIT;
      rq.volume = a.volume;
      rq.price = a.price;
      rq.sl = a.sl;
      rq.tp = a.tp;
      rq.type_filling = ORDER_FILLING_RETURN;
      rq.type_time = ORDER_TIME_GTC;
      rq.comment = tag;
     }
   else if(a.kind == "place")
     {
      // a pending target's order: price and levels on the tick grid, volume on the lot
      // step; the expiry (UTC) in server time, GTC without one
      rq.action = TRADE_ACTION_PENDING;
      if(a.otype == "stop")
         rq.type = a.side > 0 ? ORDER_TYPE_BUY_STOP : ORDER_TYPE_SELL_STOP;
      else
         rq.type = a.side > 0 ? ORDER_TYPE_BUY_LIMIT : ORDER_TYPE_SELL_LIMIT;
      rq.volume = LotStep(a.symbol, a.volume);
      rq.price = Snap(a.symbol, a.price);
      rq.sl = Snap(a.symbol, a.sl);
      rq.tp = Snap(a.symbol, a.tp);
      rq.type_filling = ORDER_FILLING_RETURN;
      if(a.expiry > 0)
        {
         rq.type_time = ORDER_TIME_SPECIFIED;
         rq.expiration = (datetime)(a.expiry + ServerOffsetSeconds());
        }
      else
         rq.type_time = ORDER_TIME_GTC;
      rq.comment = tag;
     }
   else if(a.kind == "close" || a.kind == "reduce")
     {
      if(!PositionSelectByTicket(a.ticket))
        {
         Report(a, "failed", a.kind + ": retcode " + IntegerToString(TRADE_RETCODE_POSITION_CLOSED) +
                " position not found", IntegerToString(TRADE_RETCODE_POSITION_CLOSED), "null",
                Latency(received, "null", "null"));
         return;
        }
      int pside = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? 1 : -1;
      rq.action = TRADE_ACTION_DEAL;
      rq.position = a.ticket;
      rq.symbol = PositionGetString(POSITION_SYMBOL);
      rq.type = pside > 0 ? ORDER_TYPE_SELL : ORDER_TYPE_BUY;
      rq.volume = a.kind == "close" ? PositionGetDouble(POSITION_VOLUME) : a.volume;
      rq.price = pside > 0 ? SymbolInfoDouble(rq.symbol, SYMBOL_BID) : SymbolInfoDouble(rq.symbol, SYMBOL_ASK);
      rq.type_filling = Filling(rq.symbol);
      rq.comment = tag;
     }
   else if(a.kind == "modify")
     {
      rq.action = TRADE_ACTION_SLTP;
      rq.position = a.ticket;
      rq.sl = a.sl;
      rq.tp = a.tp;
     }
   else if(a.kind == "cancel")
     {
      rq.action = TRADE_ACTION_REMOVE;
      rq.order = a.ticket;
     }
   // our own cancel is recorded before it is sent, so it is never taken for the user's
   int was = a.kind == "cancel" ? SetFind(g_placed, a.tid) : -1;
   if(was >= 0)
     {
      SetRemoveAt(g_placed, was);
      SaveLedger();
     }
   long sent = NowMs();
   bool sent_ok = OrderSend(rq, res);
   long filled = NowMs();
   bool ok = sent_ok && (res.retcode == TRADE_RETCODE_DONE || res.retcode == TRADE_RETCODE_DONE_PARTIAL ||
                         res.retcode == TRADE_RETCODE_PLACED);
   if(was >= 0 && !ok)
     {
      SetAdd(g_placed, a.tid);  // working still, or its fate unknown: never placed twice
      SaveLedger();
     }
   if(ok && a.kind == "place")
     {
      SetAdd(g_placed, a.tid);
      SaveLedger();
     }
   if(ok && (a.kind == "open" || a.kind == "limit"))
     {
      SetAdd(g_opened, a.tid);
      // hedging: the position's ticket is its opening order's
      if(res.order > 0 && AccountInfoInteger(ACCOUNT_MARGIN_MODE) == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING)
         LedgerTicket(a.tid, StringFormat("%I64u", res.order));
      SaveLedger();
     }
   if(ok && a.kind == "place" && res.order > 0)
     {
      // its fill is found by DEAL_ORDER (netting: the position may carry another tag;
      // hedging: the position takes the order's ticket), also under a rewritten comment
      LedgerOrder(a.tid, StringFormat("%I64u", res.order));
      SaveLedger();
     }
   string reason = a.kind;
   if(ok)
     {
      for(int k = ArraySize(g_said) - 1; k >= 0; k--)
         if(StringFind(g_said[k], a.tid + "\t") == 0)
            SetRemoveAt(g_said, k);
     }
   else
     {
      reason = Trim(a.kind + ": retcode " + IntegerToString(res.retcode) + " " + res.comment);
      PrintFormat("MtponteFollower: %s %s failed: %s", a.kind, a.tid, reason);
     }
   string slippage = "null";
   if(ok && a.kind == "open" && a.price != 0 && res.price > 0)
     {
      int digits = (int)SymbolInfoInteger(a.symbol, SYMBOL_DIGITS);
      double pts = (res.price - a.price) * a.side / MathPow(10.0, -digits);
      slippage = DoubleToString(NormalizeDouble(pts, 3), 3);
     }
   Report(a, ok ? "copied" : "failed", reason, IntegerToString(res.retcode), slippage,
          Latency(received, IntegerToString(sent), IntegerToString(filled)));
  }
//+------------------------------------------------------------------+
