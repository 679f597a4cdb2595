// Trade.h: a CTrade for the harness, written from MetaQuotes' public documentation of
// the CTrade class (Standard Library > Trade Classes > CTrade) and the behaviours the
// review (../shared/reviews/mql5-bridge-review.md) lists. Not MetaQuotes' source.
//
// Behaviours kept on purpose, because the EA must survive them:
// * the margin mode is read once, when the object is constructed (a global CTrade is
//   built before the terminal is connected: it sees 0 = retail netting);
// * PositionClosePartial is for hedging accounts only and returns false at once;
// * PositionClose / PositionModify / PositionClosePartial return false without clearing
//   the previous result when the position cannot be selected (stale Result*()),
// * SL/TP are dropped when SYMBOL_ORDER_MODE lacks SYMBOL_ORDER_SL / SYMBOL_ORDER_TP;
// * a pending order's ORDER_TIME_SPECIFIED becomes ORDER_TIME_DAY when the symbol does
//   not allow SYMBOL_EXPIRATION_SPECIFIED (exchange execution);
// * SetTypeFillingBySymbol picks FOK or IOC only (false when neither is allowed).
#pragma once
#include "terminal.h"

class CTrade {
 protected:
  MqlTradeRequest m_request;
  MqlTradeResult m_result;
  ulong m_magic = 0;
  ulong m_deviation = 10;
  ENUM_ORDER_TYPE_FILLING m_type_filling = ORDER_FILLING_FOK;
  long long m_margin_mode = 0;

  void ClearStructures() { m_request = MqlTradeRequest(); m_result = MqlTradeResult(); }
  bool IsHedging() const { return m_margin_mode == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING; }
  void StopsCheck() {
    long long mode = SymbolInfoInteger(m_request.symbol, SYMBOL_ORDER_MODE);
    if (!(mode & SYMBOL_ORDER_SL)) m_request.sl = 0;
    if (!(mode & SYMBOL_ORDER_TP)) m_request.tp = 0;
  }
  bool Send() { return ::OrderSend(m_request, m_result); }
  bool OpenMarket(ENUM_ORDER_TYPE type, double volume, const string &symbol, double price, double sl, double tp,
                  const string &comment) {
    ClearStructures();
    string sym = symbol == "" ? _Symbol : symbol;
    m_request.action = TRADE_ACTION_DEAL;
    m_request.symbol = sym;
    m_request.magic = m_magic;
    m_request.volume = volume;
    m_request.type = type;
    m_request.price = price != 0 ? price : SymbolInfoDouble(sym, type == ORDER_TYPE_BUY ? SYMBOL_ASK : SYMBOL_BID);
    m_request.sl = sl;
    m_request.tp = tp;
    m_request.deviation = m_deviation;
    m_request.type_filling = m_type_filling;
    m_request.comment = comment;
    StopsCheck();
    return Send();
  }
  bool OpenPending(ENUM_ORDER_TYPE type, double volume, double price, const string &symbol, double sl, double tp,
                   ENUM_ORDER_TYPE_TIME type_time, datetime expiration, const string &comment) {
    ClearStructures();
    m_request.action = TRADE_ACTION_PENDING;
    m_request.symbol = symbol;
    m_request.magic = m_magic;
    m_request.volume = volume;
    m_request.type = type;
    m_request.price = price;
    m_request.sl = sl;
    m_request.tp = tp;
    m_request.type_time = type_time;
    m_request.expiration = expiration;
    m_request.comment = comment;
    m_request.type_filling = m_type_filling;
    if (SymbolInfoInteger(symbol, SYMBOL_TRADE_EXEMODE) == SYMBOL_TRADE_EXECUTION_EXCHANGE) {
      m_request.type_filling = ORDER_FILLING_RETURN;
      if (type_time == ORDER_TIME_SPECIFIED && !(SymbolInfoInteger(symbol, SYMBOL_EXPIRATION_MODE) & SYMBOL_EXPIRATION_SPECIFIED))
        m_request.type_time = ORDER_TIME_DAY;
    }
    StopsCheck();
    return Send();
  }

