// The MQL5 built-ins that mql5/Include/Mtponte/Json.mqh uses, in C++ (UTF-16 strings,
// dynamic arrays), so the EA's own JSON code compiles with g++ and runs in CI.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

typedef unsigned char uchar;
typedef unsigned short ushort;
#define ulong mql5_ulong
typedef unsigned long long mql5_ulong;  // glibc has its own ulong

struct string : std::u16string {
  string() {}
  string(const std::u16string &s) : std::u16string(s) {}
  string(const char *s) { for (; *s; ++s) push_back((char16_t)(unsigned char)*s); }
  string operator+(const string &o) const { return string(std::u16string(*this) + std::u16string(o)); }
  string operator+(const char *o) const { return *this + string(o); }
  string &operator+=(const string &o) { append(o); return *this; }
  string &operator+=(const char *o) { return *this += string(o); }
  bool operator==(const char *o) const { return *this == string(o); }
  bool operator==(const string &o) const { return std::u16string(*this) == std::u16string(o); }
};
inline string operator+(const char *a, const string &b) { return string(a) + b; }

template <typename T> struct MqlArray : std::vector<T> {};
template <typename T> int ArraySize(const MqlArray<T> &a) { return (int)a.size(); }
template <typename T> int ArrayResize(MqlArray<T> &a, int n) { a.resize(n); return n; }

inline int StringLen(const string &s) { return (int)s.size(); }
inline ushort StringGetCharacter(const string &s, int i) {
  return (i >= 0 && i < (int)s.size()) ? (ushort)s[i] : 0;
}
inline string ShortToString(ushort c) { string s; s.push_back((char16_t)c); return s; }
inline string StringSubstr(const string &s, int start, int len = -1) {
  if (start < 0 || start >= (int)s.size()) return string();
  return string(s.substr(start, len < 0 ? std::u16string::npos : (size_t)len));
}
inline int StringFind(const string &s, const string &sub) {
  size_t p = s.find(sub);
  return p == std::u16string::npos ? -1 : (int)p;
}
inline std::string narrow(const string &s) {  // UTF-8 (the BMP: all the EA writes)
  std::string out;
  for (char16_t c : s) {
    if (c < 0x80) out.push_back((char)c);
    else if (c < 0x800) { out.push_back((char)(0xC0 | (c >> 6))); out.push_back((char)(0x80 | (c & 0x3F))); }
    else { out.push_back((char)(0xE0 | (c >> 12))); out.push_back((char)(0x80 | ((c >> 6) & 0x3F))); out.push_back((char)(0x80 | (c & 0x3F))); }
  }
  return out;
}
inline double StringToDouble(const string &s) { return std::strtod(narrow(s).c_str(), nullptr); }
inline long long StringToInteger(const string &s) {
  std::string n = narrow(s);
  return std::strtoll(n.c_str(), nullptr, n.rfind("0x", 0) == 0 ? 16 : 10);
}
inline string IntegerToString(long long v) { return string(std::to_string(v).c_str()); }
inline string DoubleToString(double v, int digits) {
  char b[64]; std::snprintf(b, sizeof b, "%.*f", digits, v); return string(b);
}
inline string StringFormat(const char *fmt, unsigned long long v) {
  char b[64];
  std::string f(fmt);
  if (f == "%I64u") std::snprintf(b, sizeof b, "%llu", v);
  else std::snprintf(b, sizeof b, fmt, (unsigned)v);
  return string(b);
}

// Json.mqh calls these before it defines them (MQL5 needs no prototypes; C++ does).
bool JsonSkip(const string s, int &i, const int n);
bool JsonEnd(const string s, int i, const int n, string &error);
bool JsonIsNumber(const string lit);
bool JsonString(const string s, int &i, const int n, string &out);
