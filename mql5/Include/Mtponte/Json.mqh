//+------------------------------------------------------------------+
//| Json.mqh — the small JSON reader/writer the bridge EA needs.     |
//| Reader: one flat object of string/number/bool/null values (the   |
//| shape of every command). Writer: escapes strings, writes 64-bit  |
//| tickets as strings, UTF-8 output via CharArray conversion.       |
//+------------------------------------------------------------------+
#ifndef MTPONTE_JSON_MQH
#define MTPONTE_JSON_MQH

#define JSON_NULL   0
#define JSON_STRING 1
#define JSON_NUMBER 2
#define JSON_BOOL   3

class CJsonObject
  {
public:
   string            keys[];
   string            values[];
   int               types[];
   int               Find(const string key) const
     {
      for(int i = 0; i < ArraySize(keys); i++)
         if(keys[i] == key)
            return i;
      return -1;
     }
   bool              Has(const string key) const { return Find(key) >= 0 && types[Find(key)] != JSON_NULL; }
   int               Type(const string key) const { int i = Find(key); return i < 0 ? -1 : types[i]; }
   string            Str(const string key) const { int i = Find(key); return i < 0 ? "" : values[i]; }
   double            Num(const string key) const { int i = Find(key); return i < 0 ? 0.0 : StringToDouble(values[i]); }
   long              Long(const string key) const { int i = Find(key); return i < 0 ? 0 : StringToInteger(values[i]); }
   void              Add(const string key, const string value, const int type)
     {
      int n = ArraySize(keys);
      ArrayResize(keys, n + 1);
      ArrayResize(values, n + 1);
      ArrayResize(types, n + 1);
      keys[n] = key;
      values[n] = value;
      types[n] = type;
     }
  };

//--- UTF-8 validation (lead bytes C2..F4, continuation bytes 10xxxxxx)
bool Utf8Valid(const uchar &b[], const int n)
  {
   int i = 0;
   while(i < n)
     {
      uchar c = b[i];
      int extra = 0;
      if(c < 0x80) extra = 0;
      else if(c >= 0xC2 && c <= 0xDF) extra = 1;
      else if(c >= 0xE0 && c <= 0xEF) extra = 2;
      else if(c >= 0xF0 && c <= 0xF4) extra = 3;
      else return false;
      for(int k = 1; k <= extra; k++)
        {
         if(i + k >= n || (b[i + k] & 0xC0) != 0x80)
            return false;
        }
      i += extra + 1;
     }
   return true;
  }

//--- parse one flat JSON object; false on anything else
bool JsonParseFlat(const string s, CJsonObject &obj, string &error)
  {
   int n = StringLen(s), i = 0;
   if(!JsonSkip(s, i, n) || StringGetCharacter(s, i) != '{') { error = "not a JSON object"; return false; }
   i++;
   JsonSkip(s, i, n);
   if(i < n && StringGetCharacter(s, i) == '}') return JsonEnd(s, i + 1, n, error);
   while(i < n)
     {
      string key;
      if(!JsonString(s, i, n, key)) { error = "bad key"; return false; }
      if(obj.Find(key) >= 0) { error = "key " + key + " is given twice"; return false; }  // never "last one wins"
      JsonSkip(s, i, n);
      if(i >= n || StringGetCharacter(s, i) != ':') { error = "expected ':'"; return false; }
      i++;
      JsonSkip(s, i, n);
      if(i >= n) { error = "truncated"; return false; }
      ushort c = StringGetCharacter(s, i);
      if(c == '"')
        {
         string v;
         if(!JsonString(s, i, n, v)) { error = "bad string"; return false; }
         obj.Add(key, v, JSON_STRING);
        }
      else if(c == '{' || c == '[') { error = "nested value for " + key; return false; }
      else
        {
         int start = i;
         while(i < n && StringFind(",} \t\r\n", ShortToString(StringGetCharacter(s, i))) < 0) i++;
         string lit = StringSubstr(s, start, i - start);
         if(lit == "null") obj.Add(key, "", JSON_NULL);
         else if(lit == "true" || lit == "false") obj.Add(key, lit, JSON_BOOL);
         else if(JsonIsNumber(lit)) obj.Add(key, lit, JSON_NUMBER);
         else { error = "bad literal " + lit; return false; }
        }
      JsonSkip(s, i, n);
      if(i >= n) { error = "truncated"; return false; }
      c = StringGetCharacter(s, i);
      if(c == '}') return JsonEnd(s, i + 1, n, error);
      if(c != ',') { error = "expected ','"; return false; }
      i++;
      JsonSkip(s, i, n);
     }
   error = "truncated";
   return false;
  }

