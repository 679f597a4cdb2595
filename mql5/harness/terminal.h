// terminal.h: a simulated MetaTrader 5 terminal and trade server for the bridge EA.
//
// The account (netting/exchange or hedging), its symbols, positions, pending orders,
// history orders and deals live in <sandbox>/terminal.tsv: the test writes the initial
// file, the harness rewrites it (temp file + rename) after every change, so the "broker"
// survives a kill -9 of the EA process and the test reads what really happened.
// While the EA runs, the test sends control lines (quotes, faults, connection state) as
// files in <sandbox>/control/, applied and deleted by the harness's loop.
//
// Semantics follow the MQL5 documentation (OrderSend, MqlTradeRequest, the trade
// return codes, the netting and hedging position rules); see docs/bridge-protocol.md,
// "The EA in CI", for what is and is not simulated.
#pragma once
#include <fstream>
#include <sstream>

#include "mql5rt.h"
#include "webrequest.h"

// ------------------------------------------------------------------ enums
enum ENUM_TIMEFRAMES { PERIOD_CURRENT = 0, PERIOD_M1 = 1, PERIOD_M5 = 5, PERIOD_M15 = 15, PERIOD_M30 = 30,
                       PERIOD_H1 = 16385, PERIOD_H4 = 16388, PERIOD_D1 = 16408, PERIOD_W1 = 32769, PERIOD_MN1 = 49153 };
enum ENUM_ORDER_TYPE { ORDER_TYPE_BUY, ORDER_TYPE_SELL, ORDER_TYPE_BUY_LIMIT, ORDER_TYPE_SELL_LIMIT,
                       ORDER_TYPE_BUY_STOP, ORDER_TYPE_SELL_STOP, ORDER_TYPE_BUY_STOP_LIMIT, ORDER_TYPE_SELL_STOP_LIMIT,
                       ORDER_TYPE_CLOSE_BY };
enum ENUM_ORDER_TYPE_FILLING { ORDER_FILLING_FOK, ORDER_FILLING_IOC, ORDER_FILLING_RETURN, ORDER_FILLING_BOC };
enum ENUM_ORDER_TYPE_TIME { ORDER_TIME_GTC, ORDER_TIME_DAY, ORDER_TIME_SPECIFIED, ORDER_TIME_SPECIFIED_DAY };
enum ENUM_ORDER_STATE { ORDER_STATE_STARTED, ORDER_STATE_PLACED, ORDER_STATE_CANCELED, ORDER_STATE_PARTIAL,
                        ORDER_STATE_FILLED, ORDER_STATE_REJECTED, ORDER_STATE_EXPIRED };
enum ENUM_TRADE_REQUEST_ACTIONS { TRADE_ACTION_DEAL = 1, TRADE_ACTION_PENDING = 5, TRADE_ACTION_SLTP = 6,
                                  TRADE_ACTION_MODIFY = 7, TRADE_ACTION_REMOVE = 8, TRADE_ACTION_CLOSE_BY = 10 };
enum ENUM_POSITION_TYPE { POSITION_TYPE_BUY, POSITION_TYPE_SELL };
enum ENUM_DEAL_TYPE { DEAL_TYPE_BUY, DEAL_TYPE_SELL, DEAL_TYPE_BALANCE };
enum ENUM_DEAL_ENTRY { DEAL_ENTRY_IN, DEAL_ENTRY_OUT, DEAL_ENTRY_INOUT, DEAL_ENTRY_OUT_BY };
enum ENUM_ACCOUNT_TRADE_MODE { ACCOUNT_TRADE_MODE_DEMO, ACCOUNT_TRADE_MODE_CONTEST, ACCOUNT_TRADE_MODE_REAL };
enum ENUM_ACCOUNT_MARGIN_MODE { ACCOUNT_MARGIN_MODE_RETAIL_NETTING, ACCOUNT_MARGIN_MODE_EXCHANGE,
                                ACCOUNT_MARGIN_MODE_RETAIL_HEDGING };
enum ENUM_SYMBOL_TRADE_EXECUTION { SYMBOL_TRADE_EXECUTION_REQUEST, SYMBOL_TRADE_EXECUTION_INSTANT,
                                   SYMBOL_TRADE_EXECUTION_MARKET, SYMBOL_TRADE_EXECUTION_EXCHANGE };
#define SYMBOL_FILLING_FOK 1
#define SYMBOL_FILLING_IOC 2
#define SYMBOL_EXPIRATION_GTC 1
#define SYMBOL_EXPIRATION_DAY 2
#define SYMBOL_EXPIRATION_SPECIFIED 4
#define SYMBOL_EXPIRATION_SPECIFIED_DAY 8
#define SYMBOL_ORDER_MARKET 1
#define SYMBOL_ORDER_LIMIT 2
#define SYMBOL_ORDER_STOP 4
#define SYMBOL_ORDER_STOP_LIMIT 8
#define SYMBOL_ORDER_SL 16
#define SYMBOL_ORDER_TP 32
#define SYMBOL_ORDER_CLOSEBY 64

enum ENUM_POSITION_PROPERTY_INTEGER { POSITION_TICKET, POSITION_TIME, POSITION_TIME_MSC, POSITION_TIME_UPDATE,
                                      POSITION_TYPE, POSITION_MAGIC, POSITION_IDENTIFIER, POSITION_REASON };
enum ENUM_POSITION_PROPERTY_DOUBLE { POSITION_VOLUME, POSITION_PRICE_OPEN, POSITION_SL, POSITION_TP,
                                     POSITION_PRICE_CURRENT, POSITION_SWAP, POSITION_PROFIT };
enum ENUM_POSITION_PROPERTY_STRING { POSITION_SYMBOL, POSITION_COMMENT, POSITION_EXTERNAL_ID };
enum ENUM_ORDER_PROPERTY_INTEGER { ORDER_TICKET, ORDER_TIME_SETUP, ORDER_TYPE, ORDER_STATE, ORDER_TIME_EXPIRATION,
                                   ORDER_TIME_DONE, ORDER_TIME_SETUP_MSC, ORDER_TIME_DONE_MSC, ORDER_TYPE_FILLING,
                                   ORDER_TYPE_TIME, ORDER_MAGIC, ORDER_POSITION_ID };
enum ENUM_ORDER_PROPERTY_DOUBLE { ORDER_VOLUME_INITIAL, ORDER_VOLUME_CURRENT, ORDER_PRICE_OPEN, ORDER_SL, ORDER_TP,
                                  ORDER_PRICE_CURRENT };
enum ENUM_ORDER_PROPERTY_STRING { ORDER_SYMBOL, ORDER_COMMENT, ORDER_EXTERNAL_ID };
enum ENUM_DEAL_PROPERTY_INTEGER { DEAL_TICKET, DEAL_ORDER, DEAL_TIME, DEAL_TIME_MSC, DEAL_TYPE, DEAL_ENTRY, DEAL_MAGIC,
                                  DEAL_REASON, DEAL_POSITION_ID };
