//+------------------------------------------------------------------+
//| MtponteBridge.mq5 — thin executor of the mtponte file bridge v1. |
//|                                                                  |
//| Mirrors src/mtponte/bridge/executor.py function by function      |
//| (ProcessInbox ↔ process_inbox, ...). Decisions live in Python:   |
//| this EA validates, journals, executes with CTrade and reports.   |
//| Protocol: docs/bridge-protocol.md; constants: Protocol.mqh       |
//| (generated from the Python models — never edit by hand).         |
//+------------------------------------------------------------------+
#property copyright "mtponte"
#property version   "1.00"
#property strict

#include <Mtponte\Protocol.mqh>
#include <Mtponte\Json.mqh>

//--- folder under MQL5\Files (or Common\Files)
input string BridgeFolder     = "mtponte";
input bool   UseCommonFolder  = false;
input int    TimerMs          = 10;       // MT5's timer floor is 10-16 ms
input int    StateEveryMs     = 1000;
input int    RecoverySettleMs = 3000;     // re-check history this long before "not executed"
input int    TimeoutGraceMs   = 5000;     // after a 10012 timeout, look for the tag this long (never re-sent)
input string BarsSubscriptions = "";      // e.g. "WIN$:M5,WDO$:M5" -> state\bars-WIN$-M5.json
input int    BarsCount        = 200;
//--- ExecutorLimits (same names and defaults as src/mtponte/bridge/checks.py)
input bool   LogOnly          = false;
input double MaxVolume        = 10.0;
input int    MaxPositions     = 1;
input string SymbolsAllowed   = "";       // comma-separated; empty = any
input double DailyLossLimit   = 0.0;      // money; 0 = off
input string TradingStart     = "";       // HH:MM server time; empty = always
input string TradingEnd       = "";
input int    DeadManMs        = 30000;    // 0 = off
input bool   RequireSl        = true;
input double SlTpMaxAtr       = 5.0;      // 0 = off
input int    AtrPeriod        = 14;
input ENUM_TIMEFRAMES AtrTimeframe = PERIOD_M5;
input int    FutureToleranceMs = 2000;
input long   Magic            = MTP_DEFAULT_MAGIC;

string g_root;
int    g_flags;
long   g_state_seq = 0;
ulong  g_last_state = 0;
string g_done_ids[];     // journal: finished ids
string g_done_results[]; // their result JSON
long   g_done_seqs[];
string g_exec_ids[];     // journal: ids journaled "executing" and not finished
string g_exec_cmds[];
int    g_lock = INVALID_HANDLE;  // journal\ea.lock, held while the EA runs
bool   g_journal_broken = false;  // a journal line could not be written: the EA stops
bool   g_recovered = false;  // interrupted commands resolved (after the terminal connected)
string g_pub_paths[];    // "to publish": files whose FileMove failed, retried every tick (review #18)
string g_pub_texts[];    // their latest content

struct Command
  {
   string id; long seq; long created_at; long ttl_ms; string kind; string symbol; string side;
   double volume; string order_type; double price; long expiry; double sl; double tp;
   string ticket; long deviation; long magic; string strategy; double confidence; string tag;
   string raw;
  };

//+------------------------------------------------------------------+
int OnInit()
  {
   if(!InputsValid()) return INIT_PARAMETERS_INCORRECT;  // review #31
   g_flags = UseCommonFolder ? FILE_COMMON : 0;
   g_root = BridgeFolder + "\\";
   FolderCreate(BridgeFolder, g_flags);
   FolderCreate(g_root + "inbox", g_flags);
   FolderCreate(g_root + "outbox", g_flags);
   FolderCreate(g_root + "state", g_flags);
   FolderCreate(g_root + "journal", g_flags);
   FolderCreate(g_root + "journal\\done", g_flags);
   FolderCreate(g_root + "journal\\rejected", g_flags);
   // one EA per bridge folder (review #7): a lock file held open, without sharing, for the EA's life
   g_lock = FileOpen(g_root + "journal\\ea.lock", FILE_WRITE | FILE_BIN | g_flags);
   if(g_lock == INVALID_HANDLE)
     {
      PrintFormat("another MtponteBridge holds %sjournal\\ea.lock: refusing to start", g_root);
      return INIT_FAILED;
     }
   ArrayFree(g_done_ids); ArrayFree(g_done_results); ArrayFree(g_done_seqs);  // OnInit again after a chart change (#29)
   ArrayFree(g_exec_ids); ArrayFree(g_exec_cmds);
   ArrayFree(g_pub_paths); ArrayFree(g_pub_texts);
   LoadJournal();
   g_recovered = false;  // Recover() runs from OnTimer once the terminal is connected (review #4)
   if(!EventSetMillisecondTimer(TimerMs)) { Print("cannot set the timer"); return INIT_FAILED; }
   return INIT_SUCCEEDED;
  }

//--- HH:MM with two-digit hours and minutes (string comparison relies on it), or empty
bool IsHhMm(const string t)
  {
   if(t == "") return true;
   if(StringLen(t) != 5 || StringGetCharacter(t, 2) != ':') return false;
   if(!IsDigits(StringSubstr(t, 0, 2), 2) || !IsDigits(StringSubstr(t, 3, 2), 2)) return false;
   return StringToInteger(StringSubstr(t, 0, 2)) < 24 && StringToInteger(StringSubstr(t, 3, 2)) < 60;
  }

bool InputsValid()
  {
   string bad = "";
   if(TimerMs <= 0) bad = "TimerMs";
   else if(StateEveryMs <= 0) bad = "StateEveryMs";
   else if(AtrPeriod <= 0) bad = "AtrPeriod";
   else if(MaxVolume <= 0) bad = "MaxVolume";
   else if(MaxPositions < 0) bad = "MaxPositions";
   else if(DeadManMs < 0) bad = "DeadManMs";
   else if(RecoverySettleMs < 0 || TimeoutGraceMs < 0) bad = "RecoverySettleMs/TimeoutGraceMs";
   else if(!IsHhMm(TradingStart) || !IsHhMm(TradingEnd) || (TradingStart == "") != (TradingEnd == "")) bad = "TradingStart/TradingEnd (HH:MM)";
   if(bad == "") return true;
   PrintFormat("invalid input %s", bad);
   return false;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
   if(g_lock != INVALID_HANDLE) FileClose(g_lock);
   g_lock = INVALID_HANDLE;
  }

//--- the terminal is connected and synchronised: positions, orders and history are real
bool TerminalReady()
  {
   return TerminalInfoInteger(TERMINAL_CONNECTED) != 0 && AccountInfoInteger(ACCOUNT_LOGIN) != 0 &&
          HistorySelect(TimeCurrent() - 86400, TimeCurrent() + 3600);
  }

void OnTimer()
  {
   RetryPublish();  // results that could not be published yet (review #18)
   if(!g_recovered)
     {
      // no inbox file is processed before every interrupted command is resolved
      if(TerminalReady())
        {
         Recover();
         g_recovered = true;
        }
     }
   if(g_recovered && !g_journal_broken) ProcessInbox();
   if(GetTickCount64() - g_last_state >= (ulong)StateEveryMs)
     {
      WriteState();
      g_last_state = GetTickCount64();
     }
  }

//+------------------------------------------------------------------+
//| NowMs: UTC epoch milliseconds (review #25). TimeGMT() has whole  |
//| seconds only, so GetTickCount64() carries the milliseconds; the   |
//| base is corrected whenever TimeGMT() is seen to tick (that        |
//| instant is a whole second), so the clock never lags UTC by more   |
//| than one timer period and never runs backwards.                   |
//+------------------------------------------------------------------+
long     g_clock_base_ms = 0;   // UTC ms at g_clock_base_tick
ulong    g_clock_base_tick = 0;
datetime g_clock_last_sec = 0;
long     g_clock_last = 0;

long NowMs()
  {
   ulong tick = GetTickCount64();
   datetime sec = TimeGMT();
   if(g_clock_base_tick == 0)
     {
      g_clock_base_ms = (long)sec * 1000;
      g_clock_base_tick = tick;
     }
   else if(sec != g_clock_last_sec)
     {
      long est = g_clock_base_ms + (long)(tick - g_clock_base_tick);
      long edge = (long)sec * 1000;  // TimeGMT() just ticked: true time is a little after edge
      if(est < edge || est > edge + 1000)
        {
         g_clock_base_ms = edge;
         g_clock_base_tick = tick;
        }
     }
   g_clock_last_sec = sec;
   long now = g_clock_base_ms + (long)(tick - g_clock_base_tick);
   if(now < g_clock_last) now = g_clock_last;
   g_clock_last = now;
   return now;
  }

//+------------------------------------------------------------------+
//| ProcessInbox ↔ process_inbox                                     |
//+------------------------------------------------------------------+
void ProcessInbox()
  {
   ApplyKillSwitch();
   string names[];
   string name;
   long h = FileFindFirst(g_root + "inbox\\*.json", name, g_flags);
   if(h == INVALID_HANDLE) return;
   do
     {
      if(StringGetCharacter(name, 0) != '.' && StringFind(name, ".tmp") < 0)
        {
         int n = ArraySize(names);
         ArrayResize(names, n + 1);
         names[n] = name;
        }
     }
   while(FileFindNext(h, name));
   FileFindClose(h);
   ArraySort(names);  // <seq:012d>-<id>.json: name order = seq order
   for(int i = 0; i < ArraySize(names) && !g_journal_broken; i++)
      ProcessFile(names[i]);
  }

