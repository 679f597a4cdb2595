// webrequest.h: MQL5's WebRequest (the headers form) for the harness, over plain POSIX
// sockets, to 127.0.0.1 only (test-only code: the server under test runs there).
//
//   int WebRequest(method, url, headers, timeout_ms, const char &data[], char &result[],
//                  string &result_headers)
//
// returns the HTTP status, or -1 with GetLastError():
//   4014 ERR_FUNCTION_NOT_ALLOWED       the URL is not in the allowed list
//   5200 ERR_WEBREQUEST_INVALID_ADDRESS not an http://127.0.0.1[:port]/... URL
//   5201 ERR_WEBREQUEST_CONNECT_FAILED  nobody listening
//   5202 ERR_WEBREQUEST_TIMEOUT         no complete answer within timeout_ms
//   5203 ERR_WEBREQUEST_REQUEST_FAILED  the connection broke / the answer is not HTTP
//
// The allowed list (Tools -> Options -> Expert Advisors -> "Allow WebRequest for listed
// URL") is <sandbox>/webrequest.allowed: one URL a line; a request is allowed when its
// URL starts with a listed one (scheme, host and port must match). Not modelled: https
// (TLS), redirects, proxies, other hosts, cookies, the terminal's own headers, the
// terminal refusing WebRequest in the strategy tester or in indicators.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <fstream>

#include "mql5rt.h"

#define ERR_FUNCTION_NOT_ALLOWED 4014
#define ERR_WEBREQUEST_INVALID_ADDRESS 5200
#define ERR_WEBREQUEST_CONNECT_FAILED 5201
#define ERR_WEBREQUEST_TIMEOUT 5202
#define ERR_WEBREQUEST_REQUEST_FAILED 5203

inline bool mql5_web_allowed(const std::string &url) {
  std::ifstream f(mql5_prog().sandbox + "/webrequest.allowed");
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '/')) line.pop_back();
    if (line.empty()) continue;
    if (url.compare(0, line.size(), line) != 0) continue;
    char next = url.size() > line.size() ? url[line.size()] : '/';
    if (next == '/' || next == '?') return true;  // "http://h:1" allows "http://h:1/x", not "http://h:12"
  }
  return false;
}

inline int mql5_web_fail(int err) { mql5_last_error() = err; return -1; }

inline std::string mql5_lower(std::string s) { for (auto &c : s) c = (char)std::tolower((unsigned char)c); return s; }

