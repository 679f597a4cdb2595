//+------------------------------------------------------------------+
//| MtponteProbe.mq5 — run once on a DEMO account before going live. |
//|                                                                  |
//| Prints (and writes to MQL5\Files\mtponte\probe.txt) the broker    |
//| facts the bridge EA depends on: account margin mode, the server's |
//| UTC offset, the symbol's execution/filling/expiration/order-mode  |
//| flags, tick size, digits, lot grid, stops and freeze levels; then |
//| places one tagged buy limit far below the market, reports its     |
//| retcode (10008 or 10009) and whether the broker kept its comment  |
//| (live and in history), and cancels it. Nothing is left behind.    |
//+------------------------------------------------------------------+
#property copyright "mtponte"
#property version   "1.00"
#property script_show_inputs

input string ProbeSymbol    = "";       // empty = the chart's symbol (B3: the current WIN contract, e.g. WINZ25)
input bool   PlaceTestOrder = true;     // place and cancel one tagged pending order (demo account!)
input long   Magic          = 20251103;

int g_out = INVALID_HANDLE;

void Say(const string line)
  {
   Print(line);
   if(g_out != INVALID_HANDLE)
     {
      uchar b[];
      int n = StringToCharArray(line + "\n", b, 0, WHOLE_ARRAY, CP_UTF8) - 1;
      FileWriteArray(g_out, b, 0, n);
     }
  }

string Bool(const bool v) { return v ? "true" : "false"; }

string Flags(const long v, const long f1, const string n1, const long f2, const string n2, const long f3, const string n3)
  {
   string s = "";
   if((v & f1) != 0) s += n1 + " ";
   if((v & f2) != 0) s += n2 + " ";
   if((v & f3) != 0) s += n3 + " ";
   return s == "" ? "none" : s;
  }

void OnStart()
  {
   string sym = ProbeSymbol == "" ? _Symbol : ProbeSymbol;
   FolderCreate("mtponte", 0);
   g_out = FileOpen("mtponte\\probe.txt", FILE_WRITE | FILE_BIN);
   long mode = AccountInfoInteger(ACCOUNT_MARGIN_MODE);
   Say("account " + IntegerToString(AccountInfoInteger(ACCOUNT_LOGIN)) + " margin_mode " +
       (mode == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING ? "hedging" : (mode == ACCOUNT_MARGIN_MODE_EXCHANGE ? "exchange" : "netting")));
   long offset = (long)(TimeTradeServer() - TimeGMT());
   Say("server_offset_s " + IntegerToString(offset) + " rounded_15min " + IntegerToString((long)MathRound(offset / 900.0) * 900));
   if(!SymbolSelect(sym, true)) { Say("symbol " + sym + " not found"); FileClose(g_out); return; }
   long exemode = SymbolInfoInteger(sym, SYMBOL_TRADE_EXEMODE);
   Say("symbol " + sym + " exemode " + (exemode == SYMBOL_TRADE_EXECUTION_EXCHANGE ? "exchange" :
       (exemode == SYMBOL_TRADE_EXECUTION_MARKET ? "market" : (exemode == SYMBOL_TRADE_EXECUTION_INSTANT ? "instant" : "request"))));
   Say("filling " + Flags(SymbolInfoInteger(sym, SYMBOL_FILLING_MODE), SYMBOL_FILLING_FOK, "fok", SYMBOL_FILLING_IOC, "ioc", 0, ""));
   long exp = SymbolInfoInteger(sym, SYMBOL_EXPIRATION_MODE);
   Say("expiration " + Flags(exp, SYMBOL_EXPIRATION_GTC, "gtc", SYMBOL_EXPIRATION_DAY, "day", SYMBOL_EXPIRATION_SPECIFIED, "specified") +
       ((exp & SYMBOL_EXPIRATION_SPECIFIED_DAY) != 0 ? "specified_day" : ""));
   long om = SymbolInfoInteger(sym, SYMBOL_ORDER_MODE);
   Say("order_mode " + Flags(om, SYMBOL_ORDER_MARKET, "market", SYMBOL_ORDER_LIMIT, "limit", SYMBOL_ORDER_STOP, "stop") +
       Flags(om, SYMBOL_ORDER_SL, "sl", SYMBOL_ORDER_TP, "tp", SYMBOL_ORDER_CLOSEBY, "closeby"));
   double tick = SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_SIZE);
   int digits = (int)SymbolInfoInteger(sym, SYMBOL_DIGITS);
   Say("tick_size " + DoubleToString(tick, digits) + " digits " + IntegerToString(digits) + " tick_value " +
       DoubleToString(SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_VALUE), 4));
   Say("lots min " + DoubleToString(SymbolInfoDouble(sym, SYMBOL_VOLUME_MIN), 2) + " step " +
       DoubleToString(SymbolInfoDouble(sym, SYMBOL_VOLUME_STEP), 2) + " max " + DoubleToString(SymbolInfoDouble(sym, SYMBOL_VOLUME_MAX), 2));
   Say("stops_level " + IntegerToString(SymbolInfoInteger(sym, SYMBOL_TRADE_STOPS_LEVEL)) + " freeze_level " +
       IntegerToString(SymbolInfoInteger(sym, SYMBOL_TRADE_FREEZE_LEVEL)));
   if(PlaceTestOrder) ProbeOrder(sym, tick, digits, exp);
   Say("probe done");
   FileClose(g_out);
  }