enum ENUM_DEAL_PROPERTY_DOUBLE { DEAL_VOLUME, DEAL_PRICE, DEAL_COMMISSION, DEAL_SWAP, DEAL_PROFIT, DEAL_FEE };
enum ENUM_DEAL_PROPERTY_STRING { DEAL_SYMBOL, DEAL_COMMENT, DEAL_EXTERNAL_ID };
enum ENUM_SYMBOL_INFO_INTEGER { SYMBOL_DIGITS, SYMBOL_SPREAD, SYMBOL_TRADE_STOPS_LEVEL, SYMBOL_TRADE_FREEZE_LEVEL,
                                SYMBOL_TRADE_EXEMODE, SYMBOL_FILLING_MODE, SYMBOL_EXPIRATION_MODE, SYMBOL_ORDER_MODE,
                                SYMBOL_TRADE_MODE, SYMBOL_SELECT, SYMBOL_TIME };
enum ENUM_SYMBOL_INFO_DOUBLE { SYMBOL_BID, SYMBOL_ASK, SYMBOL_POINT, SYMBOL_TRADE_TICK_SIZE, SYMBOL_TRADE_TICK_VALUE,
                               SYMBOL_TRADE_CONTRACT_SIZE, SYMBOL_VOLUME_MIN, SYMBOL_VOLUME_MAX, SYMBOL_VOLUME_STEP };
enum ENUM_SYMBOL_INFO_STRING { SYMBOL_CURRENCY_PROFIT, SYMBOL_DESCRIPTION };
enum ENUM_ACCOUNT_INFO_INTEGER { ACCOUNT_LOGIN, ACCOUNT_TRADE_MODE, ACCOUNT_LEVERAGE, ACCOUNT_TRADE_ALLOWED,
                                 ACCOUNT_TRADE_EXPERT, ACCOUNT_MARGIN_MODE };
enum ENUM_ACCOUNT_INFO_DOUBLE { ACCOUNT_BALANCE, ACCOUNT_CREDIT, ACCOUNT_PROFIT, ACCOUNT_EQUITY, ACCOUNT_MARGIN,
                                ACCOUNT_MARGIN_FREE };
enum ENUM_ACCOUNT_INFO_STRING { ACCOUNT_NAME, ACCOUNT_SERVER, ACCOUNT_CURRENCY, ACCOUNT_COMPANY };
enum ENUM_TERMINAL_INFO_INTEGER { TERMINAL_CONNECTED, TERMINAL_TRADE_ALLOWED, TERMINAL_BUILD };
enum ENUM_MQL_INFO_INTEGER { MQL_TRADE_ALLOWED, MQL_TESTER };

#define TRADE_RETCODE_REQUOTE 10004
#define TRADE_RETCODE_REJECT 10006
#define TRADE_RETCODE_PLACED 10008
#define TRADE_RETCODE_DONE 10009
#define TRADE_RETCODE_DONE_PARTIAL 10010
#define TRADE_RETCODE_ERROR 10011
#define TRADE_RETCODE_TIMEOUT 10012
#define TRADE_RETCODE_INVALID 10013
#define TRADE_RETCODE_INVALID_VOLUME 10014
#define TRADE_RETCODE_INVALID_PRICE 10015
#define TRADE_RETCODE_INVALID_STOPS 10016
#define TRADE_RETCODE_MARKET_CLOSED 10018
#define TRADE_RETCODE_PRICE_OFF 10021
#define TRADE_RETCODE_INVALID_EXPIRATION 10022
#define TRADE_RETCODE_NO_CHANGES 10025
#define TRADE_RETCODE_INVALID_FILL 10030
#define TRADE_RETCODE_CONNECTION 10031
#define TRADE_RETCODE_POSITION_CLOSED 10036
#define ERR_TRADE_POSITION_NOT_FOUND 4753
#define ERR_TRADE_ORDER_NOT_FOUND 4754
#define ERR_TRADE_DEAL_NOT_FOUND 4755
#define ERR_TRADE_SEND_FAILED 4756

struct MqlTradeRequest {
  ENUM_TRADE_REQUEST_ACTIONS action = (ENUM_TRADE_REQUEST_ACTIONS)0;
  ulong magic = 0, order = 0;
  string symbol;
  double volume = 0, price = 0, stoplimit = 0, sl = 0, tp = 0;
  ulong deviation = 0;
  ENUM_ORDER_TYPE type = ORDER_TYPE_BUY;
  ENUM_ORDER_TYPE_FILLING type_filling = ORDER_FILLING_FOK;
  ENUM_ORDER_TYPE_TIME type_time = ORDER_TIME_GTC;
  datetime expiration = 0;
  string comment;
  ulong position = 0, position_by = 0;
};
struct MqlTradeResult {
  uint retcode = 0;
  ulong deal = 0, order = 0;
  double volume = 0, price = 0, bid = 0, ask = 0;
  string comment;
  uint request_id = 0;
  int retcode_external = 0;
};
struct MqlTradeCheckResult {
  uint retcode = 0;
  double balance = 0, equity = 0, profit = 0, margin = 0, margin_free = 0, margin_level = 0;
  string comment;
};
struct MqlRates { datetime time; double open, high, low, close; long long tick_volume; int spread; long long real_volume; };

// ------------------------------------------------------------------ the simulated server
struct SimSymbol {
  std::string name;
  int digits = 0;
  double point = 1, tick_size = 5, tick_value = 1, contract = 1, vmin = 1, vstep = 1, vmax = 100;
  int filling = SYMBOL_FILLING_FOK | SYMBOL_FILLING_IOC, expiration = 15, order_mode = 127, exemode = 3;
  int stops_level = 0, freeze_level = 0;
  double bid = 0, ask = 0;
};
struct SimPosition { long long ticket, identifier; std::string symbol; int type; double volume, price, sl, tp; long long magic, time_msc; std::string comment; };
struct SimOrder { long long ticket; std::string symbol; int type; double volume, price, sl, tp; int type_time; long long expiration, magic, time_setup_msc; std::string comment; };
struct SimHOrder { long long ticket; std::string symbol; int type; double volume, price; int state; long long magic, setup_msc, done_msc, position_id; std::string comment; };
struct SimBar { std::string symbol; int tf; long long time; double open, high, low, close; long long tick_volume; };
struct SimDeal { long long ticket, order; std::string symbol; int type, entry; double volume, price, profit; long long magic, position_id, time_msc; std::string comment; };

struct SimTerminal {
  bool loaded = false;
  std::string path;
  int margin_mode = ACCOUNT_MARGIN_MODE_RETAIL_HEDGING;
  int trade_mode = ACCOUNT_TRADE_MODE_DEMO;  // ACCOUNT_TRADE_MODE: demo, contest or real
  long long login = 1001;
  std::string currency = "BRL";
  double balance = 100000;
  int connected = 1, trade_allowed = 1;
  long long next_ticket = 1000;
  std::string comment_rewrite;  // "" = comments kept; "truncate:N" or "suffix:TEXT"
  std::vector<SimSymbol> symbols;
  std::vector<SimPosition> positions;
  std::vector<SimOrder> orders;
  std::vector<SimHOrder> horders;
  std::vector<SimDeal> deals;
  std::vector<SimBar> bars;  // server-time bar opens, any order
  std::map<std::string, int> faults;  // name -> remaining count
  long long requests = 0;            // OrderSend calls that reached the server
  int history_delay = 0;              // deals booked under a timeout appear after N HistorySelect calls
  std::vector<SimDeal> delayed;