//+------------------------------------------------------------------+
//| ProcessFile ↔ process_file                                       |
//+------------------------------------------------------------------+
void ProcessFile(const string name)
  {
   long seen = NowMs();
   Command cmd;
   string reason, message, cid;
   long seq;
   if(!ParseCommand(name, cmd, cid, seq, reason, message))
     {
      if(reason != "") Reject(name, cid, seq, reason, message, seen);
      return;
     }
   int done = FindDone(cmd.id);
   if(done >= 0)
     {
      if(g_done_seqs[done] != cmd.seq)
        {
         // duplicate id: the id's outbox file keeps the original result
         WriteFileAtomic(g_root + "journal\\rejected\\" + StringSubstr(name, 0, StringLen(name) - 5) + ".result.json",
                         ResultJson(cmd.id, cmd.seq, MTP_STATUS_REJECTED, MTP_REASON_DUPLICATE_ID,
                                    "id already used by another command", 0, 0, 0, 0, 0, 0, seen));
         Archive(name, "rejected");
        }
      else
        {
         Publish(cmd.id, g_done_results[done]);  // replay
         Archive(name, "done");
        }
      return;
     }
   int executing = FindExecuting(cmd.id);
   if(executing >= 0)
     {
      // resolve what was journaled, never the new file's payload; another seq is a
      // duplicate id (review #22)
      Command journaled;
      if(ParseJournaled(g_exec_cmds[executing], journaled))
        {
         if(journaled.seq != cmd.seq)
           {
            WriteFileAtomic(g_root + "journal\\rejected\\" + StringSubstr(name, 0, StringLen(name) - 5) + ".result.json",
                            ResultJson(cmd.id, cmd.seq, MTP_STATUS_REJECTED, MTP_REASON_DUPLICATE_ID,
                                       "id already used by another command", 0, 0, 0, 0, 0, 0, seen));
            Archive(name, "rejected");
            return;
           }
         Finish(name, journaled, Resolve(journaled, seen));
         return;
        }
      Finish(name, cmd, Resolve(cmd, seen));
      return;
     }
   if(!CheckCommand(cmd, reason, message))
     {
      string res = ResultJson(cmd.id, cmd.seq, MTP_STATUS_REJECTED, reason, message, 0, 0, 0, 0, 0, 0, seen);
      JournalDone(cmd.id, cmd.seq, res);
      WriteResult(cmd.id, res);
      Archive(name, "rejected");
      return;
     }
   if(LogOnly)
     {
      PrintFormat("log_only %s %s", cmd.id, cmd.raw);
      string res = ResultJson(cmd.id, cmd.seq, MTP_STATUS_DRY_RUN, "", "log_only: validated, not sent",
                              0, 0, 0, 0, 0, 0, seen);
      JournalDone(cmd.id, cmd.seq, res);
      WriteResult(cmd.id, res);
      Archive(name, "done");
      return;
     }
   if(!JournalBegin(cmd)) return;  // durable before acting: no record, no order (the EA stops)
   WriteResult(cmd.id, ResultJson(cmd.id, cmd.seq, MTP_STATUS_ACCEPTED, "", "", 0, 0, 0, 0, 0, 0, seen, false));
   if(NowMs() > cmd.created_at + cmd.ttl_ms)  // the TTL again, just before sending: never executed late
     {
      Finish(name, cmd, ResultJson(cmd.id, cmd.seq, MTP_STATUS_REJECTED, MTP_REASON_EXPIRED, "expired before it could be sent",
                                   0, 0, 0, 0, 0, 0, seen));
      return;
     }
   PrintFormat("execute %s %s strategy=%s confidence=%.2f", cmd.kind, cmd.id, cmd.strategy, cmd.confidence);
   MqlTradeResult tr;
   string pre = Execute(cmd, tr);
   string res;
   if(tr.retcode == TRADE_RETCODE_TIMEOUT) res = SettleTimeout(cmd, seen);
   else if(pre == "" && (cmd.kind == MTP_KIND_OPEN || cmd.kind == MTP_KIND_CLOSE) &&
           (tr.retcode == TRADE_RETCODE_PLACED || (tr.retcode == TRADE_RETCODE_DONE && tr.deal == 0)))
      res = AwaitDeals(cmd, tr, seen);  // exchange execution: the deal comes after the answer (review #17)
   else res = TradeResultJson(cmd, tr, pre, seen);
   Finish(name, cmd, res);
  }

//+------------------------------------------------------------------+
//| ParseCommand ↔ parse_command (same reasons, same order)           |
//+------------------------------------------------------------------+
bool ParseCommand(const string name, Command &cmd, string &cid, long &seq, string &reason, string &message)
  {
   // name: 12 digits, '-', 36-character uuid, ".json"
   bool name_ok = StringLen(name) == 54 && StringSubstr(name, 12, 1) == "-";
   cid = name_ok ? StringSubstr(name, 13, 36) : StringSubstr(name, 0, StringLen(name) - 5);
   seq = name_ok ? StringToInteger(StringSubstr(name, 0, 12)) : -1;
   uchar bytes[];
   int fh = FileOpen(g_root + "inbox\\" + name, FILE_READ | FILE_BIN | g_flags);
   // held by another process (antivirus, indexer) or gone: try again next tick, never reject (review #18)
   if(fh == INVALID_HANDLE) { reason = ""; message = "cannot open"; return false; }
   int n = (int)FileSize(fh);
   FileReadArray(fh, bytes, 0, n);
   FileClose(fh);
   if(!Utf8Valid(bytes, n)) { reason = MTP_REASON_INVALID_UTF8; message = "not UTF-8"; return false; }
   string text = CharArrayToString(bytes, 0, n, CP_UTF8);
   CJsonObject o;
   string err;
   if(!JsonParseFlat(text, o, err)) { reason = MTP_REASON_INVALID_JSON; message = err; return false; }
   if(!IsIntLiteral(o, "v") || o.Long("v") != MTP_PROTOCOL_VERSION)
     { reason = MTP_REASON_UNKNOWN_VERSION; message = "protocol version " + o.Str("v"); return false; }
   string kind = o.Str(MTP_CMD_F_KIND);
   if(o.Type(MTP_CMD_F_KIND) != JSON_STRING ||
      (kind != MTP_KIND_OPEN && kind != MTP_KIND_PLACE && kind != MTP_KIND_CANCEL && kind != MTP_KIND_CLOSE &&
       kind != MTP_KIND_MODIFY && kind != MTP_KIND_CLOSE_ALL && kind != MTP_KIND_PING))
     { reason = MTP_REASON_UNKNOWN_KIND; message = "unknown kind " + kind; return false; }
   reason = MTP_REASON_INVALID_FIELD;
   // every field the protocol defines; anything else is refused (extra="forbid")
   string known[] = {MTP_CMD_F_V, MTP_CMD_F_ID, MTP_CMD_F_SEQ, MTP_CMD_F_CREATED_AT, MTP_CMD_F_TTL_MS,
                     MTP_CMD_F_KIND, MTP_CMD_F_SYMBOL, MTP_CMD_F_SIDE, MTP_CMD_F_VOLUME, MTP_CMD_F_ORDER_TYPE,
                     MTP_CMD_F_PRICE, MTP_CMD_F_EXPIRY, MTP_CMD_F_SL, MTP_CMD_F_TP, MTP_CMD_F_TICKET,
                     MTP_CMD_F_MAX_DEVIATION_POINTS, MTP_CMD_F_MAGIC, MTP_CMD_F_COMMENT, MTP_CMD_F_STRATEGY,
                     MTP_CMD_F_CONFIDENCE};
   for(int k = 0; k < ArraySize(o.keys); k++)
     {
      bool ok = false;
      for(int j = 0; j < ArraySize(known); j++) if(o.keys[k] == known[j]) ok = true;
      if(!ok) { message = o.keys[k] + ": extra field"; return false; }
     }
   if(o.Type(MTP_CMD_F_ID) != JSON_STRING || !IsUuid4(o.Str(MTP_CMD_F_ID))) { message = "id: not a canonical uuid4"; return false; }
   if(!IsIntLiteral(o, MTP_CMD_F_SEQ) || o.Long(MTP_CMD_F_SEQ) < 0 || o.Long(MTP_CMD_F_SEQ) > 999999999999)
     { message = "seq"; return false; }
   // integer fields are integer literals: 600000.0 is not an int (strict, like the twin)
   string ints[] = {MTP_CMD_F_CREATED_AT, MTP_CMD_F_TTL_MS, MTP_CMD_F_EXPIRY, MTP_CMD_F_MAX_DEVIATION_POINTS, MTP_CMD_F_MAGIC};
   for(int k = 0; k < ArraySize(ints); k++)
      if(o.Has(ints[k]) && !IsIntLiteral(o, ints[k])) { message = ints[k] + ": not an integer"; return false; }
   // the pydantic model's ranges, field by field (review #28)
   if(!NumberIn(o, MTP_CMD_F_TTL_MS, 1, 86400000)) { message = "ttl_ms"; return false; }
   if(!NumberIn(o, MTP_CMD_F_MAX_DEVIATION_POINTS, 0, 100000)) { message = "max_deviation_points"; return false; }
   if(!NumberIn(o, MTP_CMD_F_MAGIC, 0, 9.2e18)) { message = "magic"; return false; }
   if(!NumberIn(o, MTP_CMD_F_CONFIDENCE, 0, 1)) { message = "confidence"; return false; }
   if(!NumberIn(o, MTP_CMD_F_EXPIRY, 1, 9.2e18)) { message = "expiry"; return false; }
   if(!NumberIn(o, MTP_CMD_F_PRICE, 1e-300, 1e300)) { message = "price"; return false; }
   if(!NumberIn(o, MTP_CMD_F_SL, 1e-300, 1e300)) { message = "sl"; return false; }
   if(!NumberIn(o, MTP_CMD_F_TP, 1e-300, 1e300)) { message = "tp"; return false; }
   if(!NumberIn(o, MTP_CMD_F_VOLUME, 1e-300, 1e300)) { message = "volume"; return false; }
   if(!StringIn(o, MTP_CMD_F_SYMBOL, 1, 32)) { message = "symbol"; return false; }
   if(!StringIn(o, MTP_CMD_F_STRATEGY, 0, 64)) { message = "strategy"; return false; }
   if(!StringIn(o, MTP_CMD_F_COMMENT, 0, 31)) { message = "comment"; return false; }
   if(o.Has(MTP_CMD_F_TICKET) && (o.Type(MTP_CMD_F_TICKET) != JSON_STRING || !IsDigits(o.Str(MTP_CMD_F_TICKET), 20)))
     { message = "ticket"; return false; }
   if(o.Has(MTP_CMD_F_ORDER_TYPE) && o.Str(MTP_CMD_F_ORDER_TYPE) != MTP_ORDER_STOP && o.Str(MTP_CMD_F_ORDER_TYPE) != MTP_ORDER_LIMIT)
     { message = "order_type"; return false; }
   if(o.Type(MTP_CMD_F_CREATED_AT) != JSON_NUMBER || o.Long(MTP_CMD_F_CREATED_AT) <= 0) { message = "created_at"; return false; }
   cmd.id = o.Str(MTP_CMD_F_ID);
   cmd.seq = o.Long(MTP_CMD_F_SEQ);
   cmd.created_at = o.Long(MTP_CMD_F_CREATED_AT);
   cmd.ttl_ms = o.Has(MTP_CMD_F_TTL_MS) ? o.Long(MTP_CMD_F_TTL_MS) : MTP_DEFAULT_TTL_MS;
   cmd.kind = kind;
   cmd.symbol = o.Str(MTP_CMD_F_SYMBOL);
   cmd.side = o.Str(MTP_CMD_F_SIDE);
   cmd.volume = o.Has(MTP_CMD_F_VOLUME) ? o.Num(MTP_CMD_F_VOLUME) : 0;
   cmd.order_type = o.Str(MTP_CMD_F_ORDER_TYPE);
   cmd.price = o.Has(MTP_CMD_F_PRICE) ? o.Num(MTP_CMD_F_PRICE) : 0;
   cmd.expiry = o.Has(MTP_CMD_F_EXPIRY) ? o.Long(MTP_CMD_F_EXPIRY) : 0;
   cmd.sl = o.Has(MTP_CMD_F_SL) ? o.Num(MTP_CMD_F_SL) : 0;
   cmd.tp = o.Has(MTP_CMD_F_TP) ? o.Num(MTP_CMD_F_TP) : 0;
   cmd.ticket = o.Str(MTP_CMD_F_TICKET);
   cmd.deviation = o.Has(MTP_CMD_F_MAX_DEVIATION_POINTS) ? o.Long(MTP_CMD_F_MAX_DEVIATION_POINTS) : MTP_DEFAULT_DEVIATION_POINTS;
   cmd.magic = o.Has(MTP_CMD_F_MAGIC) ? o.Long(MTP_CMD_F_MAGIC) : MTP_DEFAULT_MAGIC;
   cmd.strategy = o.Str(MTP_CMD_F_STRATEGY);
   cmd.confidence = o.Num(MTP_CMD_F_CONFIDENCE);
   cmd.tag = Tag(cmd.id);
   cmd.raw = text;
   if(cmd.ttl_ms <= 0) { message = "ttl_ms"; return false; }
   if(o.Has(MTP_CMD_F_VOLUME) && (o.Type(MTP_CMD_F_VOLUME) != JSON_NUMBER || !(cmd.volume > 0))) { message = "volume"; return false; }
   if(o.Has(MTP_CMD_F_SIDE) && cmd.side != "buy" && cmd.side != "sell") { message = "side"; return false; }
   if(o.Has(MTP_CMD_F_SL) && !(cmd.sl > 0)) { message = "sl"; return false; }
   if(o.Has(MTP_CMD_F_TP) && !(cmd.tp > 0)) { message = "tp"; return false; }
   if(o.Has(MTP_CMD_F_COMMENT) && o.Str(MTP_CMD_F_COMMENT) != cmd.tag) { message = "comment"; return false; }
   if((kind == MTP_KIND_OPEN || kind == MTP_KIND_PLACE) && (cmd.symbol == "" || cmd.side == "" || cmd.volume <= 0))
     { message = kind + " needs symbol, side, volume"; return false; }
   if(kind == MTP_KIND_PLACE && (cmd.price <= 0 || cmd.expiry <= 0 ||
      (cmd.order_type != MTP_ORDER_STOP && cmd.order_type != MTP_ORDER_LIMIT)))
     { message = "place needs order_type, price, expiry"; return false; }
   if((kind == MTP_KIND_CANCEL || kind == MTP_KIND_CLOSE || kind == MTP_KIND_MODIFY) && cmd.ticket == "")
     { message = kind + " needs ticket"; return false; }
   if(kind == MTP_KIND_MODIFY && cmd.sl <= 0 && cmd.tp <= 0) { message = "modify needs sl or tp"; return false; }
   if(!name_ok || cmd.id != cid || cmd.seq != seq)
     { reason = MTP_REASON_INVALID_NAME; message = "file name does not match seq and id"; return false; }
   return true;
  }