//--- one tagged buy limit 100 ticks under the bid, then cancelled
void ProbeOrder(const string sym, const double tick, const int digits, const long exp)
  {
   string tag = "mtp:probe" + IntegerToString((long)(GetTickCount64() % 100000000));
   double bid = SymbolInfoDouble(sym, SYMBOL_BID);
   if(bid <= 0 || tick <= 0) { Say("no quote: order not placed"); return; }
   MqlTradeRequest rq;
   MqlTradeResult rs;
   ZeroMemory(rq);
   ZeroMemory(rs);
   rq.action = TRADE_ACTION_PENDING;
   rq.symbol = sym;
   rq.volume = SymbolInfoDouble(sym, SYMBOL_VOLUME_MIN);
   rq.type = ORDER_TYPE_BUY_LIMIT;
   rq.price = NormalizeDouble(MathRound((bid - 100 * tick) / tick) * tick, digits);
   rq.type_filling = ORDER_FILLING_RETURN;
   rq.type_time = (exp & SYMBOL_EXPIRATION_DAY) != 0 ? ORDER_TIME_DAY : ORDER_TIME_GTC;
   rq.magic = (ulong)Magic;
   rq.comment = tag;
   bool sent = OrderSend(rq, rs);
   Say("place sent " + Bool(sent) + " retcode " + IntegerToString(rs.retcode) + " order " + IntegerToString((long)rs.order) +
       " comment " + rs.comment);
   if(rs.order == 0) return;
   if(OrderSelect(rs.order))
     {
      string live = OrderGetString(ORDER_COMMENT);
      Say("comment_kept_live " + Bool(live == tag) + " sent '" + tag + "' got '" + live + "'");
     }
   ZeroMemory(rq);
   MqlTradeResult rd;
   ZeroMemory(rd);
   rq.action = TRADE_ACTION_REMOVE;
   rq.order = rs.order;
   bool removed = OrderSend(rq, rd);
   Say("cancel sent " + Bool(removed) + " retcode " + IntegerToString(rd.retcode));
   if(HistorySelect(TimeCurrent() - 86400, TimeCurrent() + 3600) && HistoryOrderSelect(rs.order))
     {
      string hist = HistoryOrderGetString(rs.order, ORDER_COMMENT);
      Say("comment_kept_history " + Bool(hist == tag) + " got '" + hist + "' state " +
          IntegerToString(HistoryOrderGetInteger(rs.order, ORDER_STATE)));
     }
  }
//+------------------------------------------------------------------+
