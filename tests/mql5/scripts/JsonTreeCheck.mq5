//+------------------------------------------------------------------+
//| JsonTreeCheck.mq5 — test script: reads MQL5\Files\in.txt (one    |
//| JSON text a line, UTF-8), parses each with CJsonTree and writes  |
//| MQL5\Files\out.txt: "ok\t<the tree written back as JSON>" or     |
//| "error\t<message>" per line.                                     |
//+------------------------------------------------------------------+
#property script_show_inputs
#include <Mtponte\JsonTree.mqh>

string Esc(const string v)
  {
   string out = "";
   for(int k = 0; k < StringLen(v); k++)
     {
      ushort c = StringGetCharacter(v, k);
      if(c == '"') out += "\\\"";
      else if(c == '\\') out += "\\\\";
      else if(c < 0x20 || c > 0x7e) out += StringFormat("\\u%04x", c);
      else out += ShortToString(c);
     }
   return out;
  }

string Dump(CJsonTree &j, const int n)
  {
   int t = j.Type(n);
   if(t == JT_NULL) return "null";
   if(t == JT_BOOL || t == JT_NUMBER) return j.Str(n);
   if(t == JT_STRING) return "\"" + Esc(j.Str(n)) + "\"";
   string out = t == JT_ARRAY ? "[" : "{";
   for(int k = 0; k < j.Count(n); k++)
     {
      int c = j.At(n, k);
      if(t == JT_OBJECT)
        {
         c = -1;
         int m = 0;
         for(int x = j.nodes[n].first; x >= 0; x = j.nodes[x].next)
           {
            if(m == k) c = x;
            m++;
           }
        }
      if(k > 0) out += ",";
      if(t == JT_OBJECT) out += "\"" + Esc(j.nodes[c].key) + "\":";
      out += Dump(j, c);
     }
   return out + (t == JT_ARRAY ? "]" : "}");
  }

void OnStart()
  {
   int h = FileOpen("in.txt", FILE_READ | FILE_BIN);
   uchar b[];
   int n = (int)FileSize(h);
   FileReadArray(h, b, 0, n);
   FileClose(h);
   string lines[];
   int count = StringSplit(CharArrayToString(b, 0, n, CP_UTF8), '\n', lines);
   string out = "";
   for(int i = 0; i < count; i++)
     {
      if(lines[i] == "") continue;
      CJsonTree j;
      if(j.Parse(lines[i])) out += "ok\t" + Dump(j, 0) + "\n";
      else out += "error\t" + j.error + "\n";
     }
   uchar o[];
   int len = StringToCharArray(out, o, 0, WHOLE_ARRAY, CP_UTF8) - 1;
   h = FileOpen("out.txt", FILE_WRITE | FILE_BIN);
   FileWriteArray(h, o, 0, len);
   FileClose(h);
  }
