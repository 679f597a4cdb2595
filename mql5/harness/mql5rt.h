// mql5rt.h: the MQL5 built-ins the bridge EA calls, in C++17, so the EA's own source
// (after the small mechanical rewrite in tests/mql5/_harness.py) compiles with g++ and
// runs as a Linux process. Strings are UTF-16 like MQL5's; dynamic arrays are vectors
// with MQL5's out-of-range abort; files live in a sandbox folder (MQL5/Files and
// Common/Files); the clocks are real (TimeGMT = wall clock, TimeTradeServer = TimeGMT +
// a configurable server offset). The trading functions are in terminal.h.
#pragma once
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

typedef unsigned char uchar;
typedef unsigned short ushort;
#define ulong mql5_ulong
typedef unsigned long long mql5_ulong;  // glibc has its own ulong
typedef long long datetime;
typedef int color;

// ------------------------------------------------------------------ string (UTF-16)
struct string : std::u16string {
  string() {}
  string(const std::u16string &s) : std::u16string(s) {}
  string(const char *s) {  // UTF-8 literal (the EA's sources are UTF-8)
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
      unsigned c = *p++;
      if (c >= 0xE0 && p[0] && p[1]) { c = ((c & 0x0F) << 12) | ((p[0] & 0x3F) << 6) | (p[1] & 0x3F); p += 2; }
      else if (c >= 0xC0 && p[0]) { c = ((c & 0x1F) << 6) | (p[0] & 0x3F); p += 1; }
      push_back((char16_t)c);
    }
  }
  string &operator+=(const string &o) { append(o); return *this; }
  string &operator+=(const char *o) { return *this += string(o); }
};
inline string operator+(const string &a, const string &b) { return string(std::u16string(a) + std::u16string(b)); }
inline string operator+(const string &a, const char *b) { return a + string(b); }
inline string operator+(const char *a, const string &b) { return string(a) + b; }
inline bool operator==(const string &a, const string &b) { return (const std::u16string &)a == (const std::u16string &)b; }
inline bool operator!=(const string &a, const string &b) { return !(a == b); }
inline bool operator<(const string &a, const string &b) { return (const std::u16string &)a < (const std::u16string &)b; }
inline bool operator>(const string &a, const string &b) { return b < a; }
inline bool operator<=(const string &a, const string &b) { return !(b < a); }
inline bool operator>=(const string &a, const string &b) { return !(a < b); }
inline bool operator==(const string &a, const char *b) { return a == string(b); }
inline bool operator!=(const string &a, const char *b) { return !(a == string(b)); }
inline bool operator<(const string &a, const char *b) { return a < string(b); }
inline bool operator>(const string &a, const char *b) { return string(b) < a; }

inline std::string narrow(const string &s) {  // UTF-16 -> UTF-8 (surrogate pairs joined)
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    unsigned c = s[i];
    if (c >= 0xD800 && c < 0xDC00 && i + 1 < s.size() && s[i + 1] >= 0xDC00 && s[i + 1] < 0xE000) {
      c = 0x10000 + ((c - 0xD800) << 10) + (s[i + 1] - 0xDC00);
      i++;
    }
    if (c < 0x80) out.push_back((char)c);
    else if (c < 0x800) { out.push_back((char)(0xC0 | (c >> 6))); out.push_back((char)(0x80 | (c & 0x3F))); }
    else if (c < 0x10000) {
      out.push_back((char)(0xE0 | (c >> 12))); out.push_back((char)(0x80 | ((c >> 6) & 0x3F)));
      out.push_back((char)(0x80 | (c & 0x3F)));
    } else {
      out.push_back((char)(0xF0 | (c >> 18))); out.push_back((char)(0x80 | ((c >> 12) & 0x3F)));
      out.push_back((char)(0x80 | ((c >> 6) & 0x3F))); out.push_back((char)(0x80 | (c & 0x3F)));
    }
  }
  return out;
}
inline string widen_utf8(const std::string &b) {  // UTF-8 -> UTF-16 (invalid bytes -> U+FFFD)
  string out;
  size_t i = 0, n = b.size();
  while (i < n) {
    unsigned c = (unsigned char)b[i];
    int extra = c < 0x80 ? 0 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
    if (extra < 0 || i + extra >= n) { out.push_back(0xFFFD); i++; continue; }
    unsigned cp = extra == 0 ? c : extra == 1 ? (c & 0x1F) : extra == 2 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k <= extra; k++) cp = (cp << 6) | ((unsigned char)b[i + k] & 0x3F);
    i += extra + 1;
    if (cp >= 0x10000) { cp -= 0x10000; out.push_back((char16_t)(0xD800 + (cp >> 10))); out.push_back((char16_t)(0xDC00 + (cp & 0x3FF))); }
    else out.push_back((char16_t)cp);
  }
  return out;
}