//--- a present (non-null) field is a number within [lo, hi]
bool NumberIn(const CJsonObject &o, const string key, const double lo, const double hi)
  {
   if(!o.Has(key)) return true;
   if(o.Type(key) != JSON_NUMBER) return false;
   double v = o.Num(key);
   return v >= lo && v <= hi;
  }

//--- a present (non-null) field is a string of lo..hi characters
bool StringIn(const CJsonObject &o, const string key, const int lo, const int hi)
  {
   if(!o.Has(key)) return true;
   if(o.Type(key) != JSON_STRING) return false;
   int n = StringLen(o.Str(key));
   return n >= lo && n <= hi;
  }

//--- a JSON number written as an integer (optional minus, digits only)
bool IsIntLiteral(const CJsonObject &o, const string key)
  {
   if(o.Type(key) != JSON_NUMBER) return false;
   string lit = o.Str(key);
   if(StringGetCharacter(lit, 0) == '-') lit = StringSubstr(lit, 1);
   return IsDigits(lit, 19);
  }

bool IsDigits(const string s, const int maxlen)
  {
   int n = StringLen(s);
   if(n < 1 || n > maxlen) return false;
   for(int i = 0; i < n; i++)
     {
      ushort c = StringGetCharacter(s, i);
      if(c < '0' || c > '9') return false;
     }
   return true;
  }