  // what the EA has selected
  long long sel_position = 0, sel_order = 0;
  std::vector<long long> hist_deals, hist_orders;
};
inline SimTerminal &T() { static SimTerminal t; return t; }

inline std::vector<std::string> sim_split(const std::string &line) {
  std::vector<std::string> f;
  std::string cur;
  for (char c : line) { if (c == '\t') { f.push_back(cur); cur.clear(); } else cur.push_back(c); }
  f.push_back(cur);
  return f;
}
inline double sim_d(const std::string &s) { return std::strtod(s.c_str(), nullptr); }
inline long long sim_l(const std::string &s) { return std::strtoll(s.c_str(), nullptr, 10); }
inline std::string sim_g(double v) { char b[64]; std::snprintf(b, sizeof b, "%.10g", v); return b; }
inline long long sim_server_ms() { return mql5_wall_ms() + mql5_clk().server_offset_s * 1000; }

inline void sim_record(const std::vector<std::string> &f) {
  SimTerminal &t = T();
  const std::string &k = f[0];
  auto at = [&](size_t i) -> std::string { return i < f.size() ? f[i] : std::string(); };
  if (k == "account") {
    t.margin_mode = (int)sim_l(at(1)); t.login = sim_l(at(2)); t.currency = at(3); t.balance = sim_d(at(4));
    t.connected = (int)sim_l(at(5)); t.trade_allowed = (int)sim_l(at(6));
  } else if (k == "trade_mode") t.trade_mode = (int)sim_l(at(1));
  else if (k == "next") t.next_ticket = sim_l(at(1));
  else if (k == "server_offset_s") mql5_clk().server_offset_s = sim_l(at(1));
  else if (k == "comment_rewrite") t.comment_rewrite = at(1);
  else if (k == "history_delay") t.history_delay = (int)sim_l(at(1));
  else if (k == "requests") t.requests = sim_l(at(1));
  else if (k == "symbol") {
    SimSymbol s;
    s.name = at(1); s.digits = (int)sim_l(at(2)); s.point = sim_d(at(3)); s.tick_size = sim_d(at(4));
    s.tick_value = sim_d(at(5)); s.contract = sim_d(at(6)); s.vmin = sim_d(at(7)); s.vstep = sim_d(at(8));
    s.vmax = sim_d(at(9)); s.filling = (int)sim_l(at(10)); s.expiration = (int)sim_l(at(11));
    s.order_mode = (int)sim_l(at(12)); s.exemode = (int)sim_l(at(13)); s.stops_level = (int)sim_l(at(14));
    s.freeze_level = (int)sim_l(at(15)); s.bid = sim_d(at(16)); s.ask = sim_d(at(17));
    t.symbols.push_back(s);
  } else if (k == "position") {
    t.positions.push_back({sim_l(at(1)), sim_l(at(2)), at(3), (int)sim_l(at(4)), sim_d(at(5)), sim_d(at(6)), sim_d(at(7)),
                           sim_d(at(8)), sim_l(at(9)), sim_l(at(10)), at(11)});
  } else if (k == "order") {
    t.orders.push_back({sim_l(at(1)), at(2), (int)sim_l(at(3)), sim_d(at(4)), sim_d(at(5)), sim_d(at(6)), sim_d(at(7)),
                        (int)sim_l(at(8)), sim_l(at(9)), sim_l(at(10)), sim_l(at(11)), at(12)});
  } else if (k == "horder") {
    t.horders.push_back({sim_l(at(1)), at(2), (int)sim_l(at(3)), sim_d(at(4)), sim_d(at(5)), (int)sim_l(at(6)),
                         sim_l(at(7)), sim_l(at(8)), sim_l(at(9)), sim_l(at(10)), at(11)});
  } else if (k == "deal" || k == "delayed") {
    SimDeal d{sim_l(at(1)), sim_l(at(2)), at(3), (int)sim_l(at(4)), (int)sim_l(at(5)), sim_d(at(6)), sim_d(at(7)),
              sim_d(at(8)), sim_l(at(9)), sim_l(at(10)), sim_l(at(11)), at(12)};
    (k == "deal" ? t.deals : t.delayed).push_back(d);
  } else if (k == "fault") t.faults[at(1)] = (int)sim_l(at(2));
  else if (k == "bar")
    t.bars.push_back({at(1), (int)sim_l(at(2)), sim_l(at(3)), sim_d(at(4)), sim_d(at(5)), sim_d(at(6)), sim_d(at(7)), sim_l(at(8))});
}

inline void sim_save() {
  SimTerminal &t = T();
  if (!t.loaded) return;
  std::ostringstream o;
  o << "account\t" << t.margin_mode << "\t" << t.login << "\t" << t.currency << "\t" << sim_g(t.balance) << "\t"
    << t.connected << "\t" << t.trade_allowed << "\n";
  o << "trade_mode\t" << t.trade_mode << "\n";
  o << "next\t" << t.next_ticket << "\n";
  o << "server_offset_s\t" << mql5_clk().server_offset_s << "\n";
  o << "comment_rewrite\t" << t.comment_rewrite << "\n";
  o << "history_delay\t" << t.history_delay << "\n";
  o << "requests\t" << t.requests << "\n";
  for (auto &s : t.symbols)
    o << "symbol\t" << s.name << "\t" << s.digits << "\t" << sim_g(s.point) << "\t" << sim_g(s.tick_size) << "\t"
      << sim_g(s.tick_value) << "\t" << sim_g(s.contract) << "\t" << sim_g(s.vmin) << "\t" << sim_g(s.vstep) << "\t"
      << sim_g(s.vmax) << "\t" << s.filling << "\t" << s.expiration << "\t" << s.order_mode << "\t" << s.exemode << "\t"
      << s.stops_level << "\t" << s.freeze_level << "\t" << sim_g(s.bid) << "\t" << sim_g(s.ask) << "\n";
  for (auto &p : t.positions)
    o << "position\t" << p.ticket << "\t" << p.identifier << "\t" << p.symbol << "\t" << p.type << "\t" << sim_g(p.volume)
      << "\t" << sim_g(p.price) << "\t" << sim_g(p.sl) << "\t" << sim_g(p.tp) << "\t" << p.magic << "\t" << p.time_msc
      << "\t" << p.comment << "\n";
  for (auto &r : t.orders)
    o << "order\t" << r.ticket << "\t" << r.symbol << "\t" << r.type << "\t" << sim_g(r.volume) << "\t" << sim_g(r.price)
      << "\t" << sim_g(r.sl) << "\t" << sim_g(r.tp) << "\t" << r.type_time << "\t" << r.expiration << "\t" << r.magic
      << "\t" << r.time_setup_msc << "\t" << r.comment << "\n";
  for (auto &h : t.horders)
    o << "horder\t" << h.ticket << "\t" << h.symbol << "\t" << h.type << "\t" << sim_g(h.volume) << "\t" << sim_g(h.price)
      << "\t" << h.state << "\t" << h.magic << "\t" << h.setup_msc << "\t" << h.done_msc << "\t" << h.position_id << "\t"
      << h.comment << "\n";
  auto deal = [&](const char *k, const SimDeal &d) {
    o << k << "\t" << d.ticket << "\t" << d.order << "\t" << d.symbol << "\t" << d.type << "\t" << d.entry << "\t"
      << sim_g(d.volume) << "\t" << sim_g(d.price) << "\t" << sim_g(d.profit) << "\t" << d.magic << "\t" << d.position_id
      << "\t" << d.time_msc << "\t" << d.comment << "\n";
  };
  for (auto &d : t.deals) deal("deal", d);
  for (auto &d : t.delayed) deal("delayed", d);
  for (auto &f : t.faults) o << "fault\t" << f.first << "\t" << f.second << "\n";
  for (auto &b : t.bars)
    o << "bar\t" << b.symbol << "\t" << b.tf << "\t" << b.time << "\t" << sim_g(b.open) << "\t" << sim_g(b.high) << "\t"
      << sim_g(b.low) << "\t" << sim_g(b.close) << "\t" << b.tick_volume << "\n";
  std::string tmp = t.path + ".tmp";
  { std::ofstream f(tmp, std::ios::binary | std::ios::trunc); f << o.str(); }
  std::rename(tmp.c_str(), t.path.c_str());
}