// ------------------------------------------------------------------ errors, Print
inline int &mql5_last_error() { static int e = 0; return e; }
#define _LastError (mql5_last_error())
inline int GetLastError() { return mql5_last_error(); }
inline void ResetLastError() { mql5_last_error() = 0; }
inline void SetUserError(ushort e) { mql5_last_error() = 65536 + e; }

// ------------------------------------------------------------------ dynamic arrays
template <typename T> struct MqlArray : std::vector<T> {
  using std::vector<T>::vector;
  MqlArray() {}
  MqlArray(std::initializer_list<T> l) : std::vector<T>(l) {}
  T &operator[](long long i) {
    if (i < 0 || i >= (long long)this->size()) { std::fprintf(stderr, "array out of range (%lld of %zu)\n", i, this->size()); std::abort(); }
    return std::vector<T>::operator[]((size_t)i);
  }
  const T &operator[](long long i) const {
    if (i < 0 || i >= (long long)this->size()) { std::fprintf(stderr, "array out of range (%lld of %zu)\n", i, this->size()); std::abort(); }
    return std::vector<T>::operator[]((size_t)i);
  }
};
template <typename T> int ArraySize(const MqlArray<T> &a) { return (int)a.size(); }
template <typename T> int ArrayResize(MqlArray<T> &a, int n, int reserve = 0) { (void)reserve; a.resize(n < 0 ? 0 : n); return n; }
template <typename T> void ArrayFree(MqlArray<T> &a) { a.clear(); }
template <typename T> bool ArraySort(MqlArray<T> &a) { std::sort(a.begin(), a.end()); return true; }
template <typename T> void ZeroMemory(T &x) { x = T(); }
#define WHOLE_ARRAY (-1)