//--- lower-case canonical uuid4 (8-4-4-4-12 hex, version 4, variant 8/9/a/b)
bool IsUuid4(const string id)
  {
   if(StringLen(id) != 36) return false;
   for(int i = 0; i < 36; i++)
     {
      ushort c = StringGetCharacter(id, i);
      if(i == 8 || i == 13 || i == 18 || i == 23)
        {
         if(c != '-') return false;
        }
      else if(!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
     }
   ushort r = StringGetCharacter(id, 19);
   return StringGetCharacter(id, 14) == '4' && (r == '8' || r == '9' || r == 'a' || r == 'b');
  }

string Tag(const string id)
  {
   string hex = id;
   StringReplace(hex, "-", "");
   return MTP_TAG_PREFIX + StringSubstr(hex, 0, 20);
  }

//+------------------------------------------------------------------+
//| CheckCommand ↔ checks.check_command (same list, same order)      |
//+------------------------------------------------------------------+
bool CheckCommand(const Command &cmd, string &reason, string &message)
  {
   long now = NowMs();
   if(now > cmd.created_at + cmd.ttl_ms) { reason = MTP_REASON_EXPIRED; message = "expired"; return false; }
   if(cmd.created_at > now + FutureToleranceMs) { reason = MTP_REASON_FUTURE_TIMESTAMP; message = "created in the future"; return false; }
   if(KillSwitchActive()) { reason = MTP_REASON_KILL_SWITCH; message = "kill switch is active"; return false; }
   if(cmd.symbol != "")
     {
      if(!SymbolSelect(cmd.symbol, true)) { reason = MTP_REASON_UNKNOWN_SYMBOL; message = cmd.symbol; return false; }
      if(SymbolsAllowed != "" && StringFind("," + SymbolsAllowed + ",", "," + cmd.symbol + ",") < 0)
        { reason = MTP_REASON_SYMBOL_NOT_ALLOWED; message = cmd.symbol; return false; }
     }
   if(cmd.volume > 0)
     {
      double step = SymbolInfoDouble(cmd.symbol, SYMBOL_VOLUME_STEP);
      double vmin = SymbolInfoDouble(cmd.symbol, SYMBOL_VOLUME_MIN);
      double vmax = SymbolInfoDouble(cmd.symbol, SYMBOL_VOLUME_MAX);
      if(cmd.symbol != "" && (cmd.volume < vmin - 1e-9 || cmd.volume > vmax + 1e-9 ||
         MathAbs(cmd.volume / step - MathRound(cmd.volume / step)) > 1e-6))
        { reason = MTP_REASON_INVALID_VOLUME; message = DoubleToString(cmd.volume, 2); return false; }
      if(cmd.volume > MaxVolume) { reason = MTP_REASON_MAX_VOLUME; message = DoubleToString(cmd.volume, 2); return false; }
     }
   if(cmd.kind != MTP_KIND_OPEN && cmd.kind != MTP_KIND_PLACE) return true;
   int sign = cmd.side == "buy" ? 1 : -1;
   double ref = cmd.kind == MTP_KIND_PLACE ? cmd.price :
                (cmd.price > 0 ? cmd.price : (sign > 0 ? SymbolInfoDouble(cmd.symbol, SYMBOL_ASK) : SymbolInfoDouble(cmd.symbol, SYMBOL_BID)));
   if(RequireSl && cmd.sl <= 0) { reason = MTP_REASON_MISSING_SL; message = "entries must carry a stop loss"; return false; }
   long order_mode = SymbolInfoInteger(cmd.symbol, SYMBOL_ORDER_MODE);
   if(cmd.sl > 0 && (order_mode & SYMBOL_ORDER_SL) == 0)  // it would be dropped or refused (review #11)
     { reason = MTP_REASON_MISSING_SL; message = cmd.symbol + " does not accept a stop loss on orders"; return false; }
   // a symbol without SYMBOL_EXPIRATION_SPECIFIED would turn the order into DAY (CTrade) or
   // refuse it (10022): refused before sending, never placed as DAY (review #9)
   if(cmd.kind == MTP_KIND_PLACE && (SymbolInfoInteger(cmd.symbol, SYMBOL_EXPIRATION_MODE) & SYMBOL_EXPIRATION_SPECIFIED) == 0)
     {
      reason = MTP_REASON_INVALID_FIELD;
      message = "expiry: " + cmd.symbol + " does not accept an expiry time (SYMBOL_EXPIRATION_MODE lacks SPECIFIED); not sent";
      return false;
     }
   // no quote (ref 0): the level checks are skipped, like the twin; the send reports no_quote (#32)
   if(ref > 0 && cmd.sl > 0 && (cmd.sl - ref) * sign >= 0) { reason = MTP_REASON_SL_WRONG_SIDE; message = "SL"; return false; }
   if(ref > 0 && cmd.tp > 0 && (cmd.tp - ref) * sign <= 0) { reason = MTP_REASON_TP_WRONG_SIDE; message = "TP"; return false; }
   double atr = Atr(cmd.symbol);
   if(SlTpMaxAtr > 0 && atr > 0 && ref > 0)
     {
      if((cmd.sl > 0 && MathAbs(cmd.sl - ref) > SlTpMaxAtr * atr + 1e-9) ||
         (cmd.tp > 0 && MathAbs(cmd.tp - ref) > SlTpMaxAtr * atr + 1e-9))
        { reason = MTP_REASON_SL_TP_TOO_FAR; message = "SL/TP too far"; return false; }
     }
   long age = PythonHeartbeatAgeMs();
   if(DeadManMs > 0 && (age < 0 || age > DeadManMs)) { reason = MTP_REASON_DEAD_MAN; message = "python heartbeat"; return false; }
   if(TradingStart != "" && TradingEnd != "")
     {
      string hm = TimeToString(TimeCurrent(), TIME_MINUTES);
      if(hm < TradingStart || hm > TradingEnd) { reason = MTP_REASON_OUTSIDE_TRADING_HOURS; message = hm; return false; }
     }
   if(OurPositions() >= MaxPositions) { reason = MTP_REASON_MAX_POSITIONS; message = "max positions"; return false; }
   // netting/exchange: one position per symbol; an entry would merge into (or reverse) a
   // position someone else opened (review #12)
   if(AccountInfoInteger(ACCOUNT_MARGIN_MODE) != ACCOUNT_MARGIN_MODE_RETAIL_HEDGING && ForeignPosition(cmd.symbol))
     { reason = MTP_REASON_MAX_POSITIONS; message = "netting: " + cmd.symbol + " has a position with another magic"; return false; }
   if(DailyLossLimit > 0 && DailyPnl() <= -DailyLossLimit) { reason = MTP_REASON_DAILY_LOSS_LIMIT; message = "daily loss"; return false; }
   return true;
  }

double Atr(const string symbol)
  {
   MqlRates r[];
   if(CopyRates(symbol, AtrTimeframe, 1, AtrPeriod + 1, r) < AtrPeriod + 1) return 0;
   double s = 0;
   for(int i = 1; i <= AtrPeriod; i++)
      s += MathMax(r[i].high - r[i].low, MathMax(MathAbs(r[i].high - r[i - 1].close), MathAbs(r[i].low - r[i - 1].close)));
   return s / AtrPeriod;
  }

bool ForeignPosition(const string symbol)
  {
   for(int i = PositionsTotal() - 1; i >= 0; i--)
      if(PositionGetTicket(i) > 0 && PositionGetString(POSITION_SYMBOL) == symbol && PositionGetInteger(POSITION_MAGIC) != Magic)
         return true;
   return false;
  }

int OurPositions()
  {
   int n = 0;
   for(int i = PositionsTotal() - 1; i >= 0; i--)
      if(PositionGetTicket(i) > 0 && PositionGetInteger(POSITION_MAGIC) == Magic) n++;
   return n;
  }

double DailyPnl()
  {
   // today = since 00:00 server time; trades only: deposits, withdrawals and credit are
   // DEAL_TYPE_BALANCE/CREDIT deals whose profit is not P&L (review #15)
   MqlDateTime day;
   TimeToStruct(TimeTradeServer(), day);
   day.hour = 0;
   day.min = 0;
   day.sec = 0;
   datetime day0 = StructToTime(day);
   double pnl = 0;
   if(HistorySelect(day0, TimeTradeServer() + 60))
      for(int i = HistoryDealsTotal() - 1; i >= 0; i--)
        {
         ulong d = HistoryDealGetTicket(i);
         long type = HistoryDealGetInteger(d, DEAL_TYPE);
         if(type != DEAL_TYPE_BUY && type != DEAL_TYPE_SELL) continue;
         pnl += HistoryDealGetDouble(d, DEAL_PROFIT) + HistoryDealGetDouble(d, DEAL_COMMISSION) + HistoryDealGetDouble(d, DEAL_SWAP);
        }
   for(int i = PositionsTotal() - 1; i >= 0; i--)
      if(PositionGetTicket(i) > 0) pnl += PositionGetDouble(POSITION_PROFIT);
   return pnl;
  }

long PythonHeartbeatAgeMs()
  {
   int fh = FileOpen(g_root + "state\\python-heartbeat.json", FILE_READ | FILE_BIN | g_flags);
   if(fh == INVALID_HANDLE) return -1;
   uchar b[];
   int n = (int)FileSize(fh);
   FileReadArray(fh, b, 0, n);
   FileClose(fh);
   CJsonObject o;
   string err;
   if(!JsonParseFlat(CharArrayToString(b, 0, n, CP_UTF8), o, err)) return -1;
   if(o.Type("time") != JSON_NUMBER || o.Long("time") <= 0) return -1;
   long age = NowMs() - o.Long("time");
   return age < 0 ? 0 : age;  // written a moment ago (review #23): fresh, not "negative"
  }

//+------------------------------------------------------------------+
//| Execute ↔ execute (comment = the command's tag)                  |
//| Raw MqlTradeRequest, no CTrade: the result is zeroed before every |
//| request (no stale deal, review #2), closes and partial closes are |
//| tagged opposite deals naming the position (netting and hedging,   |
//| review #1 and #5), filling comes from the symbol (review #14).    |
//| Returns the protocol reason of a failure found before sending     |
//| ("" when a request was sent or nothing had to be sent).           |
//+------------------------------------------------------------------+
string Execute(const Command &cmd, MqlTradeResult &res)
  {
   MqlTradeRequest rq;
   ZeroMemory(rq);
   ZeroMemory(res);
   bool buy = cmd.side == "buy";
   if(cmd.kind == MTP_KIND_OPEN)
     {
      rq.action = TRADE_ACTION_DEAL;
      rq.symbol = cmd.symbol;
      rq.volume = cmd.volume;
      rq.type = buy ? ORDER_TYPE_BUY : ORDER_TYPE_SELL;
      rq.price = SymbolInfoDouble(cmd.symbol, buy ? SYMBOL_ASK : SYMBOL_BID);
      // Slippage protection (review #10): on exchange and market execution MT5 ignores
      // the request's deviation, so the EA compares the market with the command's price
      // itself, in points (SYMBOL_POINT), and answers as the server would to a requote.
      double point = SymbolInfoDouble(cmd.symbol, SYMBOL_POINT);
      if(cmd.price > 0 && point > 0 && MathAbs(rq.price - cmd.price) > cmd.deviation * point + 1e-9)
        {
         res.retcode = TRADE_RETCODE_REQUOTE;
         res.comment = "price moved to " + DoubleToString(rq.price, (int)SymbolInfoInteger(cmd.symbol, SYMBOL_DIGITS)) +
                       ", beyond " + IntegerToString(cmd.deviation) + " points of " +
                       DoubleToString(cmd.price, (int)SymbolInfoInteger(cmd.symbol, SYMBOL_DIGITS));
         return "";
        }
      rq.sl = Snap(cmd.symbol, cmd.sl);  // on the tick grid (review #16)
      rq.tp = Snap(cmd.symbol, cmd.tp);
      // netting: an entry's levels replace its position's (zero deletes them); a level the
      // command omits keeps the position's own when the entry grows it (review #12)
      if(AccountInfoInteger(ACCOUNT_MARGIN_MODE) != ACCOUNT_MARGIN_MODE_RETAIL_HEDGING && PositionSelect(cmd.symbol) &&
         PositionGetInteger(POSITION_TYPE) == (buy ? POSITION_TYPE_BUY : POSITION_TYPE_SELL))
        {
         if(cmd.sl <= 0) rq.sl = PositionGetDouble(POSITION_SL);
         if(cmd.tp <= 0) rq.tp = PositionGetDouble(POSITION_TP);
        }
      rq.deviation = (ulong)cmd.deviation;
      rq.magic = (ulong)Magic;  // the magic the kill switch and limits count (review #8)
      rq.comment = cmd.tag;
      rq.type_filling = Filling(cmd.symbol);
     }
   else if(cmd.kind == MTP_KIND_PLACE)
     {
      rq.action = TRADE_ACTION_PENDING;
      rq.symbol = cmd.symbol;
      rq.volume = cmd.volume;
      if(cmd.order_type == MTP_ORDER_STOP) rq.type = buy ? ORDER_TYPE_BUY_STOP : ORDER_TYPE_SELL_STOP;
      else rq.type = buy ? ORDER_TYPE_BUY_LIMIT : ORDER_TYPE_SELL_LIMIT;
      rq.price = Snap(cmd.symbol, cmd.price);
      rq.sl = Snap(cmd.symbol, cmd.sl);
      rq.tp = Snap(cmd.symbol, cmd.tp);
      rq.type_time = ORDER_TIME_SPECIFIED;
      rq.expiration = (datetime)(cmd.expiry / 1000 + ServerOffsetSeconds());  // UTC ms -> server time (review #9)
      rq.magic = (ulong)Magic;  // the magic the kill switch and limits count (review #8)
      rq.comment = cmd.tag;
      rq.type_filling = ORDER_FILLING_RETURN;
     }
   else if(cmd.kind == MTP_KIND_CANCEL)
     {
      ulong t = (ulong)StringToInteger(cmd.ticket);
      if(!OrderSelect(t)) return MTP_REASON_NO_SUCH_ORDER;
      rq.action = TRADE_ACTION_REMOVE;
      rq.order = t;
     }
   else if(cmd.kind == MTP_KIND_CLOSE)
     {
      ulong t = (ulong)StringToInteger(cmd.ticket);
      if(!PositionSelectByTicket(t)) return MTP_REASON_NO_SUCH_POSITION;
      double pv = PositionGetDouble(POSITION_VOLUME);
      CloseRequest(rq, t, cmd.volume > 0 && cmd.volume < pv ? cmd.volume : pv, (ulong)cmd.deviation, cmd.tag);
     }
   else if(cmd.kind == MTP_KIND_MODIFY)
     {
      ulong t = (ulong)StringToInteger(cmd.ticket);
      if(!PositionSelectByTicket(t)) return MTP_REASON_NO_SUCH_POSITION;
      rq.action = TRADE_ACTION_SLTP;
      rq.position = t;
      rq.symbol = PositionGetString(POSITION_SYMBOL);
      rq.sl = cmd.sl > 0 ? Snap(rq.symbol, cmd.sl) : PositionGetDouble(POSITION_SL);
      rq.tp = cmd.tp > 0 ? Snap(rq.symbol, cmd.tp) : PositionGetDouble(POSITION_TP);
     }
   else if(cmd.kind == MTP_KIND_CLOSE_ALL)
     {
      res.retcode = CloseAll(cmd.symbol, cmd.tag) ? TRADE_RETCODE_DONE : TRADE_RETCODE_REJECT;
      res.comment = res.retcode == TRADE_RETCODE_DONE ? "closed all" : "some positions could not be closed";
      return "";
     }
   else
     {
      res.retcode = TRADE_RETCODE_DONE;  // ping
      res.comment = "pong";
      return "";
     }
   if(!OrderSend(rq, res) && res.retcode == 0)
      res.retcode = TRADE_RETCODE_ERROR;
   if(cmd.kind == MTP_KIND_PLACE && (res.retcode == TRADE_RETCODE_DONE || res.retcode == TRADE_RETCODE_PLACED) && res.order > 0)
      CheckExpiry(rq, res);
   return "";
  }

//--- review #9: read the placed order back; one that does not expire by the time asked
//--- (another ORDER_TYPE_TIME, no or a later ORDER_TIME_EXPIRATION) is cancelled and the
//--- result is a failure (10022), never a pending order that outlives its expiry
void CheckExpiry(const MqlTradeRequest &rq, MqlTradeResult &res)
  {
   if(!OrderSelect(res.order)) return;  // already triggered or gone
   long tt = OrderGetInteger(ORDER_TYPE_TIME);
   datetime exp = (datetime)OrderGetInteger(ORDER_TIME_EXPIRATION);
   if(tt == ORDER_TIME_SPECIFIED && exp > 0 && exp <= rq.expiration) return;
   ulong order = res.order;
   MqlTradeRequest cq;
   MqlTradeResult cr;
   ZeroMemory(cq);
   ZeroMemory(cr);
   cq.action = TRADE_ACTION_REMOVE;
   cq.order = order;
   bool removed = OrderSend(cq, cr) && cr.retcode == TRADE_RETCODE_DONE;
   string got = "order " + IntegerToString((long)order) + " placed with type_time " + IntegerToString(tt) + " and expiration " +
                TimeToString(exp) + " instead of " + TimeToString(rq.expiration) + " (server time): ";
   ZeroMemory(res);
   res.retcode = TRADE_RETCODE_INVALID_EXPIRATION;
   res.comment = got + (removed ? "cancelled" : "cancelling it FAILED: cancel it in the terminal");
   PrintFormat("%s", res.comment);
  }

//--- an opposite deal naming the position: a full or partial close on any account
void CloseRequest(MqlTradeRequest &rq, const ulong ticket, const double volume, const ulong deviation, const string tag)
  {
   string sym = PositionGetString(POSITION_SYMBOL);
   bool buy = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
   rq.action = TRADE_ACTION_DEAL;
   rq.position = ticket;
   rq.symbol = sym;
   rq.volume = volume;
   rq.type = buy ? ORDER_TYPE_SELL : ORDER_TYPE_BUY;
   rq.price = SymbolInfoDouble(sym, buy ? SYMBOL_BID : SYMBOL_ASK);
   rq.deviation = deviation;
   rq.magic = (ulong)PositionGetInteger(POSITION_MAGIC);
   rq.comment = tag;
   rq.type_filling = Filling(sym);
  }

//--- a price on the symbol's tick grid, with its digits (0 stays 0)
double Snap(const string symbol, const double p)
  {
   if(p <= 0) return 0;
   double tick = SymbolInfoDouble(symbol, SYMBOL_TRADE_TICK_SIZE);
   int digits = (int)SymbolInfoInteger(symbol, SYMBOL_DIGITS);
   if(tick <= 0) return NormalizeDouble(p, digits);
   return NormalizeDouble(MathRound(p / tick) * tick, digits);
  }

//--- FOK or IOC when the symbol allows one, else RETURN (exchange execution)
ENUM_ORDER_TYPE_FILLING Filling(const string symbol)
  {
   long modes = SymbolInfoInteger(symbol, SYMBOL_FILLING_MODE);
   if((modes & SYMBOL_FILLING_FOK) != 0) return ORDER_FILLING_FOK;
   if((modes & SYMBOL_FILLING_IOC) != 0) return ORDER_FILLING_IOC;
   return ORDER_FILLING_RETURN;
  }

//--- TimeTradeServer() - TimeGMT(), rounded to 15 minutes
long ServerOffsetSeconds()
  {
   long d = (long)(TimeTradeServer() - TimeGMT());
   return (long)MathRound(d / 900.0) * 900;
  }

//+------------------------------------------------------------------+
//| CloseAll / ApplyKillSwitch ↔ close_all / apply_kill_switch       |
//+------------------------------------------------------------------+
bool CloseAll(const string symbol, const string tag)
  {
   bool ok = true;
   for(int i = OrdersTotal() - 1; i >= 0; i--)
     {
      ulong t = OrderGetTicket(i);
      if(t > 0 && OrderGetInteger(ORDER_MAGIC) == Magic && (symbol == "" || OrderGetString(ORDER_SYMBOL) == symbol))
        {
         MqlTradeRequest rq;
         MqlTradeResult rs;
         ZeroMemory(rq);
         ZeroMemory(rs);
         rq.action = TRADE_ACTION_REMOVE;
         rq.order = t;
         if(!OrderSend(rq, rs)) ok = false;
        }
     }
   for(int i = PositionsTotal() - 1; i >= 0; i--)
     {
      ulong t = PositionGetTicket(i);
      if(t > 0 && PositionGetInteger(POSITION_MAGIC) == Magic && (symbol == "" || PositionGetString(POSITION_SYMBOL) == symbol))
        {
         MqlTradeRequest rq;
         MqlTradeResult rs;
         ZeroMemory(rq);
         ZeroMemory(rs);
         CloseRequest(rq, t, PositionGetDouble(POSITION_VOLUME), 10000, tag);
         if(!OrderSend(rq, rs)) ok = false;
        }
     }
   return ok;
  }

bool KillSwitchActive() { return FileIsExist(g_root + "KILL_SWITCH", g_flags); }

ulong g_last_kill = 0;
void ApplyKillSwitch()
  {
   if(!KillSwitchActive() || (g_last_kill > 0 && GetTickCount64() - g_last_kill < 1000)) return;  // at most once a second
   if(OurPositions() > 0 || OurOrders() > 0)
     {
      g_last_kill = GetTickCount64();
      Print("KILL SWITCH ACTIVE: closing all positions");
      CloseAll("", MTP_TAG_PREFIX + "kill");
     }
  }

int OurOrders()
  {
   int n = 0;
   for(int i = OrdersTotal() - 1; i >= 0; i--)
      if(OrderGetTicket(i) > 0 && OrderGetInteger(ORDER_MAGIC) == Magic) n++;
   return n;
  }
//+------------------------------------------------------------------+
//| Recover / Resolve ↔ recover / resolve: never a blind retry       |
//+------------------------------------------------------------------+
void Recover()
  {
   for(int i = (int)MathMax(0, ArraySize(g_done_ids) - 1000); i < ArraySize(g_done_ids); i++)
      Publish(g_done_ids[i], g_done_results[i]);  // missing or stale outbox files (the recent 1 000, like the twin)
   for(int i = ArraySize(g_exec_ids) - 1; i >= 0; i--)
     {
      Command cmd;
      string cid, reason, message;
      long seq;
      // re-parse the journaled copy (the inbox file may have been archived)
      if(!ParseJournaled(g_exec_cmds[i], cmd)) continue;
      Finish("", cmd, Resolve(cmd, NowMs()));
     }
  }

bool ParseJournaled(const string raw, Command &cmd)
  {
   CJsonObject o;
   string err;
   if(!JsonParseFlat(raw, o, err)) return false;
   cmd.id = o.Str(MTP_CMD_F_ID); cmd.seq = o.Long(MTP_CMD_F_SEQ); cmd.created_at = o.Long(MTP_CMD_F_CREATED_AT);
   cmd.ttl_ms = o.Long(MTP_CMD_F_TTL_MS); cmd.kind = o.Str(MTP_CMD_F_KIND); cmd.symbol = o.Str(MTP_CMD_F_SYMBOL);
   cmd.side = o.Str(MTP_CMD_F_SIDE); cmd.volume = o.Num(MTP_CMD_F_VOLUME); cmd.order_type = o.Str(MTP_CMD_F_ORDER_TYPE);
   cmd.price = o.Num(MTP_CMD_F_PRICE); cmd.expiry = o.Long(MTP_CMD_F_EXPIRY); cmd.sl = o.Num(MTP_CMD_F_SL);
   cmd.tp = o.Num(MTP_CMD_F_TP); cmd.ticket = o.Str(MTP_CMD_F_TICKET);
   cmd.deviation = o.Has(MTP_CMD_F_MAX_DEVIATION_POINTS) ? o.Long(MTP_CMD_F_MAX_DEVIATION_POINTS) : MTP_DEFAULT_DEVIATION_POINTS;
   cmd.magic = o.Has(MTP_CMD_F_MAGIC) ? o.Long(MTP_CMD_F_MAGIC) : MTP_DEFAULT_MAGIC;
   cmd.tag = Tag(cmd.id); cmd.raw = raw;
   return true;
  }

//--- the broker may append to a comment or cut it (review #6): a comment that starts
//--- with the tag, or a cut tag of at least "mtp:" + 12 hex digits, is ours
bool TagMatch(const string comment, const string tag)
  {
   if(comment == tag || StringFind(comment, tag) == 0) return true;
   return StringLen(comment) >= 16 && StringFind(tag, comment) == 0;
  }

//--- an open/close/place found by its tag among deals (or, pending, live orders) ↔ _find
string FindByTag(const Command &cmd, const long seen)
  {
   if(HistorySelect(TimeCurrent() - 7 * 86400, TimeCurrent() + 3600))
     {
      ulong first = 0;
      double vol = 0;
      for(int i = 0; i < HistoryDealsTotal(); i++)
        {
         ulong d = HistoryDealGetTicket(i);
         if(d > 0 && TagMatch(HistoryDealGetString(d, DEAL_COMMENT), cmd.tag))
           {
            if(first == 0) first = d;
            vol += HistoryDealGetDouble(d, DEAL_VOLUME);  // partial fills: every deal of the tag
           }
        }
      if(first > 0)
         return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FILLED, MTP_REASON_RECOVERED, "found in deals after a crash",
                           TRADE_RETCODE_DONE, (ulong)HistoryDealGetInteger(first, DEAL_POSITION_ID),
                           (ulong)HistoryDealGetInteger(first, DEAL_ORDER), first, HistoryDealGetDouble(first, DEAL_PRICE), vol, seen);
     }
   if(cmd.kind == MTP_KIND_PLACE && HistorySelect(TimeCurrent() - 7 * 86400, TimeCurrent() + 3600))
      for(int i = HistoryOrdersTotal() - 1; i >= 0; i--)
        {
         ulong t = HistoryOrderGetTicket(i);
         if(t > 0 && TagMatch(HistoryOrderGetString(t, ORDER_COMMENT), cmd.tag))  // placed, then expired or cancelled
            return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FILLED, MTP_REASON_RECOVERED, "found in history orders after a crash",
                              TRADE_RETCODE_PLACED, 0, t, 0, HistoryOrderGetDouble(t, ORDER_PRICE_OPEN),
                              HistoryOrderGetDouble(t, ORDER_VOLUME_INITIAL), seen);
        }
   if(cmd.kind == MTP_KIND_PLACE)
      for(int i = OrdersTotal() - 1; i >= 0; i--)
        {
         ulong t = OrderGetTicket(i);
         if(t > 0 && TagMatch(OrderGetString(ORDER_COMMENT), cmd.tag))
            return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FILLED, MTP_REASON_RECOVERED, "found pending after a crash",
                              TRADE_RETCODE_PLACED, 0, t, 0, OrderGetDouble(ORDER_PRICE_OPEN), OrderGetDouble(ORDER_VOLUME_CURRENT), seen);
        }
   return "";
  }