bool JsonSkip(const string s, int &i, const int n)
  {
   while(i < n)
     {
      ushort c = StringGetCharacter(s, i);
      if(c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
      i++;
     }
   return i < n;
  }

bool JsonEnd(const string s, int i, const int n, string &error)
  {
   JsonSkip(s, i, n);
   if(i != n) { error = "trailing characters"; return false; }
   return true;
  }

bool JsonDigit(const ushort c) { return c >= '0' && c <= '9'; }

bool JsonIsNumber(const string lit)
  {
   // RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  (no NaN, Infinity, +1, 01, 1., .5)
   int n = StringLen(lit), k = 0;
   if(k < n && StringGetCharacter(lit, k) == '-') k++;
   if(k >= n) return false;
   ushort c = StringGetCharacter(lit, k);
   if(c == '0') k++;
   else if(c >= '1' && c <= '9') { while(k < n && JsonDigit(StringGetCharacter(lit, k))) k++; }
   else return false;
   if(k < n && StringGetCharacter(lit, k) == '.')
     {
      k++;
      if(k >= n || !JsonDigit(StringGetCharacter(lit, k))) return false;
      while(k < n && JsonDigit(StringGetCharacter(lit, k))) k++;
     }
   if(k < n && (StringGetCharacter(lit, k) == 'e' || StringGetCharacter(lit, k) == 'E'))
     {
      k++;
      if(k < n && (StringGetCharacter(lit, k) == '+' || StringGetCharacter(lit, k) == '-')) k++;
      if(k >= n || !JsonDigit(StringGetCharacter(lit, k))) return false;
      while(k < n && JsonDigit(StringGetCharacter(lit, k))) k++;
     }
   return k == n;
  }

bool JsonString(const string s, int &i, const int n, string &out)
  {
   if(StringGetCharacter(s, i) != '"') return false;
   i++;
   out = "";
   while(i < n)
     {
      ushort c = StringGetCharacter(s, i);
      if(c == '"') { i++; return true; }
      if(c == '\\')
        {
         if(i + 1 >= n) return false;
         ushort e = StringGetCharacter(s, i + 1);
         if(e == 'u')
           {
            if(i + 5 >= n) return false;
            out += ShortToString((ushort)StringToInteger("0x" + StringSubstr(s, i + 2, 4)));
            i += 6;
            continue;
           }
         if(e == 'n') out += "\n";
         else if(e == 't') out += "\t";
         else if(e == 'r') out += "\r";
         else if(e == 'b') out += ShortToString(8);
         else if(e == 'f') out += ShortToString(12);
         else out += ShortToString(e);
         i += 2;
         continue;
        }
      out += ShortToString(c);
      i++;
     }
   return false;
  }

//--- writer
string JsonEscape(const string v)
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

class CJsonWriter
  {
   string            m_s;
   bool              m_first;
public:
                     CJsonWriter() { m_s = "{"; m_first = true; }
   void              Key(const string k) { if(!m_first) m_s += ","; m_first = false; m_s += "\"" + JsonEscape(k) + "\":"; }
   void              Str(const string k, const string v) { Key(k); m_s += "\"" + JsonEscape(v) + "\""; }
   void              Int(const string k, const long v) { Key(k); m_s += IntegerToString(v); }
   void              Num(const string k, const double v) { Key(k); m_s += DoubleToString(v, 8); }
   void              Bool(const string k, const bool v) { Key(k); m_s += (v ? "true" : "false"); }
   void              Ticket(const string k, const ulong v) { Key(k); m_s += "\"" + StringFormat("%I64u", v) + "\""; }
   void              Raw(const string k, const string json) { Key(k); m_s += json; }
   string            Done() { return m_s + "}"; }
  };

#endif