inline void sim_load(const std::string &path) {
  SimTerminal &t = T();
  t.path = path;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) if (!line.empty()) sim_record(sim_split(line));
  t.loaded = true;
}

inline SimSymbol *sim_symbol(const std::string &name) {
  for (auto &s : T().symbols) if (s.name == name) return &s;
  return nullptr;
}
inline SimPosition *sim_position(long long ticket) {
  for (auto &p : T().positions) if (p.ticket == ticket) return &p;
  return nullptr;
}
inline SimOrder *sim_order(long long ticket) {
  for (auto &o : T().orders) if (o.ticket == ticket) return &o;
  return nullptr;
}
inline bool sim_on_grid(double v, double tick) { double k = v / tick; return std::fabs(k - std::round(k)) < 1e-7; }
inline bool sim_online() { SimTerminal &t = T(); return t.loaded && t.connected; }
inline std::string sim_comment(const std::string &c) {  // what the broker keeps of a comment
  const std::string &r = T().comment_rewrite;
  if (r.rfind("truncate:", 0) == 0) return c.substr(0, (size_t)std::max(0LL, sim_l(r.substr(9))));
  if (r.rfind("suffix:", 0) == 0) return c + r.substr(7);
  if (r.rfind("replace:", 0) == 0) return r.substr(8);
  return c;
}
inline bool sim_fault(const char *name) {
  auto it = T().faults.find(name);
  if (it == T().faults.end() || it->second <= 0) return false;
  it->second--;
  return true;
}
// crash points: the EA process dies like under kill -9 (no OnDeinit); the server's state
// (this file) is saved first, as a real trade server keeps what it executed.
// `fault crash_X N` dies at the N-th occurrence of X from now.
inline double &sim_crash_p() { static double p = 0; return p; }  // MTPONTE_EA_CRASH_P: die at any point
inline void sim_crashpoint(const char *name) {
  auto it = T().faults.find(name);
  bool random_death = sim_crash_p() > 0 && (double)std::rand() / RAND_MAX < sim_crash_p();
  if (!random_death) {
    if (it == T().faults.end() || it->second <= 0) return;
    if (--it->second > 0) return;
  }
  sim_save();
  std::fprintf(stderr, "[harness] crash at %s\n", name);
  std::fflush(stderr);
  ::_exit(137);
}

// book one market deal; netting/exchange accounts keep one position per symbol
inline void sim_book_deal(const SimSymbol &s, int type, double volume, double price, double sl, double tp, long long magic,
                          const std::string &comment, long long order, long long position, MqlTradeResult &res,
                          bool delay) {
  SimTerminal &t = T();
  long long now = sim_server_ms();
  int dir = type == ORDER_TYPE_BUY ? 1 : -1;
  SimPosition *p = nullptr;
  if (position) p = sim_position(position);
  else if (t.margin_mode != ACCOUNT_MARGIN_MODE_RETAIL_HEDGING)
    for (auto &q : t.positions) if (q.symbol == s.name) p = &q;
  SimDeal d{t.next_ticket++, order, s.name, type == ORDER_TYPE_BUY ? DEAL_TYPE_BUY : DEAL_TYPE_SELL, DEAL_ENTRY_IN, volume, price,
            0, magic, order, now, sim_comment(comment)};
  if (p == nullptr) {
    t.positions.push_back({order, order, s.name, type == ORDER_TYPE_BUY ? POSITION_TYPE_BUY : POSITION_TYPE_SELL, volume, price,
                           sl, tp, magic, now, sim_comment(comment)});
  } else {
    int pdir = p->type == POSITION_TYPE_BUY ? 1 : -1;
    d.position_id = p->identifier;
    if (pdir == dir) {  // increase: average price; SL/TP from the latest order (zero removes them)
      p->price = (p->price * p->volume + price * volume) / (p->volume + volume);
      p->volume += volume;
      p->sl = sl; p->tp = tp;
    } else {
      double closed = std::min(volume, p->volume);
      d.profit = (price - p->price) * pdir * closed * s.tick_value / s.tick_size;
      t.balance += d.profit;
      if (volume < p->volume - 1e-9) { d.entry = DEAL_ENTRY_OUT; p->volume -= volume; }
      else if (volume <= p->volume + 1e-9) {
        d.entry = DEAL_ENTRY_OUT;
        long long id = p->ticket;
        t.positions.erase(std::remove_if(t.positions.begin(), t.positions.end(), [&](const SimPosition &q) { return q.ticket == id; }),
                          t.positions.end());
      } else {  // reversal: same identifier, new ticket, the rest opens the other way
        d.entry = DEAL_ENTRY_INOUT;
        p->ticket = order; p->type = type == ORDER_TYPE_BUY ? POSITION_TYPE_BUY : POSITION_TYPE_SELL;
        p->volume = volume - closed; p->price = price; p->sl = sl; p->tp = tp; p->comment = sim_comment(comment);
      }
    }
  }
  t.horders.push_back({order, s.name, type, volume, price, ORDER_STATE_FILLED, magic, now, now, d.position_id, sim_comment(comment)});
  if (delay && t.history_delay > 0) t.delayed.push_back(d);
  else t.deals.push_back(d);
  res.deal = d.ticket;
  res.order = order;
  res.volume = volume;
  res.price = price;
}

inline bool sim_stops_ok(const SimSymbol &s, int dir, double ref, double sl, double tp) {
  double gap = s.stops_level * s.point;
  if (sl > 0 && (!sim_on_grid(sl, s.tick_size) || (ref - sl) * dir <= gap)) return false;
  if (tp > 0 && (!sim_on_grid(tp, s.tick_size) || (tp - ref) * dir <= gap)) return false;
  return true;
}