string Resolve(const Command &cmd, const long seen)
  {
   if(cmd.kind == MTP_KIND_OPEN || cmd.kind == MTP_KIND_PLACE || cmd.kind == MTP_KIND_CLOSE)
     {
      // give the terminal RecoverySettleMs to synchronise its history before concluding "not executed"
      ulong until = GetTickCount64() + (ulong)RecoverySettleMs;
      while(true)
        {
         string found = FindByTag(cmd, seen);
         if(found != "") return found;
         if(GetTickCount64() >= until) break;
         Sleep(100);
        }
      if(NowMs() > cmd.created_at + cmd.ttl_ms)
         return ResultJson(cmd.id, cmd.seq, MTP_STATUS_REJECTED, MTP_REASON_EXPIRED, "not executed before a crash; expired since",
                           0, 0, 0, 0, 0, 0, seen);
      // not executed: sending it now is a new decision, so it passes every check again (review #21)
      string reason, message;
      if(!CheckCommand(cmd, reason, message))
         return ResultJson(cmd.id, cmd.seq, MTP_STATUS_REJECTED, reason, "not executed before a crash; now refused: " + message,
                           0, 0, 0, 0, 0, 0, seen);
     }
   if(cmd.kind == MTP_KIND_CANCEL && !OrderSelect((ulong)StringToInteger(cmd.ticket)))
      return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FILLED, MTP_REASON_RECOVERED, "", TRADE_RETCODE_DONE, 0,
                        (ulong)StringToInteger(cmd.ticket), 0, 0, 0, seen);
   MqlTradeResult tr;
   string pre = Execute(cmd, tr);  // proven not executed (or idempotent): execute now
   return TradeResultJson(cmd, tr, pre, seen);
  }