template <typename C1, typename C2>
int WebRequest(const string &method, const string &url, const string &headers, int timeout, const MqlArray<C1> &data,
               MqlArray<C2> &result, string &result_headers) {
  static_assert(sizeof(C1) == 1 && sizeof(C2) == 1, "char arrays");
  std::string u = narrow(url);
  if (!mql5_web_allowed(u)) return mql5_web_fail(ERR_FUNCTION_NOT_ALLOWED);
  const std::string scheme = "http://";
  if (u.compare(0, scheme.size(), scheme) != 0) return mql5_web_fail(ERR_WEBREQUEST_INVALID_ADDRESS);
  std::string rest = u.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash), path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.find(':');
  std::string host = hostport.substr(0, colon);
  int port = colon == std::string::npos ? 80 : std::atoi(hostport.substr(colon + 1).c_str());
  if ((host != "127.0.0.1" && host != "localhost") || port <= 0 || port > 65535)
    return mql5_web_fail(ERR_WEBREQUEST_INVALID_ADDRESS);
  long long deadline = (long long)GetTickCount64() + (timeout > 0 ? timeout : 5000);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return mql5_web_fail(ERR_WEBREQUEST_CONNECT_FAILED);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, (sockaddr *)&addr, sizeof addr) != 0) { ::close(fd); return mql5_web_fail(ERR_WEBREQUEST_CONNECT_FAILED); }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // the request: the EA's headers as given ("Name: value\r\n" lines), then ours
  std::string hdr = narrow(headers);
  if (!hdr.empty() && hdr.size() >= 2 && hdr.compare(hdr.size() - 2, 2, "\r\n") != 0) hdr += "\r\n";
  std::string req = narrow(method) + " " + path + " HTTP/1.1\r\nHost: " + hostport + "\r\n" + hdr;
  if (mql5_lower(hdr).find("user-agent:") == std::string::npos) req += "User-Agent: MetaTrader 5 Terminal/5.4000 (harness)\r\n";
  req += "Connection: close\r\nContent-Length: " + std::to_string(data.size()) + "\r\n\r\n";
  req.append((const char *)data.data(), data.size());
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) { ::close(fd); return mql5_web_fail(ERR_WEBREQUEST_REQUEST_FAILED); }
    sent += (size_t)n;
  }
  // the answer: read until the server closes (we asked it to) or the body is complete
  std::string in;
  size_t head_end = std::string::npos;
  long long want = -1;  // total bytes when Content-Length is known
  bool chunked = false;
  char buf[65536];
  while (true) {
    if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
      std::string h = mql5_lower(in.substr(0, head_end));
      size_t cl = h.find("\r\ncontent-length:");
      if (cl != std::string::npos) want = (long long)head_end + 4 + std::atoll(h.c_str() + cl + 17);
      chunked = h.find("\r\ntransfer-encoding: chunked") != std::string::npos;
      int status = std::atoi(in.c_str() + 9);
      if (want < 0 && !chunked && (status == 204 || status == 304 || narrow(method) == "HEAD")) want = (long long)head_end + 4;
    }
    if (want >= 0 && (long long)in.size() >= want) break;
    long long left = deadline - (long long)GetTickCount64();
    if (left <= 0) { ::close(fd); return mql5_web_fail(ERR_WEBREQUEST_TIMEOUT); }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, (int)std::min(left, 100LL));
    if (r < 0) { ::close(fd); return mql5_web_fail(ERR_WEBREQUEST_REQUEST_FAILED); }
    if (r == 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) { ::close(fd); return mql5_web_fail(ERR_WEBREQUEST_REQUEST_FAILED); }
    if (n == 0) break;  // closed
    in.append(buf, (size_t)n);
  }
  ::close(fd);
  // the server handled the request, its answer never arrives (`fault lose_answer:...`)
  if (mql5_prog().lose_answer && mql5_prog().lose_answer(u)) return mql5_web_fail(ERR_WEBREQUEST_TIMEOUT);
  if (head_end == std::string::npos || in.compare(0, 5, "HTTP/") != 0) return mql5_web_fail(ERR_WEBREQUEST_REQUEST_FAILED);
  if (want >= 0 && (long long)in.size() < want) return mql5_web_fail(ERR_WEBREQUEST_REQUEST_FAILED);
  int status = std::atoi(in.c_str() + 9);
  std::string body = in.substr(head_end + 4, want >= 0 ? (size_t)(want - (long long)head_end - 4) : std::string::npos);
  if (chunked) {
    std::string out;
    size_t i = 0;
    while (i < body.size()) {
      size_t eol = body.find("\r\n", i);
      if (eol == std::string::npos) return mql5_web_fail(ERR_WEBREQUEST_REQUEST_FAILED);
      size_t len = std::strtoul(body.substr(i, eol - i).c_str(), nullptr, 16);
      if (len == 0) break;
      if (eol + 2 + len > body.size()) return mql5_web_fail(ERR_WEBREQUEST_REQUEST_FAILED);
      out += body.substr(eol + 2, len);
      i = eol + 2 + len + 2;
    }
    body = out;
  }
  // status line excluded, one "Name: value\r\n" per header, as the terminal gives them
  std::string rh = in.substr(0, head_end);
  size_t first = rh.find("\r\n");
  result_headers = widen_utf8(first == std::string::npos ? std::string() : rh.substr(first + 2) + "\r\n");
  result.resize(body.size());
  std::memcpy(result.data(), body.data(), body.size());
  return status;
}

// the char-array forms of the string <-> bytes conversions (MQL5 takes char[] and uchar[])
inline int StringToCharArray(const string &s, MqlArray<char> &out, int start = 0, int count = -1, unsigned cp = CP_ACP) {
  MqlArray<uchar> u;
  int n = StringToCharArray(s, u, 0, count, cp);
  if ((int)out.size() < start + n) out.resize(start + n);
  for (int i = 0; i < n; i++) out[start + i] = (char)u[i];
  return n;
}
inline string CharArrayToString(const MqlArray<char> &a, int start = 0, int count = -1, unsigned cp = CP_ACP) {
  MqlArray<uchar> u(a.begin(), a.end());
  return CharArrayToString(u, start, count, cp);
}