inline bool OrderSend(const MqlTradeRequest &rq, MqlTradeResult &res) {
  SimTerminal &t = T();
  res = MqlTradeResult();
  auto fail = [&](uint code, const char *msg) {
    res.retcode = code; res.comment = msg; mql5_last_error() = ERR_TRADE_SEND_FAILED;
    sim_save();
    return false;
  };
  if (!sim_online()) return fail(TRADE_RETCODE_CONNECTION, "No connection with the trade server");
  sim_crashpoint("crash_before_send");  // the request never left the terminal
  t.requests++;
  std::string sym = narrow(rq.symbol), comment = narrow(rq.comment);
  if (comment.size() > 31) comment.resize(31);
  long long now = sim_server_ms();
  bool ok = false;
  if (rq.action == TRADE_ACTION_DEAL) {
    SimSymbol *s = sim_symbol(sym);
    if (!s) return fail(TRADE_RETCODE_INVALID, "Invalid request (symbol)");
    if (rq.type != ORDER_TYPE_BUY && rq.type != ORDER_TYPE_SELL) return fail(TRADE_RETCODE_INVALID, "Invalid request (type)");
    if (rq.volume < s->vmin - 1e-9 || rq.volume > s->vmax + 1e-9 || !sim_on_grid(rq.volume, s->vstep))
      return fail(TRADE_RETCODE_INVALID_VOLUME, "Invalid volume");
    bool fill_ok = rq.type_filling == ORDER_FILLING_FOK ? (s->filling & SYMBOL_FILLING_FOK)
                   : rq.type_filling == ORDER_FILLING_IOC ? (s->filling & SYMBOL_FILLING_IOC)
                   : rq.type_filling == ORDER_FILLING_RETURN ? s->exemode != SYMBOL_TRADE_EXECUTION_MARKET : false;
    if (!fill_ok) return fail(TRADE_RETCODE_INVALID_FILL, "Unsupported filling mode");
    if (s->bid <= 0 || s->ask <= 0) return fail(TRADE_RETCODE_PRICE_OFF, "No quotes");
    int dir = rq.type == ORDER_TYPE_BUY ? 1 : -1;
    double fill = dir > 0 ? s->ask : s->bid;
    SimPosition *p = nullptr;
    if (rq.position) {
      p = sim_position((long long)rq.position);
      if (!p || p->symbol != sym) return fail(TRADE_RETCODE_POSITION_CLOSED, "Position doesn't exist");
      int pdir = p->type == POSITION_TYPE_BUY ? 1 : -1;
      if (pdir == dir) return fail(TRADE_RETCODE_INVALID, "Invalid request (position side)");
      if (t.margin_mode == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING && rq.volume > p->volume + 1e-9)
        return fail(TRADE_RETCODE_INVALID_VOLUME, "Invalid volume (more than the position)");
    }
    bool entry = rq.position == 0;  // SL/TP apply to what the deal opens
    if (entry && (rq.sl > 0 || rq.tp > 0)) {
      if ((rq.sl > 0 && !(s->order_mode & SYMBOL_ORDER_SL)) || (rq.tp > 0 && !(s->order_mode & SYMBOL_ORDER_TP)))
        return fail(TRADE_RETCODE_INVALID_STOPS, "Invalid stops (not allowed for the symbol)");
      if (!sim_stops_ok(*s, dir, dir > 0 ? s->bid : s->ask, rq.sl, rq.tp)) return fail(TRADE_RETCODE_INVALID_STOPS, "Invalid stops");
    }
    if (sim_fault("timeout_nobook")) return fail(TRADE_RETCODE_TIMEOUT, "Request canceled by timeout");
    long long order = t.next_ticket++;
    bool late = sim_fault("timeout_book");
    bool async = !late && sim_fault("placed_async");  // exchange: 10008 now, the deal later
    sim_book_deal(*s, rq.type, rq.volume, fill, rq.sl, rq.tp, (long long)rq.magic, comment, order, (long long)rq.position, res,
                  late || async);
    if (late) { sim_save(); res = MqlTradeResult(); return fail(TRADE_RETCODE_TIMEOUT, "Request canceled by timeout"); }
    if (async) {
      res = MqlTradeResult();
      res.retcode = TRADE_RETCODE_PLACED; res.order = order; res.volume = rq.volume; res.comment = "Order placed";
      sim_save();
      return true;
    }
    res.retcode = TRADE_RETCODE_DONE; res.comment = "Request executed"; res.bid = s->bid; res.ask = s->ask;
    if (entry && rq.sl > 0 && sim_fault("drop_sl"))  // the broker filled the entry without its stop (review #11)
      for (auto &d : t.deals)
        if (d.ticket == (long long)res.deal)
          for (auto &q : t.positions) if (q.identifier == d.position_id) q.sl = 0;
    ok = true;
  } else if (rq.action == TRADE_ACTION_PENDING) {
    SimSymbol *s = sim_symbol(sym);
    if (!s) return fail(TRADE_RETCODE_INVALID, "Invalid request (symbol)");
    if (rq.volume < s->vmin - 1e-9 || rq.volume > s->vmax + 1e-9 || !sim_on_grid(rq.volume, s->vstep))
      return fail(TRADE_RETCODE_INVALID_VOLUME, "Invalid volume");
    int ty = rq.type, dir = (ty == ORDER_TYPE_BUY_LIMIT || ty == ORDER_TYPE_BUY_STOP) ? 1 : -1;
    if (ty < ORDER_TYPE_BUY_LIMIT || ty > ORDER_TYPE_SELL_STOP) return fail(TRADE_RETCODE_INVALID, "Invalid request (type)");
    bool side_ok = ty == ORDER_TYPE_BUY_STOP ? rq.price > s->ask : ty == ORDER_TYPE_SELL_STOP ? rq.price < s->bid
                   : ty == ORDER_TYPE_BUY_LIMIT ? rq.price < s->ask : rq.price > s->bid;
    if (!sim_on_grid(rq.price, s->tick_size) || !side_ok) return fail(TRADE_RETCODE_INVALID_PRICE, "Invalid price");
    if ((rq.sl > 0 && !(s->order_mode & SYMBOL_ORDER_SL)) || (rq.tp > 0 && !(s->order_mode & SYMBOL_ORDER_TP)))
      return fail(TRADE_RETCODE_INVALID_STOPS, "Invalid stops (not allowed for the symbol)");
    if (!sim_stops_ok(*s, dir, rq.price, rq.sl, rq.tp)) return fail(TRADE_RETCODE_INVALID_STOPS, "Invalid stops");
    int tt = rq.type_time;
    int need = tt == ORDER_TIME_GTC ? SYMBOL_EXPIRATION_GTC : tt == ORDER_TIME_DAY ? SYMBOL_EXPIRATION_DAY
               : tt == ORDER_TIME_SPECIFIED ? SYMBOL_EXPIRATION_SPECIFIED : SYMBOL_EXPIRATION_SPECIFIED_DAY;
    if (!(s->expiration & need)) return fail(TRADE_RETCODE_INVALID_EXPIRATION, "Invalid expiration");
    if ((tt == ORDER_TIME_SPECIFIED || tt == ORDER_TIME_SPECIFIED_DAY) && rq.expiration <= TimeTradeServer())
      return fail(TRADE_RETCODE_INVALID_EXPIRATION, "Invalid expiration");
    if (sim_fault("timeout_nobook")) return fail(TRADE_RETCODE_TIMEOUT, "Request canceled by timeout");
    long long order = t.next_ticket++;
    bool day = sim_fault("pending_day");  // the broker books a SPECIFIED order as DAY (review #9)
    t.orders.push_back({order, sym, ty, rq.volume, rq.price, rq.sl, rq.tp, day ? (int)ORDER_TIME_DAY : tt,
                        day ? 0LL : (long long)rq.expiration, (long long)rq.magic, now, sim_comment(comment)});
    if (sim_fault("timeout_book")) { sim_save(); return fail(TRADE_RETCODE_TIMEOUT, "Request canceled by timeout"); }
    res.retcode = TRADE_RETCODE_DONE; res.order = order; res.volume = rq.volume; res.price = rq.price;
    res.comment = "Request executed";
    ok = true;
  } else if (rq.action == TRADE_ACTION_SLTP) {
    SimPosition *p = sim_position((long long)rq.position);
    if (!p) return fail(TRADE_RETCODE_POSITION_CLOSED, "Position doesn't exist");
    if (sim_fault("fail_sltp")) return fail(TRADE_RETCODE_REJECT, "Request rejected");
    SimSymbol *s = sim_symbol(p->symbol);
    if (std::fabs(p->sl - rq.sl) < 1e-9 && std::fabs(p->tp - rq.tp) < 1e-9) return fail(TRADE_RETCODE_NO_CHANGES, "No changes");
    int dir = p->type == POSITION_TYPE_BUY ? 1 : -1;
    if (!sim_stops_ok(*s, dir, dir > 0 ? s->bid : s->ask, rq.sl, rq.tp)) return fail(TRADE_RETCODE_INVALID_STOPS, "Invalid stops");
    p->sl = rq.sl; p->tp = rq.tp;
    res.retcode = TRADE_RETCODE_DONE; res.comment = "Request executed";
    ok = true;
  } else if (rq.action == TRADE_ACTION_REMOVE) {
    SimOrder *o = sim_order((long long)rq.order);
    if (!o) return fail(TRADE_RETCODE_INVALID, "Invalid request (no such order)");
    t.horders.push_back({o->ticket, o->symbol, o->type, o->volume, o->price, ORDER_STATE_CANCELED, o->magic, o->time_setup_msc, now, 0,
                         o->comment});
    long long id = o->ticket;
    t.orders.erase(std::remove_if(t.orders.begin(), t.orders.end(), [&](const SimOrder &q) { return q.ticket == id; }), t.orders.end());
    res.retcode = TRADE_RETCODE_DONE; res.order = id; res.comment = "Request executed";
    ok = true;
  } else {
    return fail(TRADE_RETCODE_INVALID, "Invalid request (action not simulated)");
  }
  sim_save();
  if (ok) sim_crashpoint("crash_after_send");
  return ok;
}