//--- a market order answered "placed" (10008) or without a deal: its deals arrive later.
//--- Wait (TimeoutGraceMs) for the deals of that order; never report a fill without one.
string AwaitDeals(const Command &cmd, const MqlTradeResult &tr, const long seen)
  {
   ulong until = GetTickCount64() + (ulong)TimeoutGraceMs;
   while(true)
     {
      if(HistorySelect(TimeCurrent() - 86400, TimeCurrent() + 3600))
        {
         ulong first = 0;
         double vol = 0;
         for(int i = 0; i < HistoryDealsTotal(); i++)
           {
            ulong d = HistoryDealGetTicket(i);
            if(d > 0 && (ulong)HistoryDealGetInteger(d, DEAL_ORDER) == tr.order)
              {
               if(first == 0) first = d;
               vol += HistoryDealGetDouble(d, DEAL_VOLUME);
              }
           }
         if(first > 0)
           {
            ulong ticket = cmd.kind == MTP_KIND_OPEN ? (ulong)HistoryDealGetInteger(first, DEAL_POSITION_ID) :
                           (ulong)StringToInteger(cmd.ticket);
            if(cmd.kind == MTP_KIND_OPEN)
               return ProtectFill(cmd, ticket, tr.order, first, HistoryDealGetDouble(first, DEAL_PRICE), vol,
                                  "deal received after the order was placed", TRADE_RETCODE_DONE, seen);
            return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FILLED, "", "deal received after the order was placed", TRADE_RETCODE_DONE,
                              ticket, tr.order, first, HistoryDealGetDouble(first, DEAL_PRICE), vol, seen);
           }
         if(HistoryOrderSelect(tr.order))
           {
            long state = HistoryOrderGetInteger(tr.order, ORDER_STATE);
            if(state == ORDER_STATE_CANCELED || state == ORDER_STATE_REJECTED || state == ORDER_STATE_EXPIRED)
               return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FAILED, MTP_REASON_BROKER_ERROR, "order ended without a deal",
                                 tr.retcode, 0, tr.order, 0, 0, 0, seen);
           }
        }
      if(GetTickCount64() >= until) break;
      Sleep(50);
     }
   return ResultJson(cmd.id, cmd.seq, MTP_STATUS_UNKNOWN, "", "order placed, no deal yet: not re-sent (check the terminal)",
                     tr.retcode, 0, tr.order, 0, 0, 0, seen);
  }

//+------------------------------------------------------------------+
//| SettleTimeout ↔ settle_timeout: after 10012 the order may still  |
//| execute, so it is never sent again (review #3): looked for by its |
//| tag for TimeoutGraceMs; found → filled, else unknown.             |
//+------------------------------------------------------------------+
string SettleTimeout(const Command &cmd, const long seen)
  {
   if(cmd.kind != MTP_KIND_OPEN && cmd.kind != MTP_KIND_PLACE && cmd.kind != MTP_KIND_CLOSE)
      return Resolve(cmd, seen);
   ulong until = GetTickCount64() + (ulong)TimeoutGraceMs;
   while(true)
     {
      string found = FindByTag(cmd, seen);
      if(found != "") return found;
      if(GetTickCount64() >= until) break;
      Sleep(50);
     }
   PrintFormat("command %s timed out and left no trace by its tag: not re-sent", cmd.id);
   return ResultJson(cmd.id, cmd.seq, MTP_STATUS_UNKNOWN, "",
                     "broker timed out; no order, deal or position with tag " + cmd.tag + "; not re-sent (check the terminal)",
                     TRADE_RETCODE_TIMEOUT, 0, 0, 0, 0, 0, seen);
  }

//+------------------------------------------------------------------+
//| Results ↔ _result / write_result / _finish / _reject             |
//+------------------------------------------------------------------+
string TradeResultJson(const Command &cmd, const MqlTradeResult &res, const string pre, const long seen)
  {
   if(pre != "")  // refused before sending: nothing was sent
      return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FAILED, pre, cmd.kind + ": ticket " + cmd.ticket + " not found",
                        0, 0, 0, 0, 0, 0, seen);
   uint rc = res.retcode;
   bool unchanged = cmd.kind == MTP_KIND_MODIFY && rc == TRADE_RETCODE_NO_CHANGES;  // idempotent (review #27)
   if(rc == TRADE_RETCODE_DONE || rc == TRADE_RETCODE_PLACED || rc == TRADE_RETCODE_DONE_PARTIAL || unchanged)
     {
      ulong ticket = 0;
      if(cmd.kind == MTP_KIND_CLOSE || cmd.kind == MTP_KIND_MODIFY) ticket = (ulong)StringToInteger(cmd.ticket);
      if(cmd.kind == MTP_KIND_OPEN)
        {
         ticket = res.order;  // the position id when the deal is known (netting: an existing position)
         if(res.deal > 0 && HistoryDealSelect(res.deal)) ticket = (ulong)HistoryDealGetInteger(res.deal, DEAL_POSITION_ID);
         return ProtectFill(cmd, ticket, res.order, res.deal, res.price, res.volume, res.comment, rc, seen);
        }
      return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FILLED, "", res.comment, rc, ticket, res.order, res.deal, res.price,
                        res.volume, seen);
     }
   string reason = rc == TRADE_RETCODE_PRICE_OFF ? MTP_REASON_NO_QUOTE :
                   (rc == TRADE_RETCODE_POSITION_CLOSED ? MTP_REASON_NO_SUCH_POSITION : MTP_REASON_BROKER_ERROR);
   return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FAILED, reason, res.comment, rc, 0, 0, 0, 0, 0, seen);
  }

//+------------------------------------------------------------------+
//| ProtectFill ↔ _protect_fill (review #11): an entry sent with a    |
//| stop is checked after its fill; a position without POSITION_SL   |
//| gets it with TRADE_ACTION_SLTP; if that fails, what the entry     |
//| opened is closed and the result is failed/broker_error (never a  |
//| naked position reported as filled).                              |
//+------------------------------------------------------------------+
string ProtectFill(const Command &cmd, const ulong ticket, const ulong order, const ulong deal, const double price,
                   const double volume, const string comment, const uint rc, const long seen)
  {
   string filled = ResultJson(cmd.id, cmd.seq, MTP_STATUS_FILLED, "", comment, rc, ticket, order, deal, price, volume, seen);
   if(cmd.sl <= 0 || ticket == 0 || !PositionSelectByTicket(ticket) || PositionGetDouble(POSITION_SL) > 0) return filled;
   MqlTradeRequest rq;
   MqlTradeResult rs;
   ZeroMemory(rq);
   ZeroMemory(rs);
   rq.action = TRADE_ACTION_SLTP;
   rq.position = ticket;
   rq.symbol = PositionGetString(POSITION_SYMBOL);
   rq.sl = Snap(rq.symbol, cmd.sl);
   rq.tp = PositionGetDouble(POSITION_TP);
   if(OrderSend(rq, rs) && rs.retcode == TRADE_RETCODE_DONE)
     {
      PrintFormat("command %s: the fill had no stop loss; set to %s", cmd.id, DoubleToString(rq.sl, 8));
      return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FILLED, "", comment + "; stop loss missing after the fill, set again",
                        rc, ticket, order, deal, price, volume, seen);
     }
   uint why = rs.retcode;
   string msg = "filled without its stop loss and setting it failed (retcode " + IntegerToString(why) + "): ";
   bool closed = false;
   if(PositionSelectByTicket(ticket))
     {
      MqlTradeRequest cq;
      MqlTradeResult cr;
      ZeroMemory(cq);
      ZeroMemory(cr);
      double pv = PositionGetDouble(POSITION_VOLUME);
      CloseRequest(cq, ticket, volume > 0 && volume < pv ? volume : pv, (ulong)cmd.deviation, cmd.tag);
      closed = OrderSend(cq, cr) && cr.retcode == TRADE_RETCODE_DONE;
     }
   msg += closed ? "position closed, never left without protection" : "closing it failed too: the position is OPEN WITHOUT A STOP LOSS";
   PrintFormat("command %s: %s", cmd.id, msg);
   return ResultJson(cmd.id, cmd.seq, MTP_STATUS_FAILED, MTP_REASON_BROKER_ERROR, msg, why, ticket, order, deal, price, volume,
                     seen);
  }

string ResultJson(const string id, const long seq, const string status, const string reason, const string message,
                  const uint retcode, const ulong ticket, const ulong order, const ulong deal, const double price,
                  const double volume, const long seen, const bool is_final = true)
  {
   CJsonWriter w;
   w.Int(MTP_RES_F_V, MTP_PROTOCOL_VERSION);
   w.Str(MTP_RES_F_ID, id);
   if(seq >= 0) w.Int(MTP_RES_F_SEQ, seq);
   w.Str(MTP_RES_F_STATUS, status);
   if(reason != "") w.Str(MTP_RES_F_REASON, reason);
   w.Str(MTP_RES_F_MESSAGE, message);
   if(retcode > 0) w.Int(MTP_RES_F_RETCODE, retcode);
   if(ticket > 0) w.Ticket(MTP_RES_F_TICKET, ticket);
   if(order > 0) w.Ticket(MTP_RES_F_ORDER, order);
   if(deal > 0) w.Ticket(MTP_RES_F_DEAL, deal);
   if(price > 0) w.Num(MTP_RES_F_PRICE, price);
   if(volume > 0) w.Num(MTP_RES_F_VOLUME, volume);
   w.Int(MTP_RES_F_SEEN_AT, seen);
   if(is_final) w.Int(MTP_RES_F_DONE_AT, NowMs());
   return w.Done();
  }

void WriteResult(const string id, const string json) { WriteFileAtomic(g_root + "outbox\\" + id + ".json", json); }

void Publish(const string id, const string json)
  {
   // rewrite when the outbox file is missing or does not hold the journaled final result
   string path = g_root + "outbox\\" + id + ".json";
   int fh = FileOpen(path, FILE_READ | FILE_BIN | g_flags);
   string current = "";
   if(fh != INVALID_HANDLE)
     {
      uchar b[];
      int n = (int)FileSize(fh);
      FileReadArray(fh, b, 0, n);
      FileClose(fh);
      current = CharArrayToString(b, 0, n, CP_UTF8);
     }
   if(current != json) WriteResult(id, json);
  }