// ------------------------------------------------------------------ strings
#define CP_ACP 0
#define CP_UTF8 65001
inline int StringLen(const string &s) { return (int)s.size(); }
inline ushort StringGetCharacter(const string &s, int i) { return (i >= 0 && i < (int)s.size()) ? (ushort)s[i] : 0; }
inline string ShortToString(ushort c) { string s; s.push_back((char16_t)c); return s; }
inline string StringSubstr(const string &s, int start, int len = -1) {
  if (start < 0 || start >= (int)s.size()) return string();
  return string(s.substr(start, len < 0 ? std::u16string::npos : (size_t)len));
}
inline int StringFind(const string &s, const string &sub, int start = 0) {
  if (start < 0 || start > (int)s.size()) return -1;
  size_t p = s.find(sub, start);
  return p == std::u16string::npos ? -1 : (int)p;
}
inline int StringReplace(string &s, const string &find, const string &rep) {
  if (find.empty()) return -1;
  int n = 0;
  size_t p = 0;
  while ((p = s.find(find, p)) != std::u16string::npos) { s.replace(p, find.size(), rep); p += rep.size(); n++; }
  return n;
}
inline int StringSplit(const string &s, ushort sep, MqlArray<string> &out) {
  out.clear();
  if (s.empty()) return 0;
  size_t start = 0;
  while (true) {
    size_t p = s.find((char16_t)sep, start);
    if (p == std::u16string::npos) { out.push_back(string(s.substr(start))); break; }
    out.push_back(string(s.substr(start, p - start)));
    start = p + 1;
  }
  return (int)out.size();
}
inline string StringTrim(const string &s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r' || s[a] == '\n')) a++;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r' || s[b - 1] == '\n')) b--;
  return string(s.substr(a, b - a));
}
// MQL5's in-place trims: the count of characters removed
inline int StringTrimLeft(string &s) {
  size_t a = 0;
  while (a < s.size() && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r' || s[a] == '\n')) a++;
  s.erase(0, a);
  return (int)a;
}
inline int StringTrimRight(string &s) {
  size_t b = s.size();
  while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r' || s[b - 1] == '\n')) b--;
  int n = (int)(s.size() - b);
  s.erase(b);
  return n;
}
inline double StringToDouble(const string &s) { return std::strtod(narrow(s).c_str(), nullptr); }
inline long long StringToInteger(const string &s) {
  std::string n = narrow(s);
  return std::strtoll(n.c_str(), nullptr, n.rfind("0x", 0) == 0 ? 16 : 10);
}
inline string IntegerToString(long long v, int len = 0, ushort fill = ' ') {
  std::string s = std::to_string(v);
  while ((int)s.size() < len) s.insert(s.begin(), (char)fill);
  return string(s.c_str());
}
inline string DoubleToString(double v, int digits = 8) { char b[512]; std::snprintf(b, sizeof b, "%.*f", digits, v); return string(b); }
inline double NormalizeDouble(double v, int digits) { double p = std::pow(10.0, digits); return std::round(v * p) / p; }
// number + string / string + number (MQL5 converts implicitly)
inline string mql5_num(long long v) { return IntegerToString(v); }
inline string mql5_num(double v) { return DoubleToString(v, 8); }
template <typename N, typename = std::enable_if_t<std::is_arithmetic<N>::value>>
string operator+(const string &a, N n) { return a + mql5_num((std::conditional_t<std::is_floating_point<N>::value, double, long long>)n); }
template <typename N, typename = std::enable_if_t<std::is_arithmetic<N>::value>>
string operator+(N n, const string &a) { return mql5_num((std::conditional_t<std::is_floating_point<N>::value, double, long long>)n) + a; }

// printf-style formatting with MQL5 arguments (strings become UTF-8, %I64 -> %ll)
inline const char *mql5_c(std::vector<std::string> &keep, const string &s) { keep.push_back(narrow(s)); return keep.back().c_str(); }
inline const char *mql5_c(std::vector<std::string> &keep, const char *s) { (void)keep; return s; }
template <typename T, typename = std::enable_if_t<std::is_arithmetic<T>::value || std::is_enum<T>::value>>
T mql5_c(std::vector<std::string> &, T v) { return v; }
template <typename... A> string StringFormat(const string &fmt, A... a) {
  std::string f = narrow(fmt);
  for (size_t p; (p = f.find("I64")) != std::string::npos;) f.replace(p, 3, "ll");
  // widen %d / %i / %u / %x to 64 bits: MQL5 passes int or long alike
  std::string g;
  for (size_t i = 0; i < f.size(); i++) {
    g.push_back(f[i]);
    if (f[i] != '%') continue;
    size_t j = i + 1;
    if (j < f.size() && f[j] == '%') { g.push_back('%'); i = j; continue; }
    while (j < f.size() && std::strchr("-+ #0123456789.", f[j])) g.push_back(f[j++]);
    bool has_len = j < f.size() && (f[j] == 'l' || f[j] == 'h');
    while (j < f.size() && (f[j] == 'l' || f[j] == 'h')) g.push_back(f[j++]);
    if (j < f.size() && std::strchr("diuxX", f[j]) && !has_len) g += "ll";
    if (j < f.size()) g.push_back(f[j]);
    i = j;
  }
  std::vector<std::string> keep;
  keep.reserve(sizeof...(A) + 1);
  auto conv = [&](auto v) {
    using V = decltype(mql5_c(keep, v));
    if constexpr (std::is_integral<V>::value || std::is_enum<V>::value) return (long long)mql5_c(keep, v);
    else return mql5_c(keep, v);
  };
  char buf[8192];
  int n = std::snprintf(buf, sizeof buf, g.c_str(), conv(a)...);
  (void)n;
  return widen_utf8(buf);
}
inline void mql5_print_line(const string &s) { std::fprintf(stderr, "[ea] %s\n", narrow(s).c_str()); std::fflush(stderr); }
inline string mql5_to_str(const string &s) { return s; }
inline string mql5_to_str(const char *s) { return string(s); }
inline string mql5_to_str(bool b) { return b ? "true" : "false"; }
template <typename T, typename = std::enable_if_t<std::is_arithmetic<T>::value || std::is_enum<T>::value>>
string mql5_to_str(T v) {
  if constexpr (std::is_floating_point<T>::value) return DoubleToString(v, 8);
  else return IntegerToString((long long)v);
}
template <typename... A> void Print(A... a) { string s; ((s += mql5_to_str(a)), ...); mql5_print_line(s); }
template <typename... A> void PrintFormat(const string &fmt, A... a) { mql5_print_line(StringFormat(fmt, a...)); }

inline int StringToCharArray(const string &s, MqlArray<uchar> &out, int start = 0, int count = -1, unsigned cp = CP_ACP) {
  std::string bytes;
  if (cp == CP_UTF8) bytes = narrow(s);
  else for (char16_t c : s) bytes.push_back((char)(c < 256 ? c : '?'));
  if (count >= 0 && count < (int)bytes.size()) bytes.resize(count);
  else bytes.push_back('\0');  // WHOLE_ARRAY: the terminating zero is copied too
  if ((int)out.size() < start + (int)bytes.size()) out.resize(start + bytes.size());
  for (size_t i = 0; i < bytes.size(); i++) out[start + (long long)i] = (uchar)bytes[i];
  return (int)bytes.size();
}
inline string CharArrayToString(const MqlArray<uchar> &a, int start = 0, int count = -1, unsigned cp = CP_ACP) {
  std::string b;
  int end = count < 0 ? (int)a.size() : std::min((int)a.size(), start + count);
  for (int i = start; i < end; i++) { if (a[i] == 0) break; b.push_back((char)a[i]); }
  if (cp == CP_UTF8) return widen_utf8(b);
  string out;
  for (unsigned char c : b) out.push_back(c);
  return out;
}

// ------------------------------------------------------------------ math
template <typename T> T MathAbs(T v) { return v < 0 ? -v : v; }
inline double MathRound(double v) { return std::round(v); }
inline double MathFloor(double v) { return std::floor(v); }
inline double MathCeil(double v) { return std::ceil(v); }
template <typename A, typename B> auto MathMax(A a, B b) { return a > b ? a : b; }
template <typename A, typename B> auto MathMin(A a, B b) { return a < b ? a : b; }
inline double MathPow(double a, double b) { return std::pow(a, b); }

// ------------------------------------------------------------------ clocks
struct mql5_clock {
  long long server_offset_s = 0;  // TimeTradeServer() - TimeGMT()
  long long gmt_skew_ms = 0;      // the test may move the wall clock
};
inline mql5_clock &mql5_clk() { static mql5_clock c; return c; }
inline long long mql5_wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() + mql5_clk().gmt_skew_ms;
}
inline datetime TimeGMT() { return mql5_wall_ms() / 1000; }
inline datetime TimeTradeServer() { return TimeGMT() + mql5_clk().server_offset_s; }
inline datetime TimeCurrent() { return TimeTradeServer(); }  // last known server time (quotes: now)
inline datetime TimeLocal() { return TimeGMT(); }
inline ulong GetTickCount64() {
  using namespace std::chrono;
  return (ulong)duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
inline uint GetTickCount() { return (uint)GetTickCount64(); }
inline ulong GetMicrosecondCount() {
  using namespace std::chrono;
  static auto t0 = steady_clock::now();
  return (ulong)duration_cast<microseconds>(steady_clock::now() - t0).count();
}
inline void Sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
struct MqlDateTime { int year, mon, day, hour, min, sec, day_of_week, day_of_year; };
inline bool TimeToStruct(datetime t, MqlDateTime &s) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  s = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_wday, tm.tm_yday};
  return true;
}
inline datetime StructToTime(MqlDateTime &s) {
  struct tm tm = {};
  tm.tm_year = s.year - 1900; tm.tm_mon = s.mon - 1; tm.tm_mday = s.day;
  tm.tm_hour = s.hour; tm.tm_min = s.min; tm.tm_sec = s.sec;
  return (datetime)timegm(&tm);
}
#define TIME_DATE 1
#define TIME_MINUTES 2
#define TIME_SECONDS 4
inline string TimeToString(datetime t, int flags = TIME_DATE | TIME_MINUTES) {
  MqlDateTime s;
  TimeToStruct(t, s);
  char b[64] = "";
  std::string out;
  if (flags & TIME_DATE) { std::snprintf(b, sizeof b, "%04d.%02d.%02d", s.year, s.mon, s.day); out += b; }
  if (flags & (TIME_MINUTES | TIME_SECONDS)) {
    if (!out.empty()) out += " ";
    if (flags & TIME_SECONDS) std::snprintf(b, sizeof b, "%02d:%02d:%02d", s.hour, s.min, s.sec);
    else std::snprintf(b, sizeof b, "%02d:%02d", s.hour, s.min);
    out += b;
  }
  return string(out.c_str());
}