// pending orders: expiry in server time, triggers on the current quote
inline void sim_tick() {
  SimTerminal &t = T();
  if (!sim_online()) return;
  long long now_s = TimeTradeServer();
  bool changed = false;
  for (size_t i = 0; i < t.orders.size();) {
    SimOrder o = t.orders[i];
    long long day_end = (o.time_setup_msc / 1000 / 86400 + 1) * 86400;
    bool expired = ((o.type_time == ORDER_TIME_SPECIFIED || o.type_time == ORDER_TIME_SPECIFIED_DAY) && o.expiration <= now_s) ||
                   (o.type_time == ORDER_TIME_DAY && now_s >= day_end);
    SimSymbol *s = sim_symbol(o.symbol);
    bool hit = s && s->bid > 0 &&
               (o.type == ORDER_TYPE_BUY_STOP ? s->ask >= o.price : o.type == ORDER_TYPE_SELL_STOP ? s->bid <= o.price
                : o.type == ORDER_TYPE_BUY_LIMIT ? s->ask <= o.price : s->bid >= o.price);
    if (expired) {
      t.horders.push_back({o.ticket, o.symbol, o.type, o.volume, o.price, ORDER_STATE_EXPIRED, o.magic, o.time_setup_msc,
                           sim_server_ms(), 0, o.comment});
      t.orders.erase(t.orders.begin() + i);
      changed = true;
    } else if (hit) {
      t.orders.erase(t.orders.begin() + i);
      MqlTradeResult r;
      int mtype = (o.type == ORDER_TYPE_BUY_STOP || o.type == ORDER_TYPE_BUY_LIMIT) ? ORDER_TYPE_BUY : ORDER_TYPE_SELL;
      sim_book_deal(*s, mtype, o.volume, o.price, o.sl, o.tp, o.magic, o.comment, o.ticket, 0, r, false);
      changed = true;
    } else i++;
  }
  if (changed) sim_save();
}

// control lines from the test: quote, fault, connected, comment_rewrite, skew_ms, offset_s
inline void sim_control(const std::vector<std::string> &f) {
  SimTerminal &t = T();
  auto at = [&](size_t i) -> std::string { return i < f.size() ? f[i] : std::string(); };
  if (f[0] == "quote") { if (SimSymbol *s = sim_symbol(at(1))) { s->bid = sim_d(at(2)); s->ask = sim_d(at(3)); } }
  else if (f[0] == "fault") t.faults[at(1)] = (int)sim_l(at(2));
  else if (f[0] == "connected") t.connected = (int)sim_l(at(1));
  else if (f[0] == "comment_rewrite") t.comment_rewrite = at(1);
  else if (f[0] == "history_delay") t.history_delay = (int)sim_l(at(1));
  else if (f[0] == "skew_ms") mql5_clk().gmt_skew_ms = sim_l(at(1));
  else if (f[0] == "offset_s") mql5_clk().server_offset_s = sim_l(at(1));
  else if (f[0] == "cancel_order") {  // deleted by hand in the terminal
    if (SimOrder *o = sim_order(sim_l(at(1)))) {
      t.horders.push_back({o->ticket, o->symbol, o->type, o->volume, o->price, ORDER_STATE_CANCELED, o->magic,
                           o->time_setup_msc, sim_server_ms(), 0, o->comment});
      long long id = o->ticket;
      t.orders.erase(std::remove_if(t.orders.begin(), t.orders.end(), [&](const SimOrder &q) { return q.ticket == id; }),
                     t.orders.end());
    }
  }
  else if (f[0] == "close_position") {  // closed by hand in the terminal: magic 0, no comment
    SimPosition *p = sim_position(sim_l(at(1)));
    SimSymbol *s = p ? sim_symbol(p->symbol) : nullptr;
    if (p && s) {
      int type = p->type == POSITION_TYPE_BUY ? ORDER_TYPE_SELL : ORDER_TYPE_BUY;
      MqlTradeResult r;
      long long order = t.next_ticket++;
      sim_book_deal(*s, type, p->volume, type == ORDER_TYPE_BUY ? s->ask : s->bid, 0, 0, 0, "", order, p->ticket, r, false);
    }
  }
  sim_save();
}