void Finish(const string name, const Command &cmd, const string res)
  {
   JournalDone(cmd.id, cmd.seq, res);
   WriteResult(cmd.id, res);
   if(name != "") Archive(name, "done");
  }

void Reject(const string name, const string cid, const long seq, const string reason, const string message, const long seen)
  {
   PrintFormat("reject %s: %s %s", name, reason, message);
   string res = ResultJson(cid, seq, MTP_STATUS_REJECTED, reason, message, 0, 0, 0, 0, 0, 0, seen);
   if(seq >= 0 && FindDone(cid) >= 0)
     {
      // the id already has its one result: never overwrite it (like a duplicate)
      WriteFileAtomic(g_root + "journal\\rejected\\" + StringSubstr(name, 0, StringLen(name) - 5) + ".result.json", res);
      Archive(name, "rejected");
      return;
     }
   // every id that got a result is remembered, also one refused before it could be
   // parsed: a later file with that id is a replay or a duplicate, never executed
   if(seq >= 0) JournalDone(cid, seq, res);
   WriteResult(cid, res);
   Archive(name, "rejected");
  }

void Archive(const string name, const string where)
  {
   FileMove(g_root + "inbox\\" + name, g_flags, g_root + "journal\\" + where + "\\" + name, g_flags | FILE_REWRITE);
  }

//--- temp file + FileMove: readers never see half a message. A file that cannot be
//--- replaced now (the destination open in another process, Windows) is kept "to
//--- publish" and retried every tick, its latest content only (review #18): a result is
//--- never lost, and an older content queued for a path never overwrites a newer one.
bool WriteFileAtomic(const string path, const string text)
  {
   int q = PendingIndex(path);
   if(WriteNow(path, text, 20))
     {
      if(q >= 0) DropPending(q);
      return true;
     }
   if(q >= 0) g_pub_texts[q] = text;
   else
     {
      int n = ArraySize(g_pub_paths);
      ArrayResize(g_pub_paths, n + 1);
      ArrayResize(g_pub_texts, n + 1);
      g_pub_paths[n] = path;
      g_pub_texts[n] = text;
     }
   PrintFormat("cannot replace %s (%d): kept to publish, retried every tick", path, GetLastError());
   return false;
  }

//--- one try per queued file and tick (the first write already retried 20 x 2 ms)
void RetryPublish()
  {
   for(int i = ArraySize(g_pub_paths) - 1; i >= 0; i--)
      if(WriteNow(g_pub_paths[i], g_pub_texts[i], 1))
        {
         PrintFormat("published %s on a later tick", g_pub_paths[i]);
         DropPending(i);
        }
  }

int PendingIndex(const string path)
  {
   for(int i = ArraySize(g_pub_paths) - 1; i >= 0; i--) if(g_pub_paths[i] == path) return i;
   return -1;
  }

void DropPending(const int i)
  {
   int last = ArraySize(g_pub_paths) - 1;
   g_pub_paths[i] = g_pub_paths[last];
   g_pub_texts[i] = g_pub_texts[last];
   ArrayResize(g_pub_paths, last);
   ArrayResize(g_pub_texts, last);
  }

bool WriteNow(const string path, const string text, const int tries)
  {
   string tmp = path + ".tmp";
   int fh = FileOpen(tmp, FILE_WRITE | FILE_BIN | g_flags);
   if(fh == INVALID_HANDLE) return false;
   uchar b[];
   int n = StringToCharArray(text, b, 0, WHOLE_ARRAY, CP_UTF8) - 1;  // drop the terminating 0
   FileWriteArray(fh, b, 0, n);
   FileFlush(fh);
   FileClose(fh);
   // the destination may be open in another process for a moment (Windows): retry briefly
   for(int k = 0; k < tries; k++)
     {
      if(FileMove(tmp, g_flags, path, g_flags | FILE_REWRITE)) return true;
      if(k + 1 < tries) Sleep(2);
     }
   return false;
  }

//+------------------------------------------------------------------+
//| Journal: append-only text file, one line per state change,       |
//| flushed before acting (journal\ea-journal.txt)                   |
//|   B<TAB>id<TAB>seq<TAB>command-json   (executing)                |
//|   D<TAB>id<TAB>seq<TAB>result-json    (done)                     |
//+------------------------------------------------------------------+
//--- false (and the EA stops) when the line could not be written: nothing is sent
//--- without its durable record (review #19)
bool JournalAppend(const string line)
  {
   int fh = FileOpen(g_root + "journal\\ea-journal.txt", FILE_READ | FILE_WRITE | FILE_BIN | g_flags);
   if(fh == INVALID_HANDLE)
     {
      Print("JOURNAL UNAVAILABLE: refusing to trade");
      g_journal_broken = true;
      ExpertRemove();
      return false;
     }
   FileSeek(fh, 0, SEEK_END);
   uchar b[];
   int n = StringToCharArray(line + "\n", b, 0, WHOLE_ARRAY, CP_UTF8) - 1;
   bool ok = FileWriteArray(fh, b, 0, n) == (uint)n;
   FileFlush(fh);
   FileClose(fh);
   if(!ok) { Print("JOURNAL WRITE FAILED: refusing to trade"); g_journal_broken = true; ExpertRemove(); }
   return ok;
  }

bool JournalBegin(const Command &cmd)
  {
   if(!JournalAppend("B\t" + cmd.id + "\t" + IntegerToString(cmd.seq) + "\t" + cmd.raw)) return false;
   int n = ArraySize(g_exec_ids);
   ArrayResize(g_exec_ids, n + 1); ArrayResize(g_exec_cmds, n + 1);
   g_exec_ids[n] = cmd.id; g_exec_cmds[n] = cmd.raw;
   return true;
  }

void JournalDone(const string id, const long seq, const string res)
  {
   JournalAppend("D\t" + id + "\t" + IntegerToString(seq) + "\t" + res);
   RememberDone(id, seq, res);
  }

void RememberDone(const string id, const long seq, const string res)
  {
   int e = FindExecuting(id);
   if(e >= 0)
     {
      int last = ArraySize(g_exec_ids) - 1;
      g_exec_ids[e] = g_exec_ids[last]; g_exec_cmds[e] = g_exec_cmds[last];
      ArrayResize(g_exec_ids, last); ArrayResize(g_exec_cmds, last);
     }
   int n = ArraySize(g_done_ids);
   ArrayResize(g_done_ids, n + 1); ArrayResize(g_done_results, n + 1); ArrayResize(g_done_seqs, n + 1);
   g_done_ids[n] = id; g_done_results[n] = res; g_done_seqs[n] = seq;
  }

void LoadJournal()
  {
   int fh = FileOpen(g_root + "journal\\ea-journal.txt", FILE_READ | FILE_BIN | g_flags);
   if(fh == INVALID_HANDLE) return;
   uchar b[];
   int n = (int)FileSize(fh);
   FileReadArray(fh, b, 0, n);
   FileClose(fh);
   string lines[];
   int count = StringSplit(CharArrayToString(b, 0, n, CP_UTF8), '\n', lines);
   for(int i = 0; i < count; i++)
     {
      string f[];
      if(StringSplit(lines[i], '\t', f) < 4) continue;  // a torn last line is ignored
      if(f[0] == "B")
        {
         int k = ArraySize(g_exec_ids);
         ArrayResize(g_exec_ids, k + 1); ArrayResize(g_exec_cmds, k + 1);
         g_exec_ids[k] = f[1]; g_exec_cmds[k] = f[3];
        }
      else if(f[0] == "D" && FinalResult(f[3])) RememberDone(f[1], StringToInteger(f[2]), f[3]);
      // a torn D line (power cut mid-write) is ignored: the id stays executing and is resolved (review #20)
     }
  }

//--- a complete result JSON with a final status
bool FinalResult(const string json)
  {
   CJsonObject r;
   string err;
   if(!JsonParseFlat(json, r, err)) return false;
   string st = r.Str(MTP_RES_F_STATUS);
   return st == MTP_STATUS_FILLED || st == MTP_STATUS_REJECTED || st == MTP_STATUS_FAILED || st == MTP_STATUS_UNKNOWN ||
          st == MTP_STATUS_DRY_RUN;
  }

int FindDone(const string id) { for(int i = ArraySize(g_done_ids) - 1; i >= 0; i--) if(g_done_ids[i] == id) return i; return -1; }
int FindExecuting(const string id) { for(int i = ArraySize(g_exec_ids) - 1; i >= 0; i--) if(g_exec_ids[i] == id) return i; return -1; }

//+------------------------------------------------------------------+
//| WriteBars ↔ snapshots.write_bars: last closed bars per subscription |
//+------------------------------------------------------------------+
ENUM_TIMEFRAMES TfFromString(const string tf)
  {
   if(tf == "M1") return PERIOD_M1;   if(tf == "M5") return PERIOD_M5;   if(tf == "M15") return PERIOD_M15;
   if(tf == "M30") return PERIOD_M30; if(tf == "H1") return PERIOD_H1;   if(tf == "H4") return PERIOD_H4;
   if(tf == "D1") return PERIOD_D1;
   return PERIOD_CURRENT;
  }

void WriteBars(const long t)
  {
   if(BarsSubscriptions == "") return;
   string subs[];
   int n = StringSplit(BarsSubscriptions, ',', subs);
   for(int k = 0; k < n; k++)
     {
      string part[];
      if(StringSplit(subs[k], ':', part) != 2) continue;
      MqlRates r[];
      int got = CopyRates(part[0], TfFromString(part[1]), 1, BarsCount, r);  // shift 1: closed bars only
      string items = "";
      for(int i = 0; i < got; i++)
        {
         CJsonWriter b;
         b.Int("time", (long)r[i].time - ServerOffsetSeconds());  // server wall time -> UTC epoch s (#26)
         b.Num("open", r[i].open); b.Num("high", r[i].high);
         b.Num("low", r[i].low); b.Num("close", r[i].close); b.Int("tick_volume", (long)r[i].tick_volume);
         b.Int("real_volume", (long)r[i].real_volume); b.Int("spread", r[i].spread);
         items += (items == "" ? "" : ",") + b.Done();
        }
      CJsonWriter w;
      w.Int("v", MTP_PROTOCOL_VERSION); w.Int("seq", g_state_seq); w.Int("time", t);
      w.Str("symbol", part[0]); w.Str("timeframe", part[1]); w.Raw("bars", "[" + items + "]");
      WriteFileAtomic(g_root + "state\\bars-" + part[0] + "-" + part[1] + ".json", w.Done());
     }
  }