// ------------------------------------------------------------------ program events
struct mql5_program {
  int timer_ms = 0;
  bool stop = false;
  std::string sandbox;
  void (*on_move)(const std::string &src, const std::string &dst) = nullptr;  // crash points
  bool (*fail_open)(const std::string &path) = nullptr;                       // injected open failures
  bool (*fail_move)(const std::string &dst) = nullptr;                        // injected FileMove failures
  bool (*lose_answer)(const std::string &url) = nullptr;                      // injected lost HTTP answers
};
inline mql5_program &mql5_prog() { static mql5_program p; return p; }
inline bool EventSetMillisecondTimer(int ms) { if (ms <= 0) return false; mql5_prog().timer_ms = ms; return true; }
inline bool EventSetTimer(int s) { return EventSetMillisecondTimer(s * 1000); }
inline void EventKillTimer() { mql5_prog().timer_ms = 0; }
inline void ExpertRemove() { mql5_prog().stop = true; }
inline bool IsStopped() { return mql5_prog().stop; }
#define INIT_SUCCEEDED 0
#define INIT_FAILED 1
#define INIT_PARAMETERS_INCORRECT 2
#define REASON_PROGRAM 0
#define REASON_REMOVE 1
#define REASON_CHARTCHANGE 3

// ------------------------------------------------------------------ files (sandbox)
#define INVALID_HANDLE (-1)
#define FILE_READ 1
#define FILE_WRITE 2
#define FILE_BIN 4
#define FILE_CSV 8
#define FILE_TXT 16
#define FILE_ANSI 32
#define FILE_UNICODE 64
#define FILE_SHARE_READ 128
#define FILE_SHARE_WRITE 256
#define FILE_REWRITE 512
#define FILE_COMMON 4096
#define ERR_CANNOT_OPEN_FILE 5004
#define ERR_FILE_NOT_EXIST 5019
#define ERR_FILE_CANNOT_REWRITE 5020