 public:
  CTrade() { SetMarginMode(); }
  void SetMarginMode() { m_margin_mode = AccountInfoInteger(ACCOUNT_MARGIN_MODE); }
  void SetExpertMagicNumber(ulong magic) { m_magic = magic; }
  void SetDeviationInPoints(ulong d) { m_deviation = d; }
  void SetTypeFilling(ENUM_ORDER_TYPE_FILLING f) { m_type_filling = f; }
  bool SetTypeFillingBySymbol(const string &symbol) {
    long long f = SymbolInfoInteger(symbol, SYMBOL_FILLING_MODE);
    if (f & SYMBOL_FILLING_FOK) { m_type_filling = ORDER_FILLING_FOK; return true; }
    if (f & SYMBOL_FILLING_IOC) { m_type_filling = ORDER_FILLING_IOC; return true; }
    return false;
  }
  bool Buy(double volume, const string &symbol = "", double price = 0, double sl = 0, double tp = 0, const string &comment = "") {
    return OpenMarket(ORDER_TYPE_BUY, volume, symbol, price, sl, tp, comment);
  }
  bool Sell(double volume, const string &symbol = "", double price = 0, double sl = 0, double tp = 0, const string &comment = "") {
    return OpenMarket(ORDER_TYPE_SELL, volume, symbol, price, sl, tp, comment);
  }
  bool BuyStop(double v, double p, const string &s = "", double sl = 0, double tp = 0, ENUM_ORDER_TYPE_TIME tt = ORDER_TIME_GTC,
               datetime e = 0, const string &c = "") { return OpenPending(ORDER_TYPE_BUY_STOP, v, p, s, sl, tp, tt, e, c); }
  bool SellStop(double v, double p, const string &s = "", double sl = 0, double tp = 0, ENUM_ORDER_TYPE_TIME tt = ORDER_TIME_GTC,
                datetime e = 0, const string &c = "") { return OpenPending(ORDER_TYPE_SELL_STOP, v, p, s, sl, tp, tt, e, c); }
  bool BuyLimit(double v, double p, const string &s = "", double sl = 0, double tp = 0, ENUM_ORDER_TYPE_TIME tt = ORDER_TIME_GTC,
                datetime e = 0, const string &c = "") { return OpenPending(ORDER_TYPE_BUY_LIMIT, v, p, s, sl, tp, tt, e, c); }
  bool SellLimit(double v, double p, const string &s = "", double sl = 0, double tp = 0, ENUM_ORDER_TYPE_TIME tt = ORDER_TIME_GTC,
                 datetime e = 0, const string &c = "") { return OpenPending(ORDER_TYPE_SELL_LIMIT, v, p, s, sl, tp, tt, e, c); }
  bool OrderDelete(ulong ticket) {
    ClearStructures();
    m_request.action = TRADE_ACTION_REMOVE;
    m_request.magic = m_magic;
    m_request.order = ticket;
    return Send();
  }
  bool PositionClose(ulong ticket, ulong deviation = (ulong)-1) {
    if (!PositionSelectByTicket(ticket)) return false;
    ClearStructures();
    string sym = PositionGetString(POSITION_SYMBOL);
    bool buy = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
    m_request.action = TRADE_ACTION_DEAL;
    m_request.position = ticket;
    m_request.symbol = sym;
    m_request.volume = PositionGetDouble(POSITION_VOLUME);
    m_request.magic = m_magic;
    m_request.deviation = deviation == (ulong)-1 ? m_deviation : deviation;
    m_request.type = buy ? ORDER_TYPE_SELL : ORDER_TYPE_BUY;
    m_request.price = SymbolInfoDouble(sym, buy ? SYMBOL_BID : SYMBOL_ASK);
    m_request.type_filling = m_type_filling;
    return Send();
  }
  bool PositionClosePartial(ulong ticket, double volume, ulong deviation = (ulong)-1) {
    if (!IsHedging()) return false;  // hedging accounts only
    if (!PositionSelectByTicket(ticket)) return false;
    ClearStructures();
    string sym = PositionGetString(POSITION_SYMBOL);
    bool buy = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
    double pv = PositionGetDouble(POSITION_VOLUME);
    m_request.action = TRADE_ACTION_DEAL;
    m_request.position = ticket;
    m_request.symbol = sym;
    m_request.volume = volume > pv ? pv : volume;
    m_request.magic = m_magic;
    m_request.deviation = deviation == (ulong)-1 ? m_deviation : deviation;
    m_request.type = buy ? ORDER_TYPE_SELL : ORDER_TYPE_BUY;
    m_request.price = SymbolInfoDouble(sym, buy ? SYMBOL_BID : SYMBOL_ASK);
    m_request.type_filling = m_type_filling;
    return Send();
  }
  bool PositionModify(ulong ticket, double sl, double tp) {
    if (!PositionSelectByTicket(ticket)) return false;
    ClearStructures();
    m_request.action = TRADE_ACTION_SLTP;
    m_request.position = ticket;
    m_request.symbol = PositionGetString(POSITION_SYMBOL);
    m_request.magic = m_magic;
    m_request.sl = sl;
    m_request.tp = tp;
    return Send();
  }
  uint ResultRetcode() const { return m_result.retcode; }
  ulong ResultOrder() const { return m_result.order; }
  ulong ResultDeal() const { return m_result.deal; }
  double ResultPrice() const { return m_result.price; }
  double ResultVolume() const { return m_result.volume; }
  string ResultComment() const { return m_result.comment; }
};
