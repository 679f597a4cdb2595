//+------------------------------------------------------------------+
//| JsonTree.mqh — a complete JSON reader (RFC 8259): objects,       |
//| arrays, strings (all escapes, \u surrogate pairs), numbers (the  |
//| JSON grammar), true/false/null, nesting up to 64 levels. The     |
//| document becomes a flat node table; children are linked lists.   |
//| Used by the follower EA for the target book (an array of         |
//| objects); Json.mqh stays the bridge EA's flat-object reader.     |
//+------------------------------------------------------------------+
#ifndef MTPONTE_JSONTREE_MQH
#define MTPONTE_JSONTREE_MQH

#define JT_NULL   0
#define JT_BOOL   1
#define JT_NUMBER 2
#define JT_STRING 3
#define JT_ARRAY  4
#define JT_OBJECT 5
#define JT_MAX_DEPTH 64

struct JsonNode
  {
   int               type;
   string            key;     // the member name when the parent is an object
   string            text;    // string value, number literal, "true"/"false"
   int               first;   // first child (arrays, objects), -1 if none
   int               last;    // last child
   int               next;    // next sibling, -1 at the end
   int               count;   // number of children
  };

class CJsonTree
  {
public:
   JsonNode          nodes[];
   string            error;
   string            m_s;
   int               m_n;
   int               m_i;

   //--- parse a whole document; the root is node 0
   bool              Parse(const string s)
     {
      ArrayFree(nodes);
      error = "";
      m_s = s;
      m_n = StringLen(s);
      m_i = 0;
      Ws();
      if(Value("", 0) < 0)
         return false;
      Ws();
      if(m_i != m_n)
        {
         error = StringFormat("trailing characters at %d", m_i);
         return false;
        }
      return true;
     }
   int               Type(const int n) const { return n < 0 ? -1 : nodes[n].type; }
   bool              IsNull(const int n) const { return n < 0 || nodes[n].type == JT_NULL; }
   int               Count(const int n) const { return n < 0 ? 0 : nodes[n].count; }
   string            Str(const int n) const { return n < 0 ? "" : nodes[n].text; }
   double            Num(const int n) const { return n < 0 ? 0.0 : StringToDouble(nodes[n].text); }
   long              Long(const int n) const { return n < 0 ? 0 : StringToInteger(nodes[n].text); }
   bool              Bool(const int n) const { return n >= 0 && nodes[n].type == JT_BOOL && nodes[n].text == "true"; }
   //--- the member `key` of object node `n` (the last one if repeated), -1 if absent
   int               Get(const int n, const string key) const
     {
      if(n < 0 || nodes[n].type != JT_OBJECT)
         return -1;
      int found = -1;
      for(int c = nodes[n].first; c >= 0; c = nodes[c].next)
         if(nodes[c].key == key)
            found = c;
      return found;
     }
   //--- the k-th element of array node `n`, -1 if out of range
   int               At(const int n, const int k) const
     {
      if(n < 0 || nodes[n].type != JT_ARRAY || k < 0 || k >= nodes[n].count)
         return -1;
      int c = nodes[n].first;
      for(int j = 0; j < k && c >= 0; j++)
         c = nodes[c].next;
      return c;
     }

   //--- the reader
   ushort            Ch() const { return m_i < m_n ? StringGetCharacter(m_s, m_i) : 0; }
   void              Ws()
     {
      while(m_i < m_n)
        {
         ushort c = StringGetCharacter(m_s, m_i);
         if(c != ' ' && c != '\t' && c != '\r' && c != '\n')
            break;
         m_i++;
        }
     }
   int               Add(const int type, const string key, const string text)
     {
      int k = ArraySize(nodes);
      ArrayResize(nodes, k + 1, 64);
      nodes[k].type = type;
      nodes[k].key = key;
      nodes[k].text = text;
      nodes[k].first = -1;
      nodes[k].last = -1;
      nodes[k].next = -1;
      nodes[k].count = 0;
      return k;
     }
   void              Link(const int parent, const int child)
     {
      if(nodes[parent].last < 0)
         nodes[parent].first = child;
      else
         nodes[nodes[parent].last].next = child;
      nodes[parent].last = child;
      nodes[parent].count++;
     }
   int               Fail(const string what)
     {
      if(error == "")
         error = what + " at " + IntegerToString(m_i);
      return -1;
     }
   //--- one value at m_i (whitespace skipped before); its node index or -1
   int               Value(const string key, const int depth)
     {
      if(depth > JT_MAX_DEPTH)
         return Fail("nesting too deep");
      if(m_i >= m_n)
         return Fail("truncated");
      ushort c = Ch();
      if(c == '{')
         return Object(key, depth);
      if(c == '[')
         return Array(key, depth);
      if(c == '"')
        {
         string v;
         if(!String(v))
            return -1;
         return Add(JT_STRING, key, v);
        }
      if(c == '-' || (c >= '0' && c <= '9'))
         return Number(key);
      if(Word("true"))
         return Add(JT_BOOL, key, "true");
      if(Word("false"))
         return Add(JT_BOOL, key, "false");
      if(Word("null"))
         return Add(JT_NULL, key, "");
      return Fail("unexpected character");
     }
   bool              Word(const string w)
     {
      int k = StringLen(w);
      if(StringSubstr(m_s, m_i, k) != w)
         return false;
      m_i += k;
      return true;
     }
   int               Object(const string key, const int depth)
     {
      int me = Add(JT_OBJECT, key, "");
      m_i++;
      Ws();
      if(Ch() == '}')
        {
         m_i++;
         return me;
        }
      while(true)
        {
         Ws();
         if(Ch() != '"')
            return Fail("expected a member name");
         string name;
         if(!String(name))
            return -1;
         Ws();
         if(Ch() != ':')
            return Fail("expected ':'");
         m_i++;
         Ws();
         int child = Value(name, depth + 1);
         if(child < 0)
            return -1;
         Link(me, child);
         Ws();
         ushort c = Ch();
         m_i++;
         if(c == '}')
            return me;
         if(c != ',')
            return Fail("expected ',' or '}'");
        }
      return -1;
     }
   int               Array(const string key, const int depth)
     {
      int me = Add(JT_ARRAY, key, "");
      m_i++;
      Ws();
      if(Ch() == ']')
        {
         m_i++;
         return me;
        }
      while(true)
        {
         Ws();
         int child = Value("", depth + 1);
         if(child < 0)
            return -1;
         Link(me, child);
         Ws();
         ushort c = Ch();
         m_i++;
         if(c == ']')
            return me;
         if(c != ',')
            return Fail("expected ',' or ']'");
        }
      return -1;
     }
   bool              ReadDigits()
     {
      int start = m_i;
      while(m_i < m_n && Ch() >= '0' && Ch() <= '9')
         m_i++;
      return m_i > start;
     }
   //--- -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
   int               Number(const string key)
     {
      int start = m_i;
      if(Ch() == '-')
         m_i++;
      if(Ch() == '0')
         m_i++;
      else if(!ReadDigits())
         return Fail("bad number");
      if(Ch() == '.')
        {
         m_i++;
         if(!ReadDigits())
            return Fail("bad number");
        }
      if(Ch() == 'e' || Ch() == 'E')
        {
         m_i++;
         if(Ch() == '+' || Ch() == '-')
            m_i++;
         if(!ReadDigits())
            return Fail("bad number");
        }
      return Add(JT_NUMBER, key, StringSubstr(m_s, start, m_i - start));
     }
   int               Hex4()
     {
      if(m_i + 4 > m_n)
         return -1;
      int v = 0;
      for(int k = 0; k < 4; k++)
        {
         ushort c = StringGetCharacter(m_s, m_i + k);
         int d = -1;
         if(c >= '0' && c <= '9') d = c - '0';
         else if(c >= 'a' && c <= 'f') d = c - 'a' + 10;
         else if(c >= 'A' && c <= 'F') d = c - 'A' + 10;
         if(d < 0)
            return -1;
         v = v * 16 + d;
        }
      m_i += 4;
      return v;
     }
   //--- a string at m_i (on its opening quote); control characters must be escaped
   bool              String(string &out)
     {
      out = "";
      m_i++;
      int run = m_i;  // start of the current run of plain characters
      while(m_i < m_n)
        {
         ushort c = StringGetCharacter(m_s, m_i);
         if(c == '"')
           {
            if(m_i > run)
               out += StringSubstr(m_s, run, m_i - run);  // (a zero length is never passed)
            m_i++;
            return true;
           }
         if(c < 0x20)
           {
            Fail("control character in a string");
            return false;
           }
         if(c != '\\')
           {
            m_i++;
            continue;
           }
         if(m_i > run)
            out += StringSubstr(m_s, run, m_i - run);  // (a zero length is never passed)
         m_i++;
         if(m_i >= m_n)
            break;
         ushort e = StringGetCharacter(m_s, m_i);
         m_i++;
         if(e == '"') out += "\"";
         else if(e == '\\') out += "\\";
         else if(e == '/') out += "/";
         else if(e == 'b') out += ShortToString(8);
         else if(e == 'f') out += ShortToString(12);
         else if(e == 'n') out += "\n";
         else if(e == 'r') out += "\r";
         else if(e == 't') out += "\t";
         else if(e == 'u')
           {
            int u = Hex4();
            if(u < 0)
              {
               Fail("bad \\u escape");
               return false;
              }
            out += ShortToString((ushort)u);  // UTF-16: a surrogate pair is two escapes
           }
         else
           {
            Fail("bad escape");
            return false;
           }
         run = m_i;
        }
      Fail("unterminated string");
      return false;
     }
  };

#endif