// ------------------------------------------------------------------ the MQL5 trade API
inline long long TerminalInfoInteger(ENUM_TERMINAL_INFO_INTEGER p) {
  if (p == TERMINAL_CONNECTED) return sim_online();
  if (p == TERMINAL_TRADE_ALLOWED) return T().trade_allowed;
  return 4000;
}
inline long long MQLInfoInteger(ENUM_MQL_INFO_INTEGER p) { return p == MQL_TRADE_ALLOWED ? 1 : 0; }
inline long long AccountInfoInteger(ENUM_ACCOUNT_INFO_INTEGER p) {
  if (!sim_online()) return 0;  // before the terminal is connected and synchronised
  if (p == ACCOUNT_LOGIN) return T().login;
  if (p == ACCOUNT_MARGIN_MODE) return T().margin_mode;
  if (p == ACCOUNT_TRADE_MODE) return T().trade_mode;
  if (p == ACCOUNT_TRADE_ALLOWED || p == ACCOUNT_TRADE_EXPERT) return 1;
  return 0;
}
inline double sim_profit(const SimPosition &p) {
  SimSymbol *s = sim_symbol(p.symbol);
  if (!s || s->bid <= 0) return 0;
  int dir = p.type == POSITION_TYPE_BUY ? 1 : -1;
  double px = dir > 0 ? s->bid : s->ask;
  return (px - p.price) * dir * p.volume * s->tick_value / s->tick_size;
}
inline double AccountInfoDouble(ENUM_ACCOUNT_INFO_DOUBLE p) {
  double floating = 0;
  for (auto &q : T().positions) floating += sim_profit(q);
  if (p == ACCOUNT_BALANCE) return T().balance;
  if (p == ACCOUNT_EQUITY || p == ACCOUNT_MARGIN_FREE) return T().balance + floating;
  if (p == ACCOUNT_PROFIT) return floating;
  return 0;
}
inline string AccountInfoString(ENUM_ACCOUNT_INFO_STRING p) { return p == ACCOUNT_CURRENCY ? string(T().currency.c_str()) : string("sim"); }

inline int SymbolsTotal(bool selected) { (void)selected; return (int)T().symbols.size(); }
inline string SymbolName(int i, bool selected) {
  (void)selected;
  return i >= 0 && i < (int)T().symbols.size() ? widen_utf8(T().symbols[i].name) : string();
}
inline bool SymbolSelect(const string &name, bool select) { (void)select; return sim_symbol(narrow(name)) != nullptr; }
inline double SymbolInfoDouble(const string &name, ENUM_SYMBOL_INFO_DOUBLE p) {
  SimSymbol *s = sim_symbol(narrow(name));
  if (!s) return 0;
  switch (p) {
    case SYMBOL_BID: return s->bid;
    case SYMBOL_ASK: return s->ask;
    case SYMBOL_POINT: return s->point;
    case SYMBOL_TRADE_TICK_SIZE: return s->tick_size;
    case SYMBOL_TRADE_TICK_VALUE: return s->tick_value;
    case SYMBOL_TRADE_CONTRACT_SIZE: return s->contract;
    case SYMBOL_VOLUME_MIN: return s->vmin;
    case SYMBOL_VOLUME_MAX: return s->vmax;
    case SYMBOL_VOLUME_STEP: return s->vstep;
  }
  return 0;
}
inline long long SymbolInfoInteger(const string &name, ENUM_SYMBOL_INFO_INTEGER p) {
  SimSymbol *s = sim_symbol(narrow(name));
  if (!s) return 0;
  switch (p) {
    case SYMBOL_DIGITS: return s->digits;
    case SYMBOL_TRADE_STOPS_LEVEL: return s->stops_level;
    case SYMBOL_TRADE_FREEZE_LEVEL: return s->freeze_level;
    case SYMBOL_TRADE_EXEMODE: return s->exemode;
    case SYMBOL_FILLING_MODE: return s->filling;
    case SYMBOL_EXPIRATION_MODE: return s->expiration;
    case SYMBOL_ORDER_MODE: return s->order_mode;
    case SYMBOL_SELECT: return 1;
    case SYMBOL_TIME: return TimeCurrent();
    default: return 0;
  }
}
inline string _Symbol_init() { return string("WIN"); }
static string _Symbol = _Symbol_init();
// bars the test wrote (`bar` records): start_pos counts back from the newest bar (0),
// the copy is oldest first, as MQL5's CopyRates fills a non-series array
inline int CopyRates(const string &symbol, ENUM_TIMEFRAMES tf, int start_pos, int count, MqlArray<MqlRates> &r) {
  r.clear();
  std::vector<SimBar> bs;
  for (auto &b : T().bars) if (b.symbol == narrow(symbol) && b.tf == (int)tf) bs.push_back(b);
  std::sort(bs.begin(), bs.end(), [](const SimBar &a, const SimBar &b) { return a.time < b.time; });
  int n = (int)bs.size(), end = n - start_pos, begin = std::max(0, end - count);
  if (end <= 0) return bs.empty() ? -1 : 0;
  for (int i = begin; i < end; i++)
    r.push_back({(datetime)bs[i].time, bs[i].open, bs[i].high, bs[i].low, bs[i].close, bs[i].tick_volume, 0, 0});
  return (int)r.size();
}
inline datetime iTime(const string &, ENUM_TIMEFRAMES, int) { return 0; }

// positions (the selected one is read live by ticket)
inline int PositionsTotal() { return sim_online() ? (int)T().positions.size() : 0; }
inline ulong PositionGetTicket(int i) {
  if (!sim_online() || i < 0 || i >= (int)T().positions.size()) { T().sel_position = 0; return 0; }
  T().sel_position = T().positions[i].ticket;
  return (ulong)T().sel_position;
}
inline bool PositionSelectByTicket(ulong t) {
  if (!sim_online() || !sim_position((long long)t)) { mql5_last_error() = ERR_TRADE_POSITION_NOT_FOUND; return false; }
  T().sel_position = (long long)t;
  return true;
}
inline bool PositionSelect(const string &sym) {
  if (sim_online())
    for (auto &p : T().positions) if (p.symbol == narrow(sym)) { T().sel_position = p.ticket; return true; }
  mql5_last_error() = ERR_TRADE_POSITION_NOT_FOUND;
  return false;
}
inline SimPosition *sim_selp() { return sim_position(T().sel_position); }
inline long long PositionGetInteger(ENUM_POSITION_PROPERTY_INTEGER p) {
  SimPosition *q = sim_selp();
  if (!q) return 0;
  switch (p) {
    case POSITION_TICKET: return q->ticket;
    case POSITION_TIME: return q->time_msc / 1000;
    case POSITION_TIME_MSC: case POSITION_TIME_UPDATE: return q->time_msc;
    case POSITION_TYPE: return q->type;
    case POSITION_MAGIC: return q->magic;
    case POSITION_IDENTIFIER: return q->identifier;
    default: return 0;
  }
}
inline double PositionGetDouble(ENUM_POSITION_PROPERTY_DOUBLE p) {
  SimPosition *q = sim_selp();
  if (!q) return 0;
  SimSymbol *s = sim_symbol(q->symbol);
  switch (p) {
    case POSITION_VOLUME: return q->volume;
    case POSITION_PRICE_OPEN: return q->price;
    case POSITION_SL: return q->sl;
    case POSITION_TP: return q->tp;
    case POSITION_PRICE_CURRENT: return s ? (q->type == POSITION_TYPE_BUY ? s->bid : s->ask) : 0;
    case POSITION_PROFIT: return sim_profit(*q);
    default: return 0;
  }
}
inline string PositionGetString(ENUM_POSITION_PROPERTY_STRING p) {
  SimPosition *q = sim_selp();
  if (!q) return string();
  return widen_utf8(p == POSITION_SYMBOL ? q->symbol : p == POSITION_COMMENT ? q->comment : std::string());
}