//+------------------------------------------------------------------+
//| WriteState ↔ write_state                                         |
//+------------------------------------------------------------------+
//--- state/deals.json: trade deals of the last 24 hours, newest MTP_MAX_DEALS kept (Protocol.mqh), times
//--- in UTC: how Python learns the price of an exit it did not send (SL, TP, stop out)
void WriteDeals(const long t, const long offset_ms)
  {
   string items = "";
   int listed = 0;
   if(HistorySelect(TimeTradeServer() - 86400, TimeTradeServer() + 3600))
      for(int i = HistoryDealsTotal() - 1; i >= 0 && listed < MTP_MAX_DEALS; i--)  // newest first
        {
         ulong d = HistoryDealGetTicket(i);
         if(d == 0) continue;
         long type = HistoryDealGetInteger(d, DEAL_TYPE);
         if(type != DEAL_TYPE_BUY && type != DEAL_TYPE_SELL) continue;  // balance, credit: not trades
         long entry = HistoryDealGetInteger(d, DEAL_ENTRY);
         string e = entry == DEAL_ENTRY_IN ? "in" : (entry == DEAL_ENTRY_INOUT ? "inout" : "out");
         CJsonWriter w;
         w.Ticket("deal", d);
         w.Ticket("order", (ulong)HistoryDealGetInteger(d, DEAL_ORDER));
         w.Ticket("position", (ulong)HistoryDealGetInteger(d, DEAL_POSITION_ID));
         w.Str("symbol", HistoryDealGetString(d, DEAL_SYMBOL));
         w.Str("side", type == DEAL_TYPE_BUY ? "buy" : "sell");
         w.Num("volume", HistoryDealGetDouble(d, DEAL_VOLUME));
         w.Num("price", HistoryDealGetDouble(d, DEAL_PRICE));
         w.Str("entry", e);
         w.Int("time", HistoryDealGetInteger(d, DEAL_TIME_MSC) - offset_ms);  // server -> UTC (#26)
         w.Int("magic", HistoryDealGetInteger(d, DEAL_MAGIC));
         w.Str("comment", HistoryDealGetString(d, DEAL_COMMENT));
         w.Num("profit", HistoryDealGetDouble(d, DEAL_PROFIT));
         items = w.Done() + (items == "" ? "" : ",") + items;  // oldest first in the file
         listed++;
        }
   CJsonWriter ds;
   ds.Int("v", MTP_PROTOCOL_VERSION); ds.Int("seq", g_state_seq); ds.Int("time", t); ds.Raw("deals", "[" + items + "]");
   WriteFileAtomic(g_root + "state\\deals.json", ds.Done());
  }

void WriteState()
  {
   g_state_seq++;
   long t = NowMs();
   long offset_ms = ServerOffsetSeconds() * 1000;
   WriteDeals(t, offset_ms);
   CJsonWriter a;
   a.Int("v", MTP_PROTOCOL_VERSION); a.Int("seq", g_state_seq); a.Int("time", t);
   a.Str("login", IntegerToString(AccountInfoInteger(ACCOUNT_LOGIN)));
   a.Str("currency", AccountInfoString(ACCOUNT_CURRENCY));
   a.Num("balance", AccountInfoDouble(ACCOUNT_BALANCE)); a.Num("equity", AccountInfoDouble(ACCOUNT_EQUITY));
   a.Num("margin_free", AccountInfoDouble(ACCOUNT_MARGIN_FREE)); a.Num("daily_pnl", DailyPnl());
   a.Str("account_mode", AccountInfoInteger(ACCOUNT_MARGIN_MODE) == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING ? "hedging" : "netting");
   // Python arms itself for a real account only when configured to: it must know which.
   long trade_mode = AccountInfoInteger(ACCOUNT_TRADE_MODE);
   a.Str("trade_mode", trade_mode == ACCOUNT_TRADE_MODE_DEMO ? "demo" : trade_mode == ACCOUNT_TRADE_MODE_CONTEST ? "contest" : "real");
   WriteFileAtomic(g_root + "state\\account.json", a.Done());

   string items = "";
   for(int i = 0; i < PositionsTotal(); i++)
     {
      ulong tk = PositionGetTicket(i);
      if(tk == 0) continue;
      CJsonWriter p;
      p.Ticket(MTP_POS_F_TICKET, tk); p.Str(MTP_POS_F_SYMBOL, PositionGetString(POSITION_SYMBOL));
      p.Str(MTP_POS_F_SIDE, PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? "buy" : "sell");
      p.Num(MTP_POS_F_VOLUME, PositionGetDouble(POSITION_VOLUME)); p.Num(MTP_POS_F_OPEN_PRICE, PositionGetDouble(POSITION_PRICE_OPEN));
      if(PositionGetDouble(POSITION_SL) > 0) p.Num(MTP_POS_F_SL, PositionGetDouble(POSITION_SL));  // none: null (#32)
      if(PositionGetDouble(POSITION_TP) > 0) p.Num(MTP_POS_F_TP, PositionGetDouble(POSITION_TP));
      p.Int(MTP_POS_F_MAGIC, PositionGetInteger(POSITION_MAGIC)); p.Str(MTP_POS_F_COMMENT, PositionGetString(POSITION_COMMENT));
      p.Num(MTP_POS_F_PROFIT, PositionGetDouble(POSITION_PROFIT));
      p.Int(MTP_POS_F_OPEN_TIME, (long)PositionGetInteger(POSITION_TIME_MSC) - offset_ms);  // server -> UTC (#26)
      items += (items == "" ? "" : ",") + p.Done();
     }
   CJsonWriter ps;
   ps.Int("v", MTP_PROTOCOL_VERSION); ps.Int("seq", g_state_seq); ps.Int("time", t); ps.Raw("positions", "[" + items + "]");
   WriteFileAtomic(g_root + "state\\positions.json", ps.Done());

   string orders = "";
   for(int i = 0; i < OrdersTotal(); i++)
     {
      ulong tk = OrderGetTicket(i);
      if(tk == 0) continue;
      long type = OrderGetInteger(ORDER_TYPE);
      // A market order still in flight is no pending order (it would be read as a
      // "sell limit"; a runner settling a lost entry would cancel it mid-fill).
      if(type == ORDER_TYPE_BUY || type == ORDER_TYPE_SELL) continue;
      CJsonWriter o;
      o.Ticket("ticket", tk); o.Str("symbol", OrderGetString(ORDER_SYMBOL));
      o.Str("side", (type == ORDER_TYPE_BUY_STOP || type == ORDER_TYPE_BUY_LIMIT) ? "buy" : "sell");
      o.Str("order_type", (type == ORDER_TYPE_BUY_STOP || type == ORDER_TYPE_SELL_STOP) ? MTP_ORDER_STOP : MTP_ORDER_LIMIT);
      o.Num("volume", OrderGetDouble(ORDER_VOLUME_CURRENT)); o.Num("price", OrderGetDouble(ORDER_PRICE_OPEN));
      if(OrderGetDouble(ORDER_SL) > 0) o.Num("sl", OrderGetDouble(ORDER_SL));
      if(OrderGetDouble(ORDER_TP) > 0) o.Num("tp", OrderGetDouble(ORDER_TP));
      long exp = OrderGetInteger(ORDER_TIME_EXPIRATION);
      if(exp > 0) o.Int("expiry", exp * 1000 - offset_ms);  // server -> UTC (#26); 0 = none
      o.Int("magic", OrderGetInteger(ORDER_MAGIC)); o.Str("comment", OrderGetString(ORDER_COMMENT));
      orders += (orders == "" ? "" : ",") + o.Done();
     }
   CJsonWriter os;
   os.Int("v", MTP_PROTOCOL_VERSION); os.Int("seq", g_state_seq); os.Int("time", t); os.Raw("orders", "[" + orders + "]");
   WriteFileAtomic(g_root + "state\\orders.json", os.Done());

   // symbols.json ↔ snapshots: lot grid, tick value, filling modes (review #24)
   string syms = "";
   for(int i = 0; i < SymbolsTotal(true); i++)
     {
      string name = SymbolName(i, true);
      long fill = SymbolInfoInteger(name, SYMBOL_FILLING_MODE);
      string modes = "";
      if((fill & SYMBOL_FILLING_FOK) != 0) modes += ",\"fok\"";
      if((fill & SYMBOL_FILLING_IOC) != 0) modes += ",\"ioc\"";
      if(SymbolInfoInteger(name, SYMBOL_TRADE_EXEMODE) != SYMBOL_TRADE_EXECUTION_MARKET) modes += ",\"return\"";
      modes = StringSubstr(modes, 1);
      CJsonWriter sw;
      sw.Str("name", name);
      sw.Num("tick_size", SymbolInfoDouble(name, SYMBOL_TRADE_TICK_SIZE));
      sw.Num("tick_value", SymbolInfoDouble(name, SYMBOL_TRADE_TICK_VALUE));
      sw.Num("contract_size", SymbolInfoDouble(name, SYMBOL_TRADE_CONTRACT_SIZE));
      sw.Int("digits", SymbolInfoInteger(name, SYMBOL_DIGITS));
      sw.Num("lot_min", SymbolInfoDouble(name, SYMBOL_VOLUME_MIN));
      sw.Num("lot_max", SymbolInfoDouble(name, SYMBOL_VOLUME_MAX));
      sw.Num("lot_step", SymbolInfoDouble(name, SYMBOL_VOLUME_STEP));
      sw.Raw("filling_modes", "[" + modes + "]");
      syms += (syms == "" ? "" : ",") + sw.Done();
     }
   CJsonWriter ss;
   ss.Int("v", MTP_PROTOCOL_VERSION); ss.Int("seq", g_state_seq); ss.Int("time", t); ss.Raw("symbols", "[" + syms + "]");
   WriteFileAtomic(g_root + "state\\symbols.json", ss.Done());

   CJsonWriter hb;
   long age = PythonHeartbeatAgeMs();
   hb.Int("v", MTP_PROTOCOL_VERSION); hb.Int("seq", g_state_seq); hb.Int("time", t); hb.Str("executor", "mql5");
   hb.Bool("ea_alive", true); hb.Bool("terminal_connected", (bool)TerminalInfoInteger(TERMINAL_CONNECTED));
   hb.Bool("trade_allowed", TerminalInfoInteger(TERMINAL_TRADE_ALLOWED) != 0 && MQLInfoInteger(MQL_TRADE_ALLOWED) != 0 &&
           AccountInfoInteger(ACCOUNT_TRADE_EXPERT) != 0);  // every switch that gates trading (#32)
   hb.Bool("log_only", LogOnly);
   hb.Bool("kill_switch", KillSwitchActive());
   if(age >= 0) hb.Int("python_heartbeat_age_ms", age);
   hb.Int("server_offset_s", ServerOffsetSeconds());  // the offset every published time was converted with
   WriteFileAtomic(g_root + "state\\heartbeat.json", hb.Done());
   // the bars last: a reader that sees a new closed bar finds the account, positions,
   // orders and deals as they were after it already published
   WriteBars(t);
  }
//+------------------------------------------------------------------+