inline std::string mql5_path(const string &p, int flags) {
  std::string s = narrow(p);
  std::replace(s.begin(), s.end(), '\\', '/');
  return mql5_prog().sandbox + ((flags & FILE_COMMON) ? "/Common/Files/" : "/MQL5/Files/") + s;
}
inline void mql5_mkdirs(const std::string &dir) {
  std::string cur;
  for (size_t i = 0; i <= dir.size(); i++) {
    if (i == dir.size() || dir[i] == '/') { if (!cur.empty()) ::mkdir(cur.c_str(), 0777); }
    if (i < dir.size()) cur.push_back(dir[i]);
  }
}
inline bool FolderCreate(const string &p, int flags = 0) { mql5_mkdirs(mql5_path(p, flags)); return true; }
struct mql5_file { FILE *f = nullptr; int flags = 0; };
inline std::map<int, mql5_file> &mql5_files() { static std::map<int, mql5_file> m; return m; }
inline int FileOpen(const string &p, int flags, short delim = '\t', uint codepage = CP_ACP) {
  (void)delim; (void)codepage;
  std::string path = mql5_path(p, flags);
  if (mql5_prog().fail_open && mql5_prog().fail_open(path)) { mql5_last_error() = ERR_CANNOT_OPEN_FILE; return INVALID_HANDLE; }
  FILE *f = nullptr;
  bool rd = flags & FILE_READ, wr = flags & FILE_WRITE;
  if (wr) {
    // Windows share modes, as MT5 opens files: a file open for writing without
    // FILE_SHARE_WRITE cannot be opened for writing again until it is closed (flock
    // between handles and processes; taken before truncating)
    int fd = ::open(path.c_str(), (rd ? O_RDWR : O_WRONLY) | O_CREAT, 0666);
    if (fd < 0) { mql5_last_error() = ERR_CANNOT_OPEN_FILE; return INVALID_HANDLE; }
    if (::flock(fd, ((flags & FILE_SHARE_WRITE) ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
      ::close(fd);
      mql5_last_error() = ERR_CANNOT_OPEN_FILE;
      return INVALID_HANDLE;
    }
    if (!rd && ::ftruncate(fd, 0) != 0) { ::close(fd); return INVALID_HANDLE; }
    f = ::fdopen(fd, rd ? "r+b" : "wb");
  } else f = std::fopen(path.c_str(), "rb");
  if (!f) { mql5_last_error() = ERR_CANNOT_OPEN_FILE; return INVALID_HANDLE; }
  static int next = 1;
  int h = next++;
  mql5_files()[h] = {f, flags};
  return h;
}
inline FILE *mql5_fh(int h) { auto it = mql5_files().find(h); return it == mql5_files().end() ? nullptr : it->second.f; }
inline void FileClose(int h) { FILE *f = mql5_fh(h); if (f) { std::fclose(f); mql5_files().erase(h); } }
inline void FileFlush(int h) { FILE *f = mql5_fh(h); if (f) std::fflush(f); }
inline ulong FileSize(int h) {
  FILE *f = mql5_fh(h);
  if (!f) return 0;
  long pos = std::ftell(f);
  std::fseek(f, 0, SEEK_END);
  long n = std::ftell(f);
  std::fseek(f, pos, SEEK_SET);
  return (ulong)n;
}
inline bool FileSeek(int h, long long off, int origin) { FILE *f = mql5_fh(h); return f && std::fseek(f, (long)off, origin) == 0; }
inline ulong FileTell(int h) { FILE *f = mql5_fh(h); return f ? (ulong)std::ftell(f) : 0; }
inline uint FileReadArray(int h, MqlArray<uchar> &a, int start = 0, int count = WHOLE_ARRAY) {
  FILE *f = mql5_fh(h);
  if (!f) return 0;
  if (count < 0) count = (int)(FileSize(h) - FileTell(h));
  if ((int)a.size() < start + count) a.resize(start + count);
  size_t got = count > 0 ? std::fread(a.data() + start, 1, (size_t)count, f) : 0;
  return (uint)got;
}
inline uint FileWriteArray(int h, const MqlArray<uchar> &a, int start = 0, int count = WHOLE_ARRAY) {
  FILE *f = mql5_fh(h);
  if (!f) return 0;
  if (count < 0) count = (int)a.size() - start;
  if (count <= 0) return 0;
  return (uint)std::fwrite(a.data() + start, 1, (size_t)count, f);
}
inline bool FileIsExist(const string &p, int flags = 0) {
  struct stat st;
  std::string path = mql5_path(p, flags);
  if (::stat(path.c_str(), &st) != 0) { mql5_last_error() = ERR_FILE_NOT_EXIST; return false; }
  return S_ISREG(st.st_mode);
}
inline bool FileDelete(const string &p, int flags = 0) { return ::unlink(mql5_path(p, flags).c_str()) == 0; }
inline bool FileMove(const string &src, int common_flag, const string &dst, int mode_flags) {
  std::string s = mql5_path(src, common_flag), d = mql5_path(dst, mode_flags);
  struct stat st;
  if (::stat(s.c_str(), &st) != 0) { mql5_last_error() = ERR_FILE_NOT_EXIST; return false; }
  if (mql5_prog().fail_move && mql5_prog().fail_move(d)) { mql5_last_error() = ERR_CANNOT_OPEN_FILE; return false; }
  if (mql5_prog().on_move) mql5_prog().on_move(s, d);
  if (!(mode_flags & FILE_REWRITE) && ::stat(d.c_str(), &st) == 0) { mql5_last_error() = ERR_FILE_CANNOT_REWRITE; return false; }
  size_t slash = d.rfind('/');
  if (slash != std::string::npos) mql5_mkdirs(d.substr(0, slash));
  return std::rename(s.c_str(), d.c_str()) == 0;
}
struct mql5_find { std::vector<std::string> names; size_t i = 0; };
inline std::map<long long, mql5_find> &mql5_finds() { static std::map<long long, mql5_find> m; return m; }
inline long long FileFindFirst(const string &filter, string &name, int flags = 0) {
  std::string full = mql5_path(filter, flags);
  size_t slash = full.rfind('/');
  std::string dir = full.substr(0, slash), pat = full.substr(slash + 1);
  DIR *d = ::opendir(dir.c_str());
  if (!d) return INVALID_HANDLE;
  mql5_find f;
  while (struct dirent *e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (::fnmatch(pat.c_str(), n.c_str(), 0) != 0) continue;
    struct stat st;
    if (::stat((dir + "/" + n).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) n += "\\";
    f.names.push_back(n);
  }
  ::closedir(d);
  if (f.names.empty()) return INVALID_HANDLE;
  static long long next = 1;
  long long h = next++;
  name = widen_utf8(f.names[0]);
  f.i = 1;
  mql5_finds()[h] = f;
  return h;
}
inline bool FileFindNext(long long h, string &name) {
  auto it = mql5_finds().find(h);
  if (it == mql5_finds().end() || it->second.i >= it->second.names.size()) return false;
  name = widen_utf8(it->second.names[it->second.i++]);
  return true;
}
inline void FileFindClose(long long h) { mql5_finds().erase(h); }

// ------------------------------------------------------------------ inputs
// `input int TimerMs = 10;` becomes `int TimerMs = 10; MQL5_INPUT(TimerMs)`: the harness
// sets inputs from its config file (Name=Value lines) before OnInit, as the terminal does.
#include <functional>
inline std::map<std::string, std::function<bool(const std::string &)>> &mql5_inputs() {
  static std::map<std::string, std::function<bool(const std::string &)>> m;
  return m;
}
inline bool mql5_set(string &x, const std::string &v) { x = widen_utf8(v); return true; }
inline bool mql5_set(bool &x, const std::string &v) {
  if (v == "true" || v == "1") x = true; else if (v == "false" || v == "0") x = false; else return false;
  return true;
}
inline bool mql5_set(double &x, const std::string &v) { char *e; x = std::strtod(v.c_str(), &e); return *e == 0 && !v.empty(); }
template <typename T, typename = std::enable_if_t<std::is_integral<T>::value || std::is_enum<T>::value>>
bool mql5_set(T &x, const std::string &v) { char *e; long long n = std::strtoll(v.c_str(), &e, 10); x = (T)n; return *e == 0 && !v.empty(); }
template <typename T> struct mql5_input_binder {
  mql5_input_binder(const char *name, T *p) { mql5_inputs()[name] = [p](const std::string &v) { return mql5_set(*p, v); }; }
};
#define MQL5_INPUT(n) static mql5_input_binder<decltype(n)> mql5_input_##n(#n, &n);