// live orders
inline int OrdersTotal() { return sim_online() ? (int)T().orders.size() : 0; }
inline ulong OrderGetTicket(int i) {
  if (!sim_online() || i < 0 || i >= (int)T().orders.size()) { T().sel_order = 0; return 0; }
  T().sel_order = T().orders[i].ticket;
  return (ulong)T().sel_order;
}
inline bool OrderSelect(ulong t) {
  if (!sim_online() || !sim_order((long long)t)) { mql5_last_error() = ERR_TRADE_ORDER_NOT_FOUND; return false; }
  T().sel_order = (long long)t;
  return true;
}
inline long long OrderGetInteger(ENUM_ORDER_PROPERTY_INTEGER p) {
  SimOrder *o = sim_order(T().sel_order);
  if (!o) return 0;
  switch (p) {
    case ORDER_TICKET: return o->ticket;
    case ORDER_TIME_SETUP: return o->time_setup_msc / 1000;
    case ORDER_TIME_SETUP_MSC: return o->time_setup_msc;
    case ORDER_TYPE: return o->type;
    case ORDER_STATE: return ORDER_STATE_PLACED;
    case ORDER_TIME_EXPIRATION: return o->expiration;
    case ORDER_TYPE_TIME: return o->type_time;
    case ORDER_TYPE_FILLING: return ORDER_FILLING_RETURN;
    case ORDER_MAGIC: return o->magic;
    default: return 0;
  }
}
inline double OrderGetDouble(ENUM_ORDER_PROPERTY_DOUBLE p) {
  SimOrder *o = sim_order(T().sel_order);
  if (!o) return 0;
  switch (p) {
    case ORDER_VOLUME_INITIAL: case ORDER_VOLUME_CURRENT: return o->volume;
    case ORDER_PRICE_OPEN: return o->price;
    case ORDER_SL: return o->sl;
    case ORDER_TP: return o->tp;
    default: return 0;
  }
}
inline string OrderGetString(ENUM_ORDER_PROPERTY_STRING p) {
  SimOrder *o = sim_order(T().sel_order);
  if (!o) return string();
  return widen_utf8(p == ORDER_SYMBOL ? o->symbol : p == ORDER_COMMENT ? o->comment : std::string());
}

// history: HistorySelect(from, to) in server time picks the orders and deals of the range
inline bool HistorySelect(datetime from, datetime to) {
  SimTerminal &t = T();
  t.hist_deals.clear();
  t.hist_orders.clear();
  if (!sim_online()) return false;
  if (!t.delayed.empty()) {  // deals the server booked late reach the terminal after a while
    if (--t.history_delay <= 0) { for (auto &d : t.delayed) t.deals.push_back(d); t.delayed.clear(); sim_save(); }
  }
  for (auto &d : t.deals) if (d.time_msc / 1000 >= from && d.time_msc / 1000 <= to) t.hist_deals.push_back(d.ticket);
  for (auto &h : t.horders) if (h.done_msc / 1000 >= from && h.setup_msc / 1000 <= to) t.hist_orders.push_back(h.ticket);
  return true;
}
inline int HistoryDealsTotal() { return (int)T().hist_deals.size(); }
inline int HistoryOrdersTotal() { return (int)T().hist_orders.size(); }
inline ulong HistoryDealGetTicket(int i) { return i >= 0 && i < (int)T().hist_deals.size() ? (ulong)T().hist_deals[i] : 0; }
inline ulong HistoryOrderGetTicket(int i) { return i >= 0 && i < (int)T().hist_orders.size() ? (ulong)T().hist_orders[i] : 0; }
inline SimDeal *sim_deal(ulong t) { for (auto &d : T().deals) if (d.ticket == (long long)t) return &d; return nullptr; }
inline SimHOrder *sim_horder(ulong t) { for (auto &h : T().horders) if (h.ticket == (long long)t) return &h; return nullptr; }
inline bool HistoryDealSelect(ulong t) {
  if (!sim_online() || !sim_deal(t)) return false;
  T().hist_deals = {(long long)t};
  return true;
}
inline bool HistoryOrderSelect(ulong t) {
  if (!sim_online() || !sim_horder(t)) return false;
  T().hist_orders = {(long long)t};
  return true;
}
inline long long HistoryDealGetInteger(ulong t, ENUM_DEAL_PROPERTY_INTEGER p) {
  SimDeal *d = sim_deal(t);
  if (!d) { mql5_last_error() = ERR_TRADE_DEAL_NOT_FOUND; return 0; }
  switch (p) {
    case DEAL_TICKET: return d->ticket;
    case DEAL_ORDER: return d->order;
    case DEAL_TIME: return d->time_msc / 1000;
    case DEAL_TIME_MSC: return d->time_msc;
    case DEAL_TYPE: return d->type;
    case DEAL_ENTRY: return d->entry;
    case DEAL_MAGIC: return d->magic;
    case DEAL_POSITION_ID: return d->position_id;
    default: return 0;
  }
}
inline double HistoryDealGetDouble(ulong t, ENUM_DEAL_PROPERTY_DOUBLE p) {
  SimDeal *d = sim_deal(t);
  if (!d) return 0;
  return p == DEAL_VOLUME ? d->volume : p == DEAL_PRICE ? d->price : p == DEAL_PROFIT ? d->profit : 0;
}
inline string HistoryDealGetString(ulong t, ENUM_DEAL_PROPERTY_STRING p) {
  SimDeal *d = sim_deal(t);
  if (!d) return string();
  return widen_utf8(p == DEAL_SYMBOL ? d->symbol : p == DEAL_COMMENT ? d->comment : std::string());
}
inline long long HistoryOrderGetInteger(ulong t, ENUM_ORDER_PROPERTY_INTEGER p) {
  SimHOrder *h = sim_horder(t);
  if (!h) return 0;
  switch (p) {
    case ORDER_TICKET: return h->ticket;
    case ORDER_TYPE: return h->type;
    case ORDER_STATE: return h->state;
    case ORDER_MAGIC: return h->magic;
    case ORDER_POSITION_ID: return h->position_id;
    case ORDER_TIME_SETUP: return h->setup_msc / 1000;
    case ORDER_TIME_SETUP_MSC: return h->setup_msc;
    case ORDER_TIME_DONE: return h->done_msc / 1000;
    case ORDER_TIME_DONE_MSC: return h->done_msc;
    default: return 0;
  }
}
inline double HistoryOrderGetDouble(ulong t, ENUM_ORDER_PROPERTY_DOUBLE p) {
  SimHOrder *h = sim_horder(t);
  if (!h) return 0;
  return (p == ORDER_VOLUME_INITIAL || p == ORDER_VOLUME_CURRENT) ? h->volume : p == ORDER_PRICE_OPEN ? h->price : 0;
}
inline string HistoryOrderGetString(ulong t, ENUM_ORDER_PROPERTY_STRING p) {
  SimHOrder *h = sim_horder(t);
  if (!h) return string();
  return widen_utf8(p == ORDER_SYMBOL ? h->symbol : p == ORDER_COMMENT ? h->comment : std::string());
}
